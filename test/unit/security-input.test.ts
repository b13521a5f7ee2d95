// Input that cannot escape, and secrets never shown (issue 9's findings):
// hostile gh.repo values, ${VAR} in a repository's .orch.yml, `orch config` output,
// JSON-escaped secrets in logs, and who may listen without a token.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { resolveProject } from '../../coordinator/projects.js';
import { ConfigError, defaultConfig, loadProjectConfig } from '../../runtime/config/index.js';
import { maskSecrets } from '../../runtime/config/mask.js';
import { isLoopbackListen, resolveToken } from '../../runtime/grpc-auth.js';
import { branchProblem, projectNameProblem } from '../../runtime/names.js';
import { redactDeep, registerSecret } from '../../runtime/redact.js';

const dirs: string[] = [];
afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }); });
function project(orchYml: string): string {
  const d = mkdtempSync(join(tmpdir(), 'orch-sec-'));
  dirs.push(d);
  writeFileSync(join(d, '.orch.yml'), orchYml);
  return d;
}

describe('input that cannot escape', () => {
  it.each([
    ['a/x$(id>/tmp/p)'], ['../../../etc'], ['owner/..'], ['owner/repo/extra'], ['-rf/x'], ['.hidden/x'], ['a/b c'], ['a/`id`'],
  ])('a hostile gh.repo %s is refused with the file, line and key', async (repo) => {
    const dir = project(`workflow:\n  max_attempts: 2\ngh:\n  repo: ${JSON.stringify(repo)}\n`);
    const err = await loadProjectConfig(defaultConfig(), dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toContain(`${join(dir, '.orch.yml')}:4`);
    expect((err as Error).message).toContain('gh.repo');
    await expect(resolveProject(dir)).rejects.toThrow(/project name|not a git repository/);
  });

  it('accepts ordinary names and branches', () => {
    expect(projectNameProblem('gabrielkoerich/orch')).toBeUndefined();
    expect(projectNameProblem('local/my.repo_2')).toBeUndefined();
    expect(branchProblem('orch/12-fix-the-login')).toBeUndefined();
    expect(branchProblem('orch/../../x')).toMatch(/not a branch/);
    expect(branchProblem('-x')).toMatch(/not a branch/);
  });

  it('a repository\'s .orch.yml does not expand ${VAR} from the coordinator\'s environment', async () => {
    process.env.ORCH_TEST_HIDDEN = 'coordinator-secret-value';
    try {
      const dir = project('agents:\n  claude:\n    env:\n      LEAK: ${ORCH_TEST_HIDDEN}\n');
      const { config } = await loadProjectConfig(defaultConfig(), dir);
      expect(config.agents.claude.env?.LEAK).toBe('${ORCH_TEST_HIDDEN}');
    } finally {
      delete process.env.ORCH_TEST_HIDDEN;
    }
  });

  it('a project named in config.yml\'s trusted_projects expands ${VAR}; a .orch.yml cannot trust itself', async () => {
    process.env.ORCH_TEST_HIDDEN = 'coordinator-secret-value';
    try {
      const dir = project('agents:\n  claude:\n    env:\n      KEY: ${ORCH_TEST_HIDDEN}\n');
      const global = { ...defaultConfig(), trusted_projects: ['acme/app'] };
      expect((await loadProjectConfig(global, dir, 'acme/app')).config.agents.claude.env?.KEY).toBe('coordinator-secret-value');
      expect((await loadProjectConfig(global, dir, 'acme/other')).config.agents.claude.env?.KEY).toBe('${ORCH_TEST_HIDDEN}');
      const selfTrusting = project('trusted_projects: [evil/repo]\nagents:\n  claude:\n    env:\n      KEY: ${ORCH_TEST_HIDDEN}\n');
      const r = await loadProjectConfig(defaultConfig(), selfTrusting, 'evil/repo');
      expect(r.config.agents.claude.env?.KEY).toBe('${ORCH_TEST_HIDDEN}');
      expect(r.config.trusted_projects).toBeUndefined();
      expect(r.warnings.join()).toMatch(/trusted_projects is ignored in a project's .orch.yml/);
    } finally {
      delete process.env.ORCH_TEST_HIDDEN;
    }
  });
});

describe('secrets never shown', () => {
  it('orch config masks tokens, passwords, agent env values and passwords in URLs', () => {
    const cfg = {
      cluster: { token: 'tok-123456', heartbeat_seconds: 2 },
      nats: { url: 'nats://orch:pw-123@nats:4222', password: 'pw-123' },
      database: { url: 'postgres://orch:dbpass@db:5432/orch' },
      agents: { claude: { command: '/usr/bin/claude', env: { ANTHROPIC_API_KEY: 'sk-ant-xyz', ANTHROPIC_BASE_URL: 'https://api' } } },
      gh: { auth: { token: 'ghp_abc' } },
    };
    const shown = JSON.stringify(maskSecrets(cfg));
    for (const s of ['tok-123456', 'pw-123', 'dbpass', 'sk-ant-xyz', 'ghp_abc']) expect(shown).not.toContain(s);
    expect(shown).toContain('/usr/bin/claude');
    expect(shown).toContain('"heartbeat_seconds":2');
    expect(maskSecrets('tok-1', ['cluster', 'token'])).toBe('********');
    expect(maskSecrets('postgres://orch:dbpass@db/orch', ['database', 'url'])).toBe('postgres://orch:********@db/orch');
  });

  it('a secret that JSON would escape is redacted before encoding', () => {
    const secret = 'pa"ss\\word-with-quote';
    registerSecret(secret);
    const line = JSON.stringify(redactDeep({ msg: 'start failed', err: `bad key ${secret}` }));
    expect(line).not.toContain('pa\\"ss');
    expect(line).toContain('[REDACTED]');
  });

  it('only loopback may be served without a token; the token can come from a file', () => {
    expect(isLoopbackListen('127.0.0.1:7400')).toBe(true);
    expect(isLoopbackListen('[::1]:7400')).toBe(true);
    expect(isLoopbackListen('0.0.0.0:7400')).toBe(false);
    expect(isLoopbackListen('10.0.0.2:7400')).toBe(false);
    const d = mkdtempSync(join(tmpdir(), 'orch-tok-'));
    dirs.push(d);
    mkdirSync(join(d, 'x'));
    writeFileSync(join(d, 'token'), 'from-a-file\n', { mode: 0o600 });
    expect(resolveToken(undefined, 'from-config', { ORCH_TOKEN_FILE: join(d, 'token') })).toBe('from-a-file');
    expect(resolveToken(undefined, 'from-config', {})).toBe('from-config');
    expect(() => resolveToken(undefined, undefined, { ORCH_TOKEN_FILE: join(d, 'missing') })).toThrow(/ORCH_TOKEN_FILE/);
  });
});
