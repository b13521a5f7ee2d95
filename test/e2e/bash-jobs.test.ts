// Bash jobs in a real fleet: nats-server, `orch serve` and two `orch node start` processes.
// A job's command runs on a node in a checkout of the project's base branch, with the
// minimal environment, under its timeout; the run keeps its node, exit code and redacted
// output (`orch job runs`); a job never overlaps itself; a node that cannot run it (its
// checkout fails, or it is gone before the coordinator knows) gives way to the next node.
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fleet } from '../harness/fleet.js';
import { natsServerAvailable } from '../harness/nats-server.js';
import { git, makeRepo, OrchHome } from '../harness/orch.js';
import { waitFor } from '../harness/wait.js';

interface RunJson { scheduled_at: string; fired_at: string; finished_at: string; outcome: string; node: string; exit_code: number; output: string; duration_ms: number }
interface JobJson { id: string; type: string; enabled: boolean; timeout_seconds: number; last_outcome: string }

const available = natsServerAvailable();

describe.skipIf(!available)('bash jobs on a fleet', () => {
  let fleet: Fleet;
  let repo: { work: string; origin: string };
  const cli = (args: string[]) => fleet.coordinator.run(args, { env: fleet.cliEnv() });
  const json = <T>(args: string[]) => fleet.coordinator.json<T>(args, { env: fleet.cliEnv() });
  const finished = async (id: string, n = 1) => {
    const runs = await json<RunJson[]>(['job', 'runs', id, '--limit', '50']);
    const done = runs.filter((r) => r.finished_at);
    return done.length >= n ? { runs, done } : undefined;
  };

  beforeAll(async () => {
    fleet = new Fleet({
      nodes: 2, slots: 1, agentsYaml: 'agents:\n  noop:\n    kind: command\n    command: /bin/true\n',
      // Long enough that a node killed in a test is still "up" to the coordinator when the next run is sent.
      nodeTtlSeconds: 10,
      // A run unanswered 3 s past its timeout is lost (default 120 s), so a test can see it.
      clusterYaml: ['bash_job_grace_seconds: 3'],
      // The nodes' own environment: a job must not see it.
      processEnv: { ORCH_TEST_LEAK: 'node-private-value' },
    });
    await fleet.start();
    repo = await makeRepo(fleet.coordinator.dir);
    writeFileSync(join(repo.work, 'hello.txt'), 'hello from main v1\n');
    await git(['add', '.'], repo.work);
    await git(['-c', 'user.name=t', '-c', 'user.email=t@example.com', 'commit', '-qm', 'hello'], repo.work);
    await git(['push', '-q', 'origin', 'main'], repo.work);
    const add = await cli(['project', 'add', `file://${repo.origin}`]);
    expect(add.code, add.stderr).toBe(0);
  }, 180_000);

  afterAll(async () => {
    await fleet?.stop(!!process.env.ORCH_KEEP_TEST_DIRS);
  });

  it('runs the command on a node in a fresh checkout of the base branch, minimal env, keeping exit code and redacted output', async () => {
    const command = [
      'cat hello.txt',
      'echo "node=$ORCH_NODE job=$ORCH_JOB branch=$(git rev-parse HEAD | cut -c1-7)"',
      'echo "leak=${ORCH_TEST_LEAK:-none}"',
      '[ -e leftover.txt ] && echo "dirty checkout"; touch leftover.txt',
      'echo "token=ghp_abcdefghijklmnopqrstuvwxyz0123456789"',
      'echo "to stderr" >&2',
      'exit 3',
    ].join('; ');
    const job = await json<JobJson>(['job', 'add', '* * * * * *', '--type', 'bash', '--command', command, '--id', 'check', '--timeout', '30']);
    expect(job).toMatchObject({ id: 'check', type: 'bash', timeout_seconds: 30 });

    const first = await waitFor(() => finished('check'), { timeoutMs: 60_000, what: 'the first bash run to finish' });
    const run = first.done.at(-1)!;
    expect(run.outcome).toBe('failed: exit 3');
    expect(run.exit_code).toBe(3);
    expect(['node1', 'node2']).toContain(run.node);
    const head = (await git(['--git-dir', repo.origin, 'rev-parse', 'main'])).trim().slice(0, 7);
    expect(run.output).toContain('hello from main v1');
    expect(run.output).toContain(`node=${run.node} job=check branch=${head}`);
    expect(run.output).toContain('leak=none');
    expect(run.output).toContain('to stderr');
    expect(run.output).toContain('token=[REDACTED]');
    expect(run.output).not.toContain('ghp_abc');

    // The base branch moves on: the next run sees it, in a clean checkout (nothing left from before).
    writeFileSync(join(repo.work, 'hello.txt'), 'hello from main v2\n');
    await git(['-c', 'user.name=t', '-c', 'user.email=t@example.com', 'commit', '-qam', 'v2'], repo.work);
    await git(['push', '-q', 'origin', 'main'], repo.work);
    const later = await waitFor(async () => {
      const f = await finished('check', 1);
      return f?.done.find((r) => r.output.includes('hello from main v2'));
    }, { timeoutMs: 60_000, what: 'a run on the new base' });
    expect(later.output).not.toContain('dirty checkout');
    expect((await json<JobJson>(['job', 'disable', 'check'])).enabled).toBe(false);

    // What a person reads.
    const text = await cli(['job', 'runs', 'check']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/failed: exit 3 on node[12], exit 3/);
    expect(text.stdout).toContain('  | hello from main v');
    const list = await json<JobJson[]>(['job', 'list']);
    expect(list.find((j) => j.id === 'check')?.last_outcome).toMatch(/^(failed: exit 3|running|skipped: .*)$/);
  }, 150_000);

  it('stops a run at its timeout, and never overlaps a job with itself', async () => {
    await json<JobJson>(['job', 'add', '* * * * * *', '--type', 'bash', '--command', 'echo started; sleep 30; echo never', '--id', 'sleepy', '--timeout', '2']);
    const f = await waitFor(() => finished('sleepy', 2), { timeoutMs: 60_000, what: 'two runs of the slow job to finish' });
    await json<JobJson>(['job', 'disable', 'sleepy']);
    const { runs, done } = (await finished('sleepy', 2)) ?? f;
    for (const r of done) {
      expect(r.outcome).toBe('failed: timed out after 2 s');
      expect(r.output).toContain('started');
      expect(r.output).not.toContain('never');
      expect(r.duration_ms).toBeLessThan(15_000);
    }
    // Every-second schedule, 2 s runs: the seconds in between were skipped, not run alongside.
    expect(runs.some((r) => r.outcome === 'skipped: its previous run is still running')).toBe(true);
    const spans = done.map((r) => [Date.parse(r.fired_at), Date.parse(r.finished_at)] as const).sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < spans.length; i++) expect(spans[i][0]).toBeGreaterThanOrEqual(spans[i - 1][1]);
  }, 120_000);

  it('a coordinator killed mid-run: the one that comes back does not run the job again while that run may still go on, then counts it lost and runs the next', async () => {
    // Long enough to outlast finding it running and killing the coordinator on a loaded machine: a
    // run that ended before the kill would have been recorded, and the test would show nothing.
    await json<JobJson>(['job', 'add', '* * * * * *', '--type', 'bash', '--command', 'echo begun; sleep 12; echo ended', '--id', 'long', '--timeout', '20']);
    await waitFor(async () => (await json<RunJson[]>(['job', 'runs', 'long'])).find((r) => r.outcome === 'running'), { timeoutMs: 30_000, what: 'a run of the long job to start' });
    await fleet.restartCoordinator('SIGKILL');
    const back = Date.now();
    // The restarted coordinator's scheduler ticks every second: each due run is skipped, none started.
    const runs = await waitFor(async () => {
      const r = await json<RunJson[]>(['job', 'runs', 'long', '--limit', '100']);
      return r.filter((x) => x.outcome.startsWith('skipped') && Date.parse(x.fired_at) > back).length >= 5 ? r : undefined;
    }, { timeoutMs: 60_000, what: 'the restarted coordinator to skip due runs' });
    const started = runs.filter((x) => !x.outcome.startsWith('skipped'));
    expect(started).toHaveLength(1);
    // Its reply went to the killed coordinator: it stays running until it counts as lost (timeout 20 s + grace 3 s).
    expect(started[0].outcome).toBe('running');
    expect(runs.filter((x) => Date.parse(x.fired_at) > back).every((x) => x.outcome === 'skipped: its previous run is still running')).toBe(true);

    // Past that, it is lost and the next due run fires (and runs: the node finished the old one long ago).
    const after = await waitFor(async () => {
      const r = await json<RunJson[]>(['job', 'runs', 'long', '--limit', '200']);
      return r.some((x) => x.outcome === 'succeeded') ? r : undefined;
    }, { timeoutMs: 90_000, what: 'the lost run to give way to a new one' });
    await json<JobJson>(['job', 'disable', 'long']);
    const first = started[0];
    expect(after.find((x) => x.scheduled_at === first.scheduled_at)?.outcome).toBe('lost: no result came back (its coordinator stopped?)');
    const next = after.filter((x) => x.outcome === 'succeeded').at(-1)!;
    expect(next.output).toBe('begun\nended\n');
    expect(Date.parse(next.fired_at)).toBeGreaterThanOrEqual(Date.parse(first.fired_at) + 23_000);
    const between = after.filter((x) => x.scheduled_at > first.scheduled_at && x.scheduled_at < next.scheduled_at);
    expect(between.length).toBeGreaterThanOrEqual(15);
    expect(between.every((x) => x.outcome === 'skipped: its previous run is still running')).toBe(true);
    expect((await cli(['job', 'runs', 'long', '--limit', '200'])).stdout).toContain('lost: no result came back (its coordinator stopped?)');
  }, 240_000);

  const bothUp = () => waitFor(async () => {
    const nodes = await json<Array<{ name: string; state: string }>>(['node', 'list']);
    return ['node1', 'node2'].every((n) => nodes.some((x) => x.name === n && x.state === 'up')) ? nodes : undefined;
  }, { timeoutMs: 30_000, what: 'both nodes up' });

  it('a node whose checkout fails gives way to the next node; the run ends on the node that ran it', async () => {
    await bothUp();
    // node1 comes first (both idle; then by name), but where it keeps the project's mirror there is a file, not a repository.
    const [project] = await json<Array<{ name: string }>>(['project', 'list']);
    const mirror = join(fleet.nodes[0].home.home, 'repos', `${project.name}.git`);
    rmSync(mirror, { recursive: true, force: true });
    writeFileSync(mirror, 'not a repository\n');
    try {
      await json<JobJson>(['job', 'add', '* * * * * *', '--type', 'bash', '--command', 'echo "ran on $ORCH_NODE"', '--id', 'fallthrough', '--timeout', '30']);
      const { done } = await waitFor(() => finished('fallthrough'), { timeoutMs: 30_000, what: 'a run of the fallthrough job to finish' });
      await json<JobJson>(['job', 'disable', 'fallthrough']);
      expect(done.at(-1)).toMatchObject({ outcome: 'succeeded', node: 'node2', exit_code: 0, output: 'ran on node2\n' });
      expect((await cli(['job', 'runs', 'fallthrough'])).stdout).toMatch(/succeeded on node2, exit 0/);
      const log = fleet.coordinator.logOf('serve');
      expect(log).toMatch(/bash job refused by a node; trying another node.*"job":"fallthrough","node":"node1","why":"could not check out main of /);
    } finally {
      rmSync(mirror, { force: true });
    }
  }, 60_000);

  it('a node stopped before the coordinator knows it is gone gives way to the next live node', async () => {
    await bothUp();
    const node1 = fleet.nodes[0];
    node1.proc.kill('SIGKILL');
    if (node1.proc.exitCode === null && node1.proc.signalCode === null) await new Promise((r) => node1.proc.once('exit', r));
    // Its heartbeat has not expired yet (node_timeout_seconds 10): it is still up, and first, for the coordinator.
    expect((await json<Array<{ name: string; state: string }>>(['node', 'list'])).find((n) => n.name === 'node1')?.state).toBe('up');
    await json<JobJson>(['job', 'add', '* * * * * *', '--type', 'bash', '--command', 'echo "ran on $ORCH_NODE"', '--id', 'afterstop', '--timeout', '30']);
    const { done } = await waitFor(() => finished('afterstop'), { timeoutMs: 30_000, what: 'a run of the afterstop job to finish' });
    await json<JobJson>(['job', 'disable', 'afterstop']);
    expect(done[done.length - 1]).toMatchObject({ outcome: 'succeeded', node: 'node2', output: 'ran on node2\n' });
    expect(fleet.coordinator.logOf('serve')).toMatch(/bash job not answered; trying another node.*"job":"afterstop","node":"node1"/);
  }, 60_000);
});

// The embedded default (one `orch serve`, its own node, the in-process bus) runs bash jobs too.
describe('bash jobs on the embedded default', () => {
  let h: OrchHome;
  let serve: Awaited<ReturnType<OrchHome['serve']>>;

  beforeAll(async () => {
    h = new OrchHome('orch-bash-jobs-');
    const repo = await makeRepo(h.dir);
    h.writeConfig([
      `tmux:\n  socket: ${h.tmuxSocket}`,
      'agents:\n  noop:\n    kind: command\n    command: /bin/true',
      '',
    ].join('\n'));
    serve = await h.serve();
    const add = await h.run(['project', 'add', `file://${repo.origin}`]);
    expect(add.code, add.stderr).toBe(0);
  }, 120_000);

  afterAll(async () => {
    if (serve) await h.stop(serve);
    await h?.cleanup(!!process.env.ORCH_KEEP_TEST_DIRS);
  });

  it('runs a bash job in the project checkout; a bash job without a command is refused', async () => {
    await h.run(['job', 'add', '* * * * * *', '--type', 'bash', '--command', 'echo "tick $(cat README.md)"', '--id', 'readme']);
    const runs = await waitFor(async () => {
      const r = await h.json<RunJson[]>(['job', 'runs', 'readme']);
      return r.find((x) => x.finished_at);
    }, { timeoutMs: 30_000, what: 'the embedded bash run' });
    expect(runs).toMatchObject({ outcome: 'succeeded', exit_code: 0, node: expect.any(String) });
    expect(runs.output).toBe('tick # demo\n');
    await h.json(['job', 'disable', 'readme']);
    const bad = await h.run(['job', 'add', '* * * * *', '--type', 'bash', '--id', 'nocmd']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/a bash job needs --command/);
  }, 60_000);
});
