// Output goes from a node's output.log to the coordinator's copy exactly once, even
// when uploads fail midway or the uploader restarts from its persisted progress.
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { OutputUploader } from '../../agent-node/uploader.js';
import { OutputHub } from '../../coordinator/output-hub.js';
import type { OutputChunk } from '../../proto/gen/orch/v1/node.js';
import { OrchPaths } from '../../runtime/paths.js';
import { registerSecret } from '../../runtime/redact.js';
import { waitFor } from '../harness/wait.js';

const dirs: string[] = [];
afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }); });

function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'orch-upload-'));
  dirs.push(dir);
  const hub = new OutputHub(new OrchPaths(join(dir, 'coord')));
  const file = join(dir, 'output.log');
  writeFileSync(file, '');
  return { dir, hub, file, state: join(dir, 'upload.json') };
}

/** A send that applies chunks to the hub like the gateway does. */
function sender(hub: OutputHub, fault: (call: number, chunk: number) => 'ok' | 'fail-before' | 'fail-after') {
  let calls = 0;
  return async (chunks: OutputChunk[]): Promise<number> => {
    calls += 1;
    let next = 0;
    for (let i = 0; i < chunks.length; i++) {
      const c = chunks[i];
      const f = fault(calls, i);
      if (f === 'fail-before') throw new Error('connection reset');
      if (c.offset > hub.size(c.taskId, c.attempt)) return hub.size(c.taskId, c.attempt);
      next = await hub.append(c.taskId, c.attempt, c.offset, c.data);
      if (f === 'fail-after') throw new Error('connection reset after the server took it');
    }
    return next;
  };
}

describe('output upload', () => {
  it('delivers every byte once through failures before and after the server applied a chunk', async () => {
    const { hub, file, state } = setup();
    const lines = Array.from({ length: 2000 }, (_, i) => `line ${i} ${'x'.repeat(i % 97)}\n`);
    const send = sender(hub, (call) => (call % 3 === 1 ? 'fail-after' : call % 5 === 2 ? 'fail-before' : 'ok'));
    const up = new OutputUploader({ file, stateFile: state, taskId: 1, attempt: 1, token: 't', send });
    up.start();
    for (let i = 0; i < lines.length; i += 100) appendFileSync(file, lines.slice(i, i + 100).join(''));
    expect(await up.finish(20_000)).toBe(true);
    expect(readFileSync(new OrchPaths(join(file, '..', 'coord')).outputLog(1, 1), 'utf8')).toBe(lines.join(''));
  });

  it('a restarted uploader resumes from its persisted progress without doubling', async () => {
    const { hub, file, state, dir } = setup();
    const send = sender(hub, () => 'ok');
    appendFileSync(file, 'first line\nsecond line\n');
    const a = new OutputUploader({ file, stateFile: state, taskId: 2, attempt: 1, token: 't', send });
    await a.flush(false);
    a.stop();
    appendFileSync(file, 'third line\npartial');
    const b = new OutputUploader({ file, stateFile: state, taskId: 2, attempt: 1, token: 't', send });
    expect(await b.finish(5_000)).toBe(true);
    expect(readFileSync(new OrchPaths(join(dir, 'coord')).outputLog(2, 1), 'utf8')).toBe('first line\nsecond line\nthird line\npartial');
  });

  it('redacts secrets before output leaves the node', async () => {
    const { hub, file, state, dir } = setup();
    registerSecret('super-secret-value-42');
    appendFileSync(file, 'token=super-secret-value-42 and ghp_abcdefghijklmnopqrstuvwxyz0123456789\n');
    const up = new OutputUploader({ file, stateFile: state, taskId: 3, attempt: 1, token: 't', send: sender(hub, () => 'ok') });
    expect(await up.finish(5_000)).toBe(true);
    const got = readFileSync(new OrchPaths(join(dir, 'coord')).outputLog(3, 1), 'utf8');
    expect(got).toBe('token=[REDACTED] and [REDACTED]\n');
  });

  it('fans out to followers in order', async () => {
    const { hub } = setup();
    const seen: string[] = [];
    const stop = hub.subscribe(4, (e) => { seen.push(Buffer.from(e.data).toString()); });
    await hub.append(4, 1, 0, Buffer.from('ab'));
    await hub.append(4, 1, 1, Buffer.from('bc')); // overlap: only "c" is new
    await expect(hub.append(4, 1, 10, Buffer.from('zz'))).rejects.toThrow(/gap/);
    hub.finish(4, 1);
    await waitFor(() => seen.length === 3);
    expect(seen).toEqual(['ab', 'c', '']);
    stop();
  });
});
