// The Coordinator gRPC service: what the orch CLI calls.
import type { ServerWritableStream, UntypedServiceImplementation } from '@grpc/grpc-js';
import { stringify } from 'yaml';
import type { CoordinatorServer, OutputEvent, StreamOutputRequest } from '../../proto/gen/orch/v1/coordinator.js';
import type { AgentInfo } from '../../proto/gen/orch/v1/types.js';
import { getKey } from '../../runtime/config/index.js';
import { endWithError, startIntake } from '../../runtime/telemetry/index.js';
import { maskSecrets } from '../../runtime/config/mask.js';
import { type Coordinator, enabledAgents } from '../coordinator.js';
import { TASK_STATUSES, type TaskStatus } from '../lifecycle.js';
import { resolveProject } from '../projects.js';
import { COMPLEXITIES, type Complexity } from '../router.js';
import { projectToProto, taskToProto } from '../store/convert.js';
import type { ProjectRow } from '../store/store.js';
import { RefusedError } from '../task-actor.js';
import { metrics, taskCost } from '../usage.js';
import { JOB_ID } from '../scheduler/config-jobs.js';
import { nextAt, parseSchedule } from '../scheduler/cron.js';
import { slug } from '../prompt.js';
import type { JobRow } from '../store/jobs.js';
import { latestRoute, routerUsageSince, routingUsage } from '../store/routing.js';
import { routeTask } from './route-task.js';
import type { Job } from '../../proto/gen/orch/v1/coordinator.js';

function jobToProto(j: JobRow): Job {
  const cron = parseSchedule(j.schedule, j.timezone);
  const next = typeof cron === 'string' || !j.enabled ? undefined : nextAt(cron, new Date());
  return {
    id: j.id, project: j.project, schedule: j.schedule, timezone: j.timezone, type: j.type, title: j.title, body: j.body,
    labels: j.labels, command: j.command, enabled: j.enabled, source: j.source, lastRun: j.lastScheduled?.toISOString() ?? '',
    lastTaskId: j.lastTaskId ?? 0, nextRun: next?.toISOString() ?? '', lastOutcome: j.lastOutcome ?? '', timeoutSeconds: j.timeoutSeconds,
  };
}
import { denied, failStream, InvalidArgument, toServiceError, unary } from './handlers.js';
import type { Access } from './access.js';
import { revokeNode } from './revoke.js';
import { attachCli } from './attach.js';
import { listLive, readLog, readOutput } from './observe.js';

export interface ServerFacts {
  version: string;
  mode: 'embedded' | 'fleet';
  listen: () => string;
  token?: string;
  /** Tokens and node identities (overrides `token`). */
  access?: Access;
}

export function coordinatorApi(c: Coordinator, facts: ServerFacts): CoordinatorServer & UntypedServiceImplementation {
  const t: Access | string | undefined = facts.access ?? facts.token;
  const store = c.store;

  async function findProject(spec: string): Promise<ProjectRow> {
    const all = await store.listProjects();
    if (!spec) {
      if (all.length === 1) return all[0];
      if (all.length === 0) throw new InvalidArgument('no project is registered: run `orch project add [PATH]` first');
      throw new InvalidArgument(`several projects are registered (${all.map((p) => p.name).join(', ')}): pass --project`);
    }
    const hit = all.find((p) => p.name === spec || (p.path && p.path === spec) || p.remote === spec);
    if (!hit) throw new InvalidArgument(`project "${spec}" is not registered (known: ${all.map((p) => p.name).join(', ') || 'none'})`);
    return hit;
  }

  async function fullTask(id: number) {
    const task = await store.getTask(id);
    if (!task) throw new InvalidArgument(`task ${id} not found`);
    const t = taskToProto(task, await store.listAttempts(id), await store.events(id), (await store.childrenOf(id)).map((c) => c.id), await latestRoute(c.deps.db.pool, id));
    // A routed task says why it waits (no node with its agent, every node full, a retry later).
    if (task.status === 'routed' && !t.reason) t.reason = c.dispatcher.waiting(id) ?? '';
    if (task.status === 'new' && !t.reason && c.routing.planning(id)) t.reason = 'waiting for the router';
    return t;
  }

  async function act(id: number, msg: Parameters<Coordinator['ask']>[1]) {
    if (!(await store.getTask(id))) throw new InvalidArgument(`task ${id} not found`);
    await c.ask(id, msg);
    return fullTask(id);
  }

  return {
    getStatus: unary(t, async () => ({
      version: facts.version, mode: facts.mode, listen: facts.listen(), database: c.deps.db.description,
      bus: c.deps.bus.description, pid: process.pid, startedAt: c.startedAt.toISOString(),
      role: 'leader', epoch: c.deps.epoch ?? 0,
    })),

    getConfig: unary(t, async (req) => {
      const cfg = req.project ? c.projectConfig((await findProject(req.project)).name) : c.config;
      // Secrets (tokens, passwords, any agent env value, passwords in URLs) are never shown.
      const v = maskSecrets(getKey(cfg, req.key), req.key.split('.').filter(Boolean));
      if (v === undefined) return { found: false, value: '' };
      return { found: true, value: typeof v === 'object' && v !== null ? stringify(v).trimEnd() : String(v) };
    }),

    addTask: unary(t, async (req) => {
      const title = req.title.trim();
      if (!title) throw new InvalidArgument('a task needs a title');
      if (req.complexity && !COMPLEXITIES.includes(req.complexity as Complexity)) {
        throw new InvalidArgument(`unknown complexity "${req.complexity}": use simple, medium or complex`);
      }
      const project = await findProject(req.project);
      // Agents live on the nodes: a name the fleet (or this coordinator's config) knows is fine,
      // even while no node with it is up (the task then says it waits for one).
      const known = c.knownAgents(project.name);
      if (req.agent && !known.includes(req.agent)) {
        throw new InvalidArgument(`no node has agent "${req.agent}" and none is configured here (known: ${known.join(', ') || 'none'})`);
      }
      // The task's trace starts here: every later span of its life is a child of this one.
      const { span, trace } = startIntake('cli', { 'orch.project': project.name });
      try {
        const fields = {
          project: project.name, title, body: req.body, labels: req.labels.map((l) => l.trim()).filter(Boolean),
          agent: req.agent || undefined, complexity: req.complexity || undefined, trace,
        };
        let task;
        if (c.projectConfig(project.name).gh.repo && !req.internal) {
          const sync = c.github?.project(project.name);
          if (!sync) throw new RefusedError(`project ${project.name} syncs with GitHub (gh.repo) but GitHub sync is not running (see \`orch auth check\`); use --internal for a task without an issue`);
          const t = await sync.createWithIssue(fields);
          span.setAttribute('orch.task', t.id);
          span.end();
          return taskToProto(t);
        }
        task = await store.createTask(fields);
        span.setAttribute('orch.task', task.id);
        span.end();
        c.actor(task.id).tell({ op: 'route' });
        return taskToProto(task);
      } catch (err) {
        endWithError(span, err);
        throw err;
      }
    }),

    listTasks: unary(t, async (req) => {
      if (req.status && !TASK_STATUSES.includes(req.status as TaskStatus)) {
        throw new InvalidArgument(`unknown status "${req.status}": use one of ${TASK_STATUSES.join(', ')}`);
      }
      const project = req.project ? (await findProject(req.project)).name : undefined;
      const tasks = await store.listTasks({ status: (req.status || undefined) as TaskStatus | undefined, project });
      return { tasks: tasks.map((x) => taskToProto(x)) };
    }),

    getTask: unary(t, async (req) => fullTask(req.id)),

    runTask: unary(t, async (req) => {
      let id = req.id;
      if (!id) {
        const next = (await store.listTasks({ status: 'routed' }))[0] ?? (await store.listTasks({ status: 'new' }))[0];
        if (!next) throw new RefusedError('no routed or new task is waiting to run');
        id = next.id;
      }
      return act(id, { op: 'run' });
    }),
    retryTask: unary(t, async (req) => act(req.id, { op: 'retry' })),
    // As /unblock on an issue: a person decided to go on, so the attempt budget starts over.
    unblockTask: unary(t, async (req) => act(req.id, { op: 'external', ev: { type: 'unblock', by: 'user' }, patch: { spent: 0 } })),
    closeTask: unary(t, async (req) => act(req.id, { op: 'close', note: req.note })),
    killTask: unary(t, async (req) => act(req.id, { op: 'kill', by: 'user' })),
    publishTask: unary(t, async (req) => {
      const task = await store.getTask(req.id);
      if (!task) throw new RefusedError(`task ${req.id} not found`);
      if (!c.projectConfig(task.project).gh.repo) throw new RefusedError(`project ${task.project} has no gh.repo in its .orch.yml; there is nowhere to publish`);
      const sync = c.github?.project(task.project);
      if (!sync) throw new RefusedError('GitHub sync is not running (see `orch auth check`)');
      await sync.publish(task.id);
      return fullTask(task.id);
    }),

    addProject: unary(t, async (req) => {
      const r = await resolveProject(req.path);
      const p = await store.addProject(r);
      await c.loadProjectConfig(p);
      return projectToProto(p);
    }),
    listProjects: unary(t, async () => ({ projects: (await store.listProjects()).map(projectToProto) })),
    removeProject: unary(t, async (req) => {
      const p = await findProject(req.project);
      return projectToProto(await store.removeProject(p.name));
    }),

    listAgents: unary(t, async () => {
      const agents: AgentInfo[] = [];
      const nodes = c.registry.list();
      const configured = Object.keys(c.config.agents ?? {}).length ? Object.keys(c.config.agents) : enabledAgents(c.config);
      for (const name of [...new Set([...configured, ...c.registry.everSeenAgents()])]) {
        const seen = nodes.flatMap((n) => n.agents.filter((a) => a.name === name).map((a) => ({ ...a, node: n.name })));
        if (seen.length) agents.push(...seen);
        else agents.push({ name, kind: c.config.agents?.[name]?.kind ?? name, command: c.config.agents?.[name]?.command ?? name, installed: false, version: '', node: '', path: '', models: [] });
      }
      return { agents };
    }),
    listNodes: unary(t, async () => ({ nodes: c.registry.list() })),

    taskCost: unary(t, async (req) => {
      if (!(await store.getTask(req.id))) throw new InvalidArgument(`task ${req.id} not found`);
      return taskCost(req.id, await store.listAttempts(req.id), await routingUsage(c.deps.db.pool, req.id));
    }),
    getMetrics: unary(t, async (req) => {
      if (req.sinceSeconds < 0) throw new InvalidArgument('since must not be negative');
      const since = req.sinceSeconds ? new Date(Date.now() - req.sinceSeconds * 1000) : undefined;
      return metrics(req.sinceSeconds, await store.taskStatusCounts(since), await store.attemptsSince(since), await routerUsageSince(c.deps.db.pool, since));
    }),
    listJobs: unary(t, async () => ({ jobs: (await c.jobs.list()).map(jobToProto) })),

    addJob: unary(t, async (req) => {
      const title = req.title.trim();
      const type = req.type || 'task';
      if (type !== 'task' && type !== 'bash') throw new InvalidArgument(`unknown job type "${req.type}": use task or bash`);
      if (type === 'task' && !title) throw new InvalidArgument('a task job needs a title');
      if (type === 'bash' && !req.command.trim()) throw new InvalidArgument('a bash job needs --command');
      const cron = parseSchedule(req.schedule, req.timezone);
      if (typeof cron === 'string') throw new InvalidArgument(cron);
      const project = await findProject(req.project);
      const base = req.id || slug(title || req.command) || 'job';
      if (!JOB_ID.test(base)) throw new InvalidArgument(`job id "${base}": use letters, digits, - or _`);
      let id = base;
      for (let i = 2; await c.jobs.get(id); i++) {
        if (req.id) throw new InvalidArgument(`a job with id ${req.id} exists already`);
        id = `${base}-${i}`;
      }
      if (req.timeoutSeconds < 0) throw new InvalidArgument('--timeout must be a positive number of seconds');
      const job = await c.jobs.upsert({
        timeoutSeconds: req.timeoutSeconds || 600, id, project: project.name, schedule: req.schedule.trim(), timezone: req.timezone, type, title: title || req.command,
        body: req.body, labels: req.labels.map((l) => l.trim()).filter(Boolean), command: req.command, enabled: true, source: 'cli',
      });
      c.scheduler.wake();
      return jobToProto(job);
    }),

    removeJob: unary(t, async (req) => jobToProto(await c.jobs.remove(req.id))),

    setJobEnabled: unary(t, async (req) => {
      const job = await c.jobs.setEnabled(req.id, req.enabled);
      c.scheduler.wake();
      return jobToProto(job);
    }),

    tickJobs: unary(t, async () => ({
      fired: (await c.scheduler.tick()).map((f) => ({ job: f.job, scheduledAt: f.scheduledAt.toISOString(), taskId: f.taskId ?? 0, skipped: f.skipped ?? '', note: f.note ?? '' })),
    })),

    listJobRuns: unary(t, async (req) => {
      if (!(await c.jobs.get(req.id))) throw new InvalidArgument(`job ${req.id} not found (orch job list shows the jobs)`);
      const runs = await c.jobs.runs(req.id, req.limit > 0 ? Math.min(req.limit, 500) : 20);
      return {
        runs: runs.map((r) => ({
          scheduledAt: r.scheduledAt.toISOString(), firedAt: r.firedAt.toISOString(), outcome: r.outcome, taskId: r.taskId ?? 0, node: r.node,
          exitCode: r.exitCode ?? -1, output: r.output, durationMs: r.durationMs, finishedAt: r.finishedAt?.toISOString() ?? '',
        })),
      };
    }),

    routeTask: unary(t, async (req) => {
      await routeTask(c, req);
      return fullTask(req.id);
    }),

    drainNode: unary(t, async (req) => {
      if (!req.name) throw new InvalidArgument('name the node to drain');
      try {
        return await c.drain(req.name, req.undo ? undefined : req.reason || 'drained by an operator');
      } catch (err) {
        if (err instanceof RefusedError) throw new InvalidArgument(err.message);
        throw err;
      }
    }),

    revokeNode: unary(t, async (req) => revokeNode(c, facts.access?.identities, req.name)),

    issueCliCertificate: unary(t, async (req) => {
      const ids = facts.access?.identities;
      if (!ids) throw new InvalidArgument('this coordinator does not serve TLS (embedded mode): there are no CLI certificates');
      const r = await ids.issueCli(req.name, req.csrPem, req.readOnly);
      return { name: r.name, certPem: r.cert, caPem: r.ca };
    }),

    forgetNode: unary(t, async (req) => {
      if (!req.name) throw new InvalidArgument('name the node to forget');
      try {
        const known = await c.forgetNode(req.name);
        // A forgotten node's certificate no longer works, and its name may enrol again (a redeploy).
        await facts.access?.identities?.revoke(req.name);
        return { known };
      } catch (err) {
        if (err instanceof RefusedError) throw new InvalidArgument(err.message);
        throw err;
      }
    }),

    streamOutput: (call: ServerWritableStream<StreamOutputRequest, OutputEvent>) => {
      void denied(t, call).then((no) => {
        if (no) { call.destroy(Object.assign(new Error(no.details), no)); return; }
        return streamOutput(c, call);
      }).catch((err) => call.destroy(Object.assign(new Error(String((err as Error).message)), toServiceError(err))));
    },

    // A terminal that types into an agent: authorised like a mutation.
    attach: (call) => attachCli(c, t, call),
    listLive: unary(t, async () => listLive(c)),
    readOutput: (call) => {
      void denied(t, call).then((no) => {
        if (no) { failStream(call, Object.assign(new Error(no.details), no)); return; }
        return readOutput(c, call);
      }).catch((err) => failStream(call, err));
    },
    readLog: (call) => {
      void denied(t, call).then((no) => {
        if (no) { failStream(call, Object.assign(new Error(no.details), no)); return; }
        readLog(c, call);
      }).catch((err) => failStream(call, err));
    },
  };
}

/** Follow one task (replaying what it already wrote when asked) or every task. */
async function streamOutput(c: Coordinator, call: ServerWritableStream<StreamOutputRequest, OutputEvent>): Promise<void> {
  const { taskId, fromStart } = call.request;
  let replaying = true;
  const buffered: OutputEvent[] = [];
  const sent = new Map<string, number>(); // attempt -> bytes delivered
  const deliver = (e: OutputEvent) => {
    const k = `${e.taskId}/${e.attempt}`;
    const have = sent.get(k) ?? 0;
    const end = e.offset + e.data.length;
    if (!e.end && end <= have) return;
    const data = e.offset < have ? e.data.subarray(have - e.offset) : e.data;
    if (!e.end) sent.set(k, Math.max(have, end));
    call.write({ ...e, offset: Math.max(e.offset, have), data: Buffer.from(data) });
    if (e.end && taskId) void finishIfSettled();
  };
  const finishIfSettled = async () => {
    const task = await c.store.getTask(taskId);
    if (!ended && task && task.status !== 'in_progress' && task.status !== 'routed' && task.status !== 'new') {
      ended = true;
      unsubscribe();
      call.end();
    }
  };
  const unsubHub = c.hub.subscribe(taskId, (e) => (replaying ? buffered.push(e) : deliver(e)));
  // The output's end can arrive before the result that settles the task: end on the settling too.
  const unsubTask = taskId ? c.onTaskChanged((task) => { if (task.id === taskId && !replaying) void finishIfSettled(); }) : () => undefined;
  let ended = false;
  const unsubscribe = () => { unsubHub(); unsubTask(); };
  call.on('cancelled', unsubscribe);
  call.on('close', unsubscribe);
  if (taskId) {
    const task = await c.store.getTask(taskId);
    if (!task) throw new InvalidArgument(`task ${taskId} not found`);
    if (fromStart) {
      for (const a of await c.store.listAttempts(taskId)) {
        const k = `${taskId}/${a.number}`;
        const size = c.hub.size(taskId, a.number);
        await c.hub.replay(taskId, a.number, size, (e) => { call.write(e); sent.set(k, e.offset + e.data.length); });
      }
    }
  }
  replaying = false;
  for (const e of buffered.splice(0)) deliver(e);
  if (taskId) await finishIfSettled();
}
