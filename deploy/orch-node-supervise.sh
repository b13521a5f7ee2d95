#!/bin/sh
# orch agent-node without systemd (containers, hosts whose PID 1 is not systemd): a
# plain supervisor that `orch node deploy` starts detached (setsid) and `orch node
# remove` stops by the PID in $ORCH_HOME/node.pid. Like the systemd unit it restarts a
# node that fails (after 2 s) and stops when the node exits 0; SIGTERM to the supervisor
# is passed on to the node. It does not start at boot: use the systemd unit for that.
# Usage: orch-node-supervise.sh ORCH_HOME NODE_BINARY ORCH_JS
set -u
home=$1 node=$2 orch=$3
export ORCH_HOME="$home"
echo $$ > "$home/node.pid"
child=
stop() {
  trap - TERM INT
  if [ -n "$child" ]; then kill -TERM "$child" 2>/dev/null; wait "$child"; fi
  rm -f "$home/node.pid"
  exit 0
}
trap stop TERM INT
while :; do
  "$node" "$orch" node start &
  child=$!
  wait "$child"
  code=$?
  child=
  if [ "$code" -eq 0 ]; then rm -f "$home/node.pid"; exit 0; fi
  echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) orch-node-supervise: orch node start exited $code; restarting in 2 s" >&2
  sleep 2
done
