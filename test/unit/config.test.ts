import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, getKey, loadGlobalConfig, loadProjectConfig, parseConfigText, watchConfig } from '../../runtime/config/index.js';
import { waitFor } from '../harness/wait.js';

const dirs: string[] = [];
afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }); });
function home(text?: string): string {
  const d = mkdtempSync(join(tmpdir(), 'orch-config-'));
  dirs.push(d);
  if (text !== undefined) writeFileSync(join(d, 'config.yml'), text);
  return d;
}

function errorOf(text: string): ConfigError {
  try {
    parseConfigText(text, '/h/config.yml');
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('config', () => {
  it('a missing config.yml gives the defaults', async () => {
    const { config } = await loadGlobalConfig(home());
    expect(config.workflow.max_attempts).toBe(5);
    expect(config.node.slots).toBe(4);
    expect(config.database.url).toBeUndefined();
  });

  it('reads the Rust orch format and merges over defaults', async () => {
    const { config, warnings } = await loadGlobalConfig(home([
      'workflow:', '  max_attempts: 3', '  timeout_seconds: 600',
      'model_map:', '  complex:', '    claude: opus', '    codex: [gpt-5, o3]',
      'agents:', '  claude:', '    command: /opt/claude', '    env:', '      ANTHROPIC_BASE_URL: http://127.0.0.1:9',
      'git:', '  name: bot', '',
    ].join('\n')));
    expect(warnings).toEqual([]);
    expect(config.workflow).toMatchObject({ max_attempts: 3, timeout_seconds: 600, auto_close: true });
    // Tiers merge over the shipped defaults (kimi/minimax/codex models), the user's entries winning.
    expect(config.model_map.complex).toEqual({ claude: 'opus', codex: ['gpt-5', 'o3'], kimi: 'kimi-k2-thinking', minimax: 'MiniMax-M2' });
    expect(config.model_map.simple).toMatchObject({ claude: 'haiku' });
    expect(config.agents.claude).toEqual({ command: '/opt/claude', env: { ANTHROPIC_BASE_URL: 'http://127.0.0.1:9' } });
    expect(config.git).toEqual({ name: 'bot', email: 'orch@localhost' });
    expect(getKey(config, 'workflow.max_attempts')).toBe(3);
    expect(getKey(config, 'nope.nothing')).toBeUndefined();
  });

  it('names file, line and key for a wrong type', () => {
    const e = errorOf('workflow:\n  auto_close: true\n  max_attempts: many\n');
    expect(e.message).toBe('/h/config.yml:3:17: workflow.max_attempts: expected a positive integer, got "many"');
    expect(e.message.split('\n')).toHaveLength(1);
  });

  it('names the line of a YAML syntax error', () => {
    const e = errorOf('workflow:\n  max_attempts: 3\n  timeout_seconds: [1, 2\n');
    expect(e.file).toBe('/h/config.yml');
    expect(e.line).toBe(4);
    expect(e.message).toMatch(/^\/h\/config\.yml:4:1: .*end with a \]/);
    expect(e.message.split('\n')).toHaveLength(1);
  });

  it('rejects bad enums, non-maps and unset ${VAR}s with the key', () => {
    expect(errorOf('router:\n  mode: magic\n').message).toBe('/h/config.yml:2:9: router.mode: expected one of llm, round_robin, got "magic"');
    expect(errorOf('router:\n  weights:\n    claude: -1\n').message).toBe('/h/config.yml:3:13: router.weights.claude: expected a non-negative integer, got -1');
    expect(errorOf('router:\n  max_tries: 0\n').message).toBe('/h/config.yml:2:14: router.max_tries: expected a positive integer, got 0');
    expect(errorOf('- a\n- b\n').message).toMatch(/the file must be a map/);
    expect(errorOf('agents:\n  claude:\n    env:\n      KEY: ${ORCH_TEST_SURELY_UNSET}\n').message)
      .toBe('/h/config.yml:4:12: agents.claude.env.KEY: environment variable ORCH_TEST_SURELY_UNSET is not set');
  });

  it('expands ${VAR} and warns (does not fail) on unknown keys', () => {
    process.env.ORCH_TEST_KEY = 'sk-123';
    const { config, warnings } = parseConfigText('agents:\n  claude:\n    env:\n      KEY: ${ORCH_TEST_KEY}\nfuture_key: 1\n', '/h/c.yml');
    expect(getKey(config, 'agents.claude.env.KEY')).toBe('sk-123');
    expect(warnings).toEqual(['/h/c.yml:5: unknown key future_key (ignored)']);
  });

  it('a project .orch.yml overrides the global config', async () => {
    const { config: global } = await loadGlobalConfig(home('workflow:\n  max_attempts: 4\n'));
    const project = home();
    writeFileSync(join(project, '.orch.yml'), 'required_tools: [cargo]\nworkflow:\n  timeout_seconds: 60\n');
    const { config } = await loadProjectConfig(global, project);
    expect(config.required_tools).toEqual(['cargo']);
    expect(config.workflow).toMatchObject({ max_attempts: 4, timeout_seconds: 60 });
    expect(global.required_tools).toEqual([]);
  });
});

describe('watchConfig', () => {
  it('an editor that truncates config.yml and writes it a moment later: the running orch never applies an empty config', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'orch-watch-'));
    const file = join(dir, 'config.yml');
    writeFileSync(file, 'agents:\n  a:\n    kind: command\n    command: /bin/true\n');
    const seen: string[][] = [];
    const stop = watchConfig(file, (c) => seen.push(Object.keys(c.agents ?? {})), () => undefined);
    try {
      writeFileSync(file, ''); // the truncate
      await new Promise((r) => setTimeout(r, 150)); // the editor's pause between truncate and write
      writeFileSync(file, 'agents:\n  b:\n    kind: command\n    command: /bin/true\n');
      await waitFor(() => seen.some((a) => a.includes('b')), { what: 'the new config' });
      expect(seen.every((a) => a.length > 0)).toBe(true);
      // A config really emptied is applied, once it stays empty.
      writeFileSync(file, '');
      await waitFor(() => seen.at(-1)?.length === 0, { what: 'the emptied config' });
    } finally {
      stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
