// One trace per task across the coordinator, the node and the agent (issue 11's first
// slice): `orch serve` on the embedded default exports to a fake OTLP receiver; the agent
// gets TRACEPARENT of its own `invoke_agent` span.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOtlp, type FakeOtlp } from '../fixtures/fake-otlp.js';
import { startFakeAnthropic } from '../fixtures/fake-anthropic.js';
import { Fleet } from '../harness/fleet.js';
import { natsServerAvailable } from '../harness/nats-server.js';
import { CLAUDE_BIN, makeRepo, OrchHome } from '../harness/orch.js';
import { waitFor } from '../harness/wait.js';

describe('tracing', () => {
  let h: OrchHome;
  let otlp: FakeOtlp;
  let serve: Awaited<ReturnType<OrchHome['serve']>>;
  let repo: { work: string; origin: string };
  let seen: string;
  let anthropic: Awaited<ReturnType<typeof startFakeAnthropic>>;

  beforeAll(async () => {
    otlp = await startFakeOtlp();
    anthropic = await startFakeAnthropic({ writeFile: { path: 'traced.txt', content: 'traced\n' } });
    h = new OrchHome('orch-trace-');
    seen = join(h.dir, 'traceparent.txt');
    const agent = join(h.dir, 'traced-agent.sh');
    writeFileSync(agent, `#!/bin/bash\necho "$TRACEPARENT" > ${JSON.stringify(seen)}\necho '{"status":"done","summary":"traced"}'\n`, { mode: 0o755 });
    // Delegates one sub-task on its first attempt; done when the parent resumes.
    const planner = join(h.dir, 'planner.sh');
    writeFileSync(planner, [
      '#!/bin/bash', 'cat > /dev/null',
      'if [ "$ORCH_ATTEMPT" = 1 ]; then echo \'{"status":"done","summary":"split","delegations":[{"title":"Traced part","body":"part","labels":["agent:traced"]}]}\'',
      'else echo \'{"status":"done","summary":"joined"}\'; fi',
    ].join('\n') + '\n', { mode: 0o755 });
    h.writeConfig([
      `tmux:\n  socket: ${h.tmuxSocket}`,
      'agents:',
      `  traced:\n    kind: command\n    command: ${agent}`,
      `  planner:\n    kind: command\n    command: ${planner}`,
      `  claude:\n    command: ${CLAUDE_BIN}\n    permission_mode: bypassPermissions\n    env:`,
      `      ANTHROPIC_BASE_URL: ${anthropic.url}`,
      '      ANTHROPIC_API_KEY: sk-ant-test-0123456789abcdef',
      `      CLAUDE_CONFIG_DIR: ${join(h.dir, 'claude-config')}`,
      '      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1"',
      '      DISABLE_AUTOUPDATER: "1"',
    ].join('\n') + '\n');
    serve = await h.serve([], { OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_BSP_SCHEDULE_DELAY: '100', OTEL_METRIC_EXPORT_INTERVAL: '300' });
    repo = await makeRepo(h.dir);
    expect((await h.run(['project', 'add', `file://${repo.origin}`])).code).toBe(0);
  }, 120_000);

  afterAll(async () => {
    if (serve) await h.stop(serve);
    await h?.cleanup(!!process.env.ORCH_KEEP_TEST_DIRS);
    await otlp?.close();
    await anthropic?.close();
  });

  it('Claude Code\'s own spans nest under the agent-run span', async () => {
    const { id } = await h.json<{ id: number }>(['task', 'add', 'Traced Claude work', '--agent', 'claude']);
    const task = await waitFor(async () => {
      const t = await h.json<{ status: string; trace_id: string; reason: string }>(['task', 'get', String(id)]);
      if (t.status === 'needs_review') throw new Error(`the task failed: ${t.reason}`);
      return t.status === 'done' ? t : undefined;
    }, { timeoutMs: 90_000, what: 'the Claude task to finish' });
    const spans = await waitFor(() => {
      const mine = otlp.spans.filter((s) => s.traceId === task.trace_id);
      return mine.some((s) => s.service === 'claude-code') && mine.some((s) => s.name === 'invoke_agent claude') ? mine : undefined;
    }, { timeoutMs: 30_000, what: 'Claude Code\'s spans in the task\'s trace' });
    const run = spans.find((s) => s.name === 'invoke_agent claude')!;
    const claude = spans.filter((s) => s.service === 'claude-code');
    const ids = new Set(claude.map((s) => s.spanId));
    const roots = claude.filter((s) => !ids.has(s.parentSpanId));
    expect(roots.length).toBeGreaterThanOrEqual(1);
    for (const r of roots) expect(r.parentSpanId).toBe(run.spanId);
    expect(claude.some((s) => s.name.startsWith('claude_code.'))).toBe(true);
    expect(run.attributes['gen_ai.provider.name']).toBe('anthropic');
  }, 120_000);

  it('a task\'s life is one trace: intake, route, publish -> receive, the agent run (its TRACEPARENT), push, result', async () => {
    const { id } = await h.json<{ id: number }>(['task', 'add', 'Traced work', '--agent', 'traced']);
    const task = await waitFor(async () => {
      const t = await h.json<{ status: string; trace_id: string }>(['task', 'get', String(id)]);
      if (t.status === 'needs_review') throw new Error('the task failed');
      return t.status === 'done' ? t : undefined;
    }, { timeoutMs: 60_000, what: 'the task to finish' });
    expect(task.trace_id).toMatch(/^[0-9a-f]{32}$/);
    const names = ['orch.task.intake', 'orch.task.route', 'orch.assign publish', 'orch.assign receive', 'invoke_agent traced', 'orch.git push', 'orch.report result'];
    const spans = await waitFor(() => {
      const mine = otlp.spans.filter((s) => s.traceId === task.trace_id);
      return names.every((n) => mine.some((s) => s.name === n)) ? mine : undefined;
    }, { timeoutMs: 20_000, what: `the spans ${names.join(', ')}` });
    expect(otlp.rejected).toEqual([]);
    const by = (n: string) => spans.find((s) => s.name === n)!;
    // Every span about this task is in its one trace.
    expect(otlp.spans.filter((s) => s.attributes['orch.task'] === id).every((s) => s.traceId === task.trace_id)).toBe(true);
    // The shape: intake is the root; publish (PRODUCER) -> receive (CONSUMER); the agent run and the report hang off the assignment.
    expect(by('orch.task.intake').parentSpanId).toBe('');
    expect(by('orch.task.route').parentSpanId).toBe(by('orch.task.intake').spanId);
    expect(by('orch.assign publish')).toMatchObject({ kind: 4, parentSpanId: by('orch.task.intake').spanId });
    expect(by('orch.assign receive')).toMatchObject({ kind: 5, parentSpanId: by('orch.assign publish').spanId });
    expect(by('invoke_agent traced').parentSpanId).toBe(by('orch.assign publish').spanId);
    expect(by('orch.report result')).toMatchObject({ kind: 2, parentSpanId: by('orch.assign publish').spanId });
    expect(by('invoke_agent traced').attributes).toMatchObject({ 'gen_ai.operation.name': 'invoke_agent', 'gen_ai.agent.name': 'traced', 'orch.task': id, 'orch.attempt': 1 });
    expect(by('orch.git push').attributes['orch.pushed']).toBe(true);
    // The agent process saw the context of its own span.
    expect(readFileSync(seen, 'utf8').trim()).toBe(`00-${task.trace_id}-${by('invoke_agent traced').spanId}-01`);
    expect(by('orch.task.intake').service).toBe('orch-coordinator');
  }, 90_000);

  it('a job\'s task and a delegated task start traces of their own: intake by job; intake by delegation, linked to the parent\'s trace', async () => {
    type T = { id: number; status: string; trace_id: string; children: number[]; reason: string };
    const job = await h.json<{ id: string }>(['job', 'add', '* * * * * *', 'Traced job', '--labels', 'agent:traced']);
    const fired = await waitFor(async () => (await h.json<Array<{ id: string; last_task_id: number }>>(['job', 'list'])).find((j) => j.id === job.id && j.last_task_id), { timeoutMs: 20_000, what: 'the job to fire' });
    expect((await h.run(['job', 'disable', job.id])).code).toBe(0);
    const { id: parentId } = await h.json<{ id: number }>(['task', 'add', 'Plan the work', '--agent', 'planner']);
    const done = (id: number) => waitFor(async () => {
      const t = await h.json<T>(['task', 'get', String(id)]);
      if (t.status === 'needs_review') throw new Error(`task ${id} failed: ${t.reason}`);
      return t.status === 'done' ? t : undefined;
    }, { timeoutMs: 60_000, what: `task ${id} to finish` });
    const jobTask = await done(fired.last_task_id);
    const parent = await done(parentId);
    expect(parent.children).toHaveLength(1);
    const child = await done(parent.children[0]);
    const intakeOf = (t: T) => waitFor(() => otlp.spans.find((s) => s.traceId === t.trace_id && s.name === 'orch.task.intake'), { timeoutMs: 20_000, what: `the intake span of task ${t.id}` });
    expect((await intakeOf(jobTask)).attributes).toMatchObject({ 'orch.intake': 'job', 'orch.job': job.id });
    const parentIntake = await intakeOf(parent);
    const childIntake = await intakeOf(child);
    expect(childIntake).toMatchObject({ parentSpanId: '', links: [{ traceId: parent.trace_id, spanId: parentIntake.spanId }] });
    expect(childIntake.attributes).toMatchObject({ 'orch.intake': 'delegation', 'orch.parent_task': parentId });
    expect(child.trace_id).not.toBe(parent.trace_id);
    // Each task's own spans are in its own trace.
    await waitFor(() => otlp.spans.some((s) => s.traceId === child.trace_id && s.name === 'invoke_agent traced'), { timeoutMs: 20_000, what: 'the child\'s agent run in its trace' });
    expect(otlp.spans.filter((s) => s.attributes['orch.task'] === child.id).every((s) => s.traceId === child.trace_id)).toBe(true);
  }, 120_000);

  it('metrics after task runs: tasks by status, queue wait, dispatch latency, run duration, attempts, tokens and cost by agent/model/node, sessions', async () => {
    const { id } = await h.json<{ id: number }>(['task', 'add', 'Metered Claude work', '--agent', 'claude']);
    await waitFor(async () => {
      const t = await h.json<{ status: string; reason: string }>(['task', 'get', String(id)]);
      if (t.status === 'needs_review') throw new Error(`the task failed: ${t.reason}`);
      return t.status === 'done';
    }, { timeoutMs: 90_000, what: 'the Claude task to finish' });
    // What the store says happened (every task of this coordinator so far), to hold the metrics against.
    const list = await h.json<Array<{ id: number; status: string }>>(['task', 'list']);
    const tasks = await Promise.all(list.map((t) => h.json<{ status: string; attempt_history: AttemptJson[] }>(['task', 'get', String(t.id)])));
    const attempts = tasks.flatMap((t) => t.attempt_history);
    const claude = attempts.filter((a) => a.agent === 'claude');
    expect(claude.length).toBeGreaterThanOrEqual(1);
    const total = (name: string, attrs: Record<string, unknown>) => otlp.latest(name, attrs).reduce((n, p) => n + p.value, 0);
    // Counters and histograms are cumulative: wait for the export that has seen every attempt, then compare.
    await waitFor(() => total('orch.attempts', { 'gen_ai.agent.name': 'claude' }) === claude.length, { timeoutMs: 10_000, what: 'orch.attempts to count every Claude attempt' });
    const sum = (f: (a: AttemptJson) => number) => claude.reduce((n, a) => n + f(a), 0);
    expect(claude.every((a) => otlp.latest('orch.attempts', { 'gen_ai.agent.name': 'claude', 'orch.node': a.node, 'orch.outcome': 'success' }).length > 0)).toBe(true);
    expect(total('orch.tokens', { 'gen_ai.agent.name': 'claude', 'gen_ai.token.type': 'input' })).toBe(sum((a) => a.input_tokens));
    expect(total('orch.tokens', { 'gen_ai.agent.name': 'claude', 'gen_ai.token.type': 'output' })).toBe(sum((a) => a.output_tokens));
    expect(sum((a) => a.output_tokens)).toBeGreaterThan(0);
    expect(total('orch.tokens', { 'gen_ai.agent.name': 'claude', 'gen_ai.token.type': 'cache_read' })).toBe(sum((a) => a.cache_read_tokens));
    expect(total('orch.cost', { 'gen_ai.agent.name': 'claude' })).toBeCloseTo(sum((a) => a.cost_usd), 9);
    const models = new Set(otlp.latest('orch.tokens', { 'gen_ai.agent.name': 'claude' }).map((p) => p.attributes['gen_ai.request.model']));
    expect([...models]).toEqual([...new Set(claude.map((a) => a.model))]);
    // Run duration: one value per attempt, in seconds.
    const runs = otlp.latest('orch.attempt.duration', { 'gen_ai.agent.name': 'claude' });
    expect(runs.reduce((n, p) => n + p.count!, 0)).toBe(claude.length);
    expect(runs.reduce((n, p) => n + p.value, 0)).toBeCloseTo(sum((a) => a.duration_ms) / 1000, 2);
    expect(runs[0].unit).toBe('s');
    // Every attempt left the queue once and was claimed by its node once.
    const count = (name: string) => otlp.latest(name).reduce((n, p) => n + p.count!, 0);
    expect(count('orch.task.queue_wait')).toBe(attempts.length);
    expect(count('orch.dispatch.latency')).toBe(attempts.length);
    expect(otlp.latest('orch.dispatch.latency').every((p) => p.value > 0 && p.value < 30 * p.count!)).toBe(true);
    // Gauges: tasks by status from the store; no session left running on the node.
    const done = tasks.filter((t) => t.status === 'done').length;
    await waitFor(() => otlp.latest('orch.tasks', { 'orch.task.status': 'done' })[0]?.value === done, { timeoutMs: 10_000, what: `orch.tasks{done} = ${done}` });
    await waitFor(() => otlp.latest('orch.sessions.active', { 'orch.node': claude[0].node })[0]?.value === 0, { timeoutMs: 10_000, what: 'orch.sessions.active = 0' });
    expect(otlp.rejected).toEqual([]);
  }, 120_000);
});

interface AttemptJson { node: string; agent: string; model: string; input_tokens: number; output_tokens: number; cache_read_tokens: number; cost_usd: number; duration_ms: number }

describe.skipIf(!natsServerAvailable())('tracing across processes', () => {
  it('a coordinator and a node in separate processes put their spans in the task\'s one trace', async () => {
    const otlp = await startFakeOtlp();
    const scratch = new OrchHome('orch-trace-fleet-');
    const agent = join(scratch.dir, 'agent.sh');
    writeFileSync(agent, `#!/bin/bash\necho '{"status":"done","summary":"ok"}'\n`, { mode: 0o755 });
    const fleet = new Fleet({
      nodes: 1, slots: 1, agentsYaml: `agents:\n  a:\n    kind: command\n    command: ${agent}`,
      processEnv: { OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_BSP_SCHEDULE_DELAY: '100' },
    });
    try {
      await fleet.start();
      const repo = await makeRepo(scratch.dir);
      const env = fleet.cliEnv();
      expect((await fleet.coordinator.run(['project', 'add', `file://${repo.origin}`], { env })).code).toBe(0);
      const { id } = await fleet.coordinator.json<{ id: number }>(['task', 'add', 'Across processes', '--agent', 'a'], { env });
      const t = await waitFor(async () => {
        const x = await fleet.coordinator.json<{ status: string; trace_id: string }>(['task', 'get', String(id)], { env });
        return x.status === 'done' ? x : undefined;
      }, { timeoutMs: 60_000, what: 'the task to finish' });
      const spans = await waitFor(() => {
        const mine = otlp.spans.filter((s) => s.traceId === t.trace_id);
        return mine.some((s) => s.service === 'orch-node' && s.name === 'invoke_agent a') && mine.some((s) => s.name === 'orch.report result') ? mine : undefined;
      }, { timeoutMs: 20_000, what: 'spans of both services' });
      const svc = (n: string) => spans.find((s) => s.name === n)!.service;
      expect([svc('orch.task.intake'), svc('orch.assign publish'), svc('orch.report result')]).toEqual(['orch-coordinator', 'orch-coordinator', 'orch-coordinator']);
      expect([svc('orch.assign receive'), svc('invoke_agent a'), svc('orch.git push')]).toEqual(['orch-node', 'orch-node', 'orch-node']);
      const publish = spans.find((s) => s.name === 'orch.assign publish')!;
      expect(spans.find((s) => s.name === 'orch.assign receive')!.parentSpanId).toBe(publish.spanId);
      expect(otlp.rejected).toEqual([]);
    } finally {
      await fleet.stop(!!process.env.ORCH_KEEP_TEST_DIRS);
      await scratch.cleanup();
      await otlp.close();
    }
  }, 120_000);
});
