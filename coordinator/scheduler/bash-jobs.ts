// Bash jobs, the coordinator's side: a due run is claimed in the store ('running'), sent to
// a live node on its control subject (agent-node/bash-job.ts runs it), and its exit code and
// output are kept with the run. A job never overlaps itself: while its last run is running
// (here, or recorded by another coordinator and not yet past its timeout), a due run is skipped.
import type { BashJobReply, BashJobWire } from '../../agent-node/bash-job.js';
import { logger } from '../../runtime/log.js';
import type { NodeSnapshot } from '../placement.js';
import type { JobRow, JobStore } from '../store/jobs.js';
import type { ProjectRow } from '../store/rows.js';
import type { Fired } from './scheduler.js';

const log = logger('bash-jobs');

/**
 * The grace past a run's timeout: how long the coordinator waits for the node's reply (its
 * checkout, a fetch, comes before the command), and so when a run still 'running' in the
 * store, whose reply went to an earlier coordinator life, counts as lost.
 */
export const LOST_AFTER_MS = 120_000;
/** Nodes tried per run (a node that does not answer or is busy gives way to the next). */
export const MAX_NODES = 3;

export interface BashJobDeps {
  jobs: JobStore;
  project(name: string): Promise<ProjectRow | undefined>;
  requiredTools(project: string): string[];
  snapshots(): NodeSnapshot[];
  /** Until then (ms) nodes may still be registering (the coordinator just started): a run waits for one. */
  fleetSettlesAt?: () => number;
  /** Request/reply on a node's control subject. */
  request(node: string, body: Uint8Array, timeoutMs: number): Promise<Uint8Array>;
  /** The grace past a run's timeout (cluster.bash_job_grace_seconds; default LOST_AFTER_MS), read at each use. */
  lostAfterMs?: () => number | undefined;
  now?: () => Date;
}

/** Nodes that can run a project's bash job: up, with its required tools; the least loaded first. */
export function bashNodes(nodes: NodeSnapshot[], requiredTools: string[]): string[] {
  return nodes
    .filter((n) => n.state === 'up' && requiredTools.every((t) => n.tools.includes(t)))
    .sort((a, b) => a.inFlight / Math.max(1, a.slots) - b.inFlight / Math.max(1, b.slots) || a.name.localeCompare(b.name))
    .map((n) => n.name);
}

/** The run's outcome as `orch job runs` shows it. */
export function bashOutcome(r: BashJobReply, timeoutMs: number): string {
  if (!r.ok) return `failed: ${r.error ?? 'the node could not run it'}`;
  if (r.timedOut) return `failed: timed out after ${Math.round(timeoutMs / 1000)} s`;
  if (r.exitCode === 0) return 'succeeded';
  return r.exitCode === null ? 'failed: killed by a signal' : `failed: exit ${r.exitCode}`;
}

export class BashJobs {
  private running = new Map<string, Promise<void>>();

  constructor(private readonly d: BashJobDeps) {}

  private now(): Date { return this.d.now?.() ?? new Date(); }
  private get lostAfterMs(): number { return this.d.lostAfterMs?.() ?? LOST_AFTER_MS; }

  /** Runs in flight from this coordinator (tests wait on them). */
  settled(): Promise<void> {
    return Promise.all([...this.running.values()]).then(() => undefined);
  }

  async fire(job: JobRow, at: Date): Promise<Fired> {
    const skip = async (why: string): Promise<Fired> => {
      await this.d.jobs.skip(job, at, why);
      log.info('bash job run skipped: no overlap', { job: job.id, at: at.toISOString() });
      return { job: job.id, scheduledAt: at, skipped: why };
    };
    if (this.running.has(job.id)) return skip('its previous run is still running');
    // A run another coordinator (or an earlier life of this one) started: running until past its time.
    for (const r of await this.d.jobs.runningRuns(job.id)) {
      if (this.now().getTime() < r.firedAt.getTime() + job.timeoutSeconds * 1000 + this.lostAfterMs) return skip('its previous run is still running');
      log.warn('bash job run lost: no result came back', { job: job.id, run: r.scheduledAt.toISOString(), firedAt: r.firedAt.toISOString() });
      await this.d.jobs.finishBashRun(job.id, r.scheduledAt, { outcome: 'lost: no result came back (its coordinator stopped?)', node: '', exitCode: null, output: '', durationMs: 0 }, this.now());
    }
    // fired_at comes from the clock the lost check above reads, not the database's.
    if (!(await this.d.jobs.startBashRun(job, at, this.now()))) return { job: job.id, scheduledAt: at, skipped: 'already fired' };
    const run = this.execute(job, at).catch((err) => log.error('bash job run failed', { job: job.id, err })).finally(() => this.running.delete(job.id));
    this.running.set(job.id, run);
    return { job: job.id, scheduledAt: at, note: 'bash run started' };
  }

  private async execute(job: JobRow, at: Date): Promise<void> {
    const t0 = Date.now();
    const timeoutMs = job.timeoutSeconds * 1000;
    const finish = (outcome: string, r?: BashJobReply) => this.d.jobs.finishBashRun(job.id, at, {
      outcome, node: r?.node ?? '', exitCode: r?.exitCode ?? null, output: r?.output ?? '', durationMs: r?.durationMs ?? Date.now() - t0,
    }, this.now());
    const project = await this.d.project(job.project);
    if (!project) return finish(`failed: project ${job.project} is not registered`);
    const live = () => bashNodes(this.d.snapshots(), this.d.requiredTools(job.project)).slice(0, MAX_NODES);
    let nodes = live();
    // A run caught up right after our start: the nodes are still registering.
    while (!nodes.length && Date.now() < (this.d.fleetSettlesAt?.() ?? 0)) {
      await new Promise((r) => setTimeout(r, 200));
      nodes = live();
    }
    if (!nodes.length) return finish('failed: no live node can run it');
    const wire: BashJobWire = {
      op: 'bash_job', job: job.id, run: at.toISOString(), project: project.name, remote: project.remote, baseBranch: project.defaultBranch,
      command: job.command, timeoutMs,
    };
    let last = 'no node answered';
    for (const node of nodes) {
      let reply: BashJobReply;
      try {
        // The checkout (a fetch) comes before the command: the reply may take a while past the timeout.
        reply = parseReply(await this.d.request(node, Buffer.from(JSON.stringify(wire)), timeoutMs + this.lostAfterMs));
      } catch (err) {
        last = `node ${node}: ${(err as Error).message}`;
        log.warn('bash job not answered; trying another node', { job: job.id, node, err: (err as Error).message });
        continue;
      }
      // A node that could not even start it (busy, checkout failed) gives way to the next one.
      if (!reply.ok && nodes.indexOf(node) < nodes.length - 1) {
        last = `node ${node}: ${reply.error}`;
        log.warn('bash job refused by a node; trying another node', { job: job.id, node, why: reply.error });
        continue;
      }
      log.info('bash job run ended', { job: job.id, node: reply.node, exitCode: reply.exitCode, timedOut: reply.timedOut });
      return finish(bashOutcome(reply, timeoutMs), reply);
    }
    return finish(`failed: ${last}`);
  }
}

function parseReply(out: Uint8Array): BashJobReply {
  let r: Partial<BashJobReply>;
  try {
    r = JSON.parse(Buffer.from(out).toString('utf8')) as Partial<BashJobReply>;
  } catch {
    throw new Error('malformed bash job reply (not JSON)');
  }
  if (typeof r.ok !== 'boolean' || typeof r.node !== 'string') throw new Error('malformed bash job reply');
  return {
    ok: r.ok, node: r.node, exitCode: typeof r.exitCode === 'number' ? r.exitCode : null, timedOut: r.timedOut === true,
    output: typeof r.output === 'string' ? r.output : '', truncated: r.truncated === true,
    durationMs: typeof r.durationMs === 'number' ? r.durationMs : 0, ...(typeof r.error === 'string' ? { error: r.error } : {}),
  };
}
