// Where orch's GitHub credentials come from, in the Rust orch's order: GH_TOKEN,
// GITHUB_TOKEN, gh.auth.token, then `gh auth token` (when gh.allow_gh_fallback); or a
// GitHub App (gh.token_mode: github_app) whose installation tokens @octokit/auth-app
// mints and refreshes. The choice is pure; reading the key and running gh are the I/O.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { OrchConfig } from '../../runtime/config/index.js';
import { registerSecret } from '../../runtime/redact.js';

export type AuthSource = 'GH_TOKEN' | 'GITHUB_TOKEN' | 'gh.auth.token' | 'gh auth token' | 'github_app';

export type GitHubAuth =
  | { source: Exclude<AuthSource, 'github_app'>; token: string }
  | { source: 'github_app'; appId: number; privateKey: string; installationId?: number; keyPath: string };

export class GitHubAuthError extends Error {
  readonly errorClass = 'Auth';
  constructor(message: string) {
    super(message);
    this.name = 'GitHubAuthError';
  }
}

export interface AuthInputs {
  env: Record<string, string | undefined>;
  config: Pick<OrchConfig, 'gh' | 'github'>;
}

/** App settings from gh.* (or the Rust orch's github.* block), when app mode is on. */
export function appSettings(config: AuthInputs['config']): { appId?: string; keyPath?: string; installationId?: string } | undefined {
  const mode = config.gh.token_mode ?? config.github?.token_mode;
  if (mode !== 'github_app') return undefined;
  return {
    appId: config.gh.app_id ?? config.github?.app_id,
    keyPath: config.gh.private_key_path ?? config.github?.private_key_path,
    installationId: config.gh.installation_id ?? config.github?.installation_id,
  };
}

/** The token source to use before asking gh, or what is missing. Pure. */
export function chooseTokenSource(i: AuthInputs): { source: Exclude<AuthSource, 'github_app' | 'gh auth token'>; token: string } | 'gh' | 'none' {
  if (i.env.GH_TOKEN) return { source: 'GH_TOKEN', token: i.env.GH_TOKEN };
  if (i.env.GITHUB_TOKEN) return { source: 'GITHUB_TOKEN', token: i.env.GITHUB_TOKEN };
  if (i.config.gh.auth?.token) return { source: 'gh.auth.token', token: i.config.gh.auth.token };
  return i.config.gh.allow_gh_fallback === false ? 'none' : 'gh';
}

function ghAuthToken(host: string | undefined): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile('gh', ['auth', 'token', ...(host ? ['--hostname', host] : [])], { timeout: 10_000 }, (err, out) => resolve(err ? undefined : String(out).trim() || undefined));
  });
}

/** Resolve credentials; throws GitHubAuthError with what to do when there are none. */
export async function resolveAuth(i: AuthInputs, runGh: (host?: string) => Promise<string | undefined> = ghAuthToken): Promise<GitHubAuth> {
  const app = appSettings(i.config);
  if (app) {
    if (!app.appId || !/^\d+$/.test(app.appId)) throw new GitHubAuthError('gh.token_mode is github_app but gh.app_id is not set to the numeric App ID');
    if (!app.keyPath) throw new GitHubAuthError('gh.token_mode is github_app but gh.private_key_path is not set');
    let privateKey: string;
    try {
      privateKey = readFileSync(app.keyPath, 'utf8');
    } catch (err) {
      throw new GitHubAuthError(`gh.private_key_path ${app.keyPath}: ${(err as Error).message}`);
    }
    if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(privateKey)) throw new GitHubAuthError(`gh.private_key_path ${app.keyPath} does not hold a PEM private key`);
    registerSecret(privateKey);
    return { source: 'github_app', appId: Number(app.appId), privateKey, keyPath: app.keyPath, ...(app.installationId ? { installationId: Number(app.installationId) } : {}) };
  }
  const c = chooseTokenSource(i);
  if (typeof c === 'object') { registerSecret(c.token); return c; }
  if (c === 'gh') {
    const host = new URL(i.config.gh.api_url).hostname.replace(/^api\./, '');
    const token = await runGh(host === 'github.com' ? undefined : host);
    if (token) { registerSecret(token); return { source: 'gh auth token', token }; }
  }
  throw new GitHubAuthError('no GitHub credentials: set GH_TOKEN or GITHUB_TOKEN, set gh.auth.token in config.yml, '
    + (c === 'none' ? 'or enable gh.allow_gh_fallback to use `gh auth token`' : 'or run `gh auth login` (gh auth token found nothing)')
    + ', or configure a GitHub App (gh.token_mode: github_app)');
}
