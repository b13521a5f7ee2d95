// Placement, as a pure function: node snapshots + a task's needs -> a node or none.
// Feasibility first (up, has the agent, has the project's required tools, has a
// free slot), then ranking (most free slots, then fewest running, then the one
// placed on longest ago, then name), so work spreads over the fleet even when
// tasks arrive one at a time.

export interface NodeSnapshot {
  name: string;
  /** Only `up` nodes take work; the others say why not in the wait reason. */
  state: 'up' | 'draining' | 'stopping' | 'lost' | 'registering' | 'off the bus';
  slots: number;
  /** Attempts the coordinator has placed on the node and not yet seen finish. */
  inFlight: number;
  agents: string[];
  tools: string[];
  /** Sequence number of the last placement on it (0 = never): ties go to the longest idle. */
  lastPlacedAt?: number;
}

export interface Requirements {
  agent: string;
  requiredTools: string[];
}

export type Placement = { node: string } | { node: undefined; why: string };

export function place(nodes: NodeSnapshot[], req: Requirements): Placement {
  if (nodes.length === 0) return { node: undefined, why: 'no agent-node is registered' };
  const reasons: string[] = [];
  const feasible = nodes.filter((n) => {
    if (n.state !== 'up') { reasons.push(`${n.name}: ${n.state}`); return false; }
    if (!n.agents.includes(req.agent)) { reasons.push(`${n.name}: no ${req.agent}`); return false; }
    const missing = req.requiredTools.filter((t) => !n.tools.includes(t));
    if (missing.length) { reasons.push(`${n.name}: missing ${missing.join(', ')}`); return false; }
    if (n.inFlight >= n.slots) { reasons.push(`${n.name}: full (${n.inFlight}/${n.slots})`); return false; }
    return true;
  });
  if (feasible.length === 0) return { node: undefined, why: reasons.join('; ') };
  feasible.sort((a, b) =>
    (b.slots - b.inFlight) - (a.slots - a.inFlight) || a.inFlight - b.inFlight
    || (a.lastPlacedAt ?? 0) - (b.lastPlacedAt ?? 0) || a.name.localeCompare(b.name));
  return { node: feasible[0].name };
}
