// A node's side of bash jobs with real git and bash: the checkout, the bounded output, the
// timeout that stops the command's whole process group, and the requests it refuses.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BashJobRunner, isBashJobWire, MAX_JOB_OUTPUT, type BashJobWire } from '../../agent-node/bash-job.js';
import { bashNodes, bashOutcome } from '../../coordinator/scheduler/bash-jobs.js';
import { OrchPaths } from '../../runtime/paths.js';
import { registerSecret } from '../../runtime/redact.js';
import { makeRepo } from '../harness/orch.js';

const dir = mkdtempSync(join(tmpdir(), 'orch-bash-job-'));
let repo: { work: string; origin: string };
let runner: BashJobRunner;
const wire = (over: Partial<BashJobWire> = {}): BashJobWire => ({
  op: 'bash_job', job: 'j1', run: '2026-01-01T00:00:00.000Z', project: 'local/demo', remote: `file://${repo.origin}`, baseBranch: 'main',
  command: 'true', timeoutMs: 10_000, ...over,
});

beforeAll(async () => {
  repo = await makeRepo(dir);
  runner = new BashJobRunner({ node: 'n1', paths: new OrchPaths(join(dir, 'home')) });
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('a bash job on a node', () => {
  it('runs in a checkout of the base branch and keeps only the tail of a long output', async () => {
    const r = await runner.run(wire({ command: 'cat README.md; head -c 200000 /dev/zero | tr "\\0" x; echo; echo the-end' }));
    expect(r).toMatchObject({ ok: true, node: 'n1', exitCode: 0, timedOut: false, truncated: true });
    expect(r.output.length).toBeLessThanOrEqual(MAX_JOB_OUTPUT);
    expect(r.output.endsWith('the-end\n')).toBe(true);
    expect(r.output).not.toContain('# demo');
    expect(existsSync(join(runner.checkout('local/demo', 'j1'), 'README.md'))).toBe(true);
  });

  it('stops the command and everything it started at the timeout', async () => {
    const marker = join(dir, 'late-child');
    const t0 = Date.now();
    const r = await runner.run(wire({ job: 'j2', command: `(sleep 2; touch ${marker}) & echo started; sleep 20`, timeoutMs: 500 }));
    expect(r).toMatchObject({ ok: true, timedOut: true });
    expect(r.output).toBe('started\n');
    expect(Date.now() - t0).toBeLessThan(10_000);
    await new Promise((res) => setTimeout(res, 2_500)); // past the child's own 2 s: it must be gone, not late
    expect(existsSync(marker)).toBe(false);
    expect(bashOutcome(r, 500)).toBe('failed: timed out after 1 s');
  });

  it('redacts secrets the node knows and token shapes from the output', async () => {
    registerSecret('node-known-secret-42');
    const r = await runner.run(wire({ job: 'j3', command: 'echo node-known-secret-42 sk-ant-abcdefghijklmnop; exit 4' }));
    expect(r.output).toBe('[REDACTED] [REDACTED]\n');
    expect(bashOutcome(r, 1000)).toBe('failed: exit 4');
  });

  it('refuses a second run of the same job while one runs, and a checkout it cannot make', async () => {
    const first = runner.run(wire({ job: 'j4', command: 'sleep 1' }));
    await new Promise((res) => setTimeout(res, 100));
    const second = await runner.run(wire({ job: 'j4', command: 'true' }));
    expect(second).toMatchObject({ ok: false, error: 'job j4 is already running on node n1' });
    expect((await first).exitCode).toBe(0);
    const nowhere = await runner.run(wire({ job: 'j5', remote: `file://${join(dir, 'missing.git')}` }));
    expect(nowhere.ok).toBe(false);
    expect(nowhere.error).toMatch(/could not check out main of local\/demo/);
    expect(bashOutcome(nowhere, 1000)).toMatch(/^failed: could not check out/);
  });

  it('rejects malformed requests', () => {
    expect(isBashJobWire(wire())).toBe(true);
    expect(isBashJobWire({ ...wire(), command: '  ' })).toBe(false);
    expect(isBashJobWire({ ...wire(), project: '../../etc' })).toBe(false);
    expect(isBashJobWire({ ...wire(), project: 'a/..' })).toBe(false);
    expect(isBashJobWire({ ...wire(), job: 'a b' })).toBe(false);
    expect(isBashJobWire({ ...wire(), timeoutMs: 0 })).toBe(false);
  });
});

describe('which node runs a bash job', () => {
  const node = (name: string, over: object = {}) => ({ name, state: 'up' as const, slots: 2, inFlight: 0, agents: [], tools: ['git'], ...over });
  it('live nodes with the project\'s tools, the least loaded first', () => {
    expect(bashNodes([node('a', { inFlight: 2 }), node('b', { inFlight: 1 }), node('c', { state: 'draining' }), node('d', { tools: [] })], ['git'])).toEqual(['b', 'a']);
    expect(bashNodes([node('a', { state: 'lost' })], [])).toEqual([]);
  });
});
