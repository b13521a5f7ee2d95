// `orch job …` as a user runs it, against `orch serve` on the embedded default.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeRepo, OrchHome } from '../harness/orch.js';
import { waitFor } from '../harness/wait.js';

interface JobJson { id: string; schedule: string; enabled: boolean; next_run: string; last_task_id: number; type: string }

describe('orch job', () => {
  let h: OrchHome;
  let serve: Awaited<ReturnType<OrchHome['serve']>>;

  beforeAll(async () => {
    h = new OrchHome('orch-jobs-');
    h.writeConfig(`tmux:\n  socket: ${h.tmuxSocket}\nagents:\n  noop:\n    kind: command\n    command: /bin/true\n`);
    serve = await h.serve();
    const repo = await makeRepo(h.dir);
    const add = await h.run(['project', 'add', `file://${repo.origin}`]);
    expect(add.code, add.stderr).toBe(0);
  }, 120_000);

  afterAll(async () => {
    if (serve) await h.stop(serve);
    await h?.cleanup(!!process.env.ORCH_KEEP_TEST_DIRS);
  });

  it('refuses an invalid schedule with the reason, and adds, lists, fires, disables and removes jobs', async () => {
    const bad = await h.run(['job', 'add', '61 * * * *', 'Never']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/not a valid cron schedule.*minute/);

    const daily = await h.json<JobJson>(['job', 'add', '0 9 * * *', 'Morning review', '--timezone', 'Europe/Berlin']);
    expect(daily).toMatchObject({ id: 'morning-review', schedule: '0 9 * * *', enabled: true, type: 'task' });
    expect(daily.next_run).toMatch(/T0[78]:00:00.000Z$/); // 09:00 in Berlin
    const tick = await h.run(['job', 'tick']);
    expect(tick.stdout).toBe('nothing due\n');

    // An every-second job (6 fields): the scheduler's own timer fires it.
    const fast = await h.json<JobJson>(['job', 'add', '* * * * * *', 'Every second', '--labels', 'ops']);
    const fired = await waitFor(async () => {
      const j = (await h.json<JobJson[]>(['job', 'list'])).find((x) => x.id === fast.id);
      return j && j.last_task_id ? j : undefined;
    }, { timeoutMs: 20_000, what: 'the job to fire' });
    const task = await h.json<{ labels: string[]; title: string }>(['task', 'get', String(fired.last_task_id)]);
    expect(task.title).toBe('Every second');
    expect(task.labels.sort()).toEqual(['job:every-second', 'ops', 'scheduled']);

    expect((await h.json<JobJson>(['job', 'disable', fast.id])).enabled).toBe(false);
    expect((await h.run(['job', 'remove', fast.id])).code).toBe(0);
    const left = (await h.json<JobJson[]>(['job', 'list'])).map((j) => j.id);
    expect(left).toEqual(['morning-review']);
    const gone = await h.run(['job', 'remove', 'no-such-job']);
    expect(gone.code).not.toBe(0);
    expect(gone.stderr).toMatch(/job no-such-job not found/);
  }, 90_000);
});
