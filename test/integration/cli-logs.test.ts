// What a person sees running `orch serve` / `orch node start` in the foreground: on a
// terminal (a real pty from util-linux `script`), readable coloured lines and a spinner
// while PostgreSQL initialises; through a pipe, JSON lines only; NO_COLOR and --log-format obeyed.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ORCH_BIN, OrchHome } from '../harness/orch.js';
import { waitFor } from '../harness/wait.js';

const ESC = '\x1b[';
const TEXT_LINE = /^\d\d:\d\d:\d\d\.\d{3} (DEBUG|INFO |WARN |ERROR) \S+ /;
const strip = (s: string) => s.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '');

/** `orch ARGS` on a pseudo-terminal; `out` collects what the terminal shows. */
function onTerminal(h: OrchHome, args: string[], env: NodeJS.ProcessEnv = {}): { p: ChildProcess; out: () => string } {
  const cmd = [process.execPath, ORCH_BIN, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const p = spawn('script', ['-qfec', cmd, '/dev/null'], { env: h.env({ TERM: 'xterm', ...env }), cwd: h.dir, stdio: ['pipe', 'pipe', 'pipe'] });
  let buf = '';
  p.stdout!.on('data', (d) => { buf += String(d); });
  p.stderr!.on('data', (d) => { buf += String(d); });
  return { p, out: () => buf };
}

const exited = (p: ChildProcess) => new Promise<number>((r) => (p.exitCode !== null ? r(p.exitCode) : p.once('exit', (c) => r(c ?? 1))));

describe('log output of the long-running commands', () => {
  let h: OrchHome;
  beforeAll(() => {
    h = new OrchHome('orch-logs-');
    // An unknown key makes the config loader warn: a log line even from a node start that then fails fast.
    h.writeConfig(`tmux:\n  socket: ${h.tmuxSocket}\nnot_a_key: 1\n`);
  });
  afterAll(async () => { await h?.cleanup(); });

  it('orch serve on a terminal: a spinner while PostgreSQL initialises, then coloured text lines; stopped by its PID', async () => {
    const t = onTerminal(h, ['serve']);
    const file = join(h.home, 'run', 'coordinator.json');
    await waitFor(() => {
      if (t.p.exitCode !== null) throw new Error(`orch serve exited ${t.p.exitCode}: ${t.out().slice(-2000)}`);
      return existsSync(file) && t.out().includes('orch coordinator listening on');
    }, { timeoutMs: 90_000, what: 'orch serve on a terminal to listen' });
    const { pid } = JSON.parse(readFileSync(file, 'utf8')) as { pid: number };
    process.kill(pid, 'SIGTERM');
    expect(await exited(t.p)).toBe(0);

    const out = t.out();
    expect(out).toMatch(/⠋ initialising the embedded PostgreSQL \(first start\) \(\d+\.\d s\)/);
    expect(out).toMatch(/✓.* PostgreSQL ready: embedded \(.*\) \(\d+\.\d s\)/);
    const lines = strip(out).split(/\r?\n/).map((l) => l.replace(/^.*\r/, '')).filter(Boolean);
    expect(lines.some((l) => TEXT_LINE.test(l) && /serve coordinator listening address=127\.0\.0\.1:\d+/.test(l))).toBe(true);
    expect(lines.find((l) => l.startsWith('{'))).toBeUndefined(); // no JSON for a person
    expect(out).toContain(`${ESC}36mINFO `); // coloured level
    expect(out).toContain(`${ESC}33mWARN `); // the unknown key's warning
  }, 120_000);

  it('orch serve through a pipe: JSON lines only, no spinner (the second start of the same home)', async () => {
    const p = await h.serve();
    await waitFor(() => h.logOf('serve').includes('orch coordinator listening on'), { timeoutMs: 30_000, what: 'serve to say it listens' });
    await h.stop(p);
    const log = h.logOf('serve');
    const lines = log.split('\n').filter(Boolean);
    const json = lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { level: string; component: string; msg: string });
    expect(json.some((r) => r.component === 'serve' && r.msg === 'coordinator listening')).toBe(true);
    expect(lines.filter((l) => !l.startsWith('{')), log).toEqual([expect.stringMatching(/^orch coordinator listening on 127\.0\.0\.1:\d+$/)]);
    expect(log).not.toContain('⠋');
    expect(log).not.toContain(ESC);
  }, 120_000);

  it('orch node start on a terminal: NO_COLOR gives plain text; --log-format json gives JSON; --log-level error hides the warning', async () => {
    const plain = onTerminal(h, ['node', 'start'], { NO_COLOR: '1' });
    expect(await exited(plain.p)).not.toBe(0); // no coordinator: fails after loading config
    const out = plain.out();
    expect(out).toMatch(/\d\d:\d\d:\d\d\.\d{3} WARN  node-cmd .*unknown key not_a_key \(ignored\)/);
    expect(out).not.toContain(ESC);
    expect(out).toContain('orch: orch node start needs --coordinator');

    const json = onTerminal(h, ['node', 'start', '--log-format', 'json']);
    await exited(json.p);
    const rec = JSON.parse(json.out().split(/\r?\n/).find((l) => l.startsWith('{'))!) as { level: string; msg: string };
    expect(rec).toMatchObject({ level: 'warn', component: 'node-cmd' });
    expect(rec.msg).toMatch(/unknown key not_a_key/);

    const quiet = onTerminal(h, ['node', 'start', '--log-level', 'error']);
    await exited(quiet.p);
    expect(quiet.out()).not.toMatch(/unknown key/);

    const bad = await h.run(['node', 'start', '--log-format', 'xml']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/log-format[\s\S]*xml|xml[\s\S]*text, json/i);
  }, 60_000);
});
