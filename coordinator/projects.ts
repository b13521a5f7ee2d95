// Resolving what `orch project add PATH|URL|owner/repo` names: the project's name
// (owner/repo), the remote every node mirrors from, and its default branch.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, isAbsolute, join, resolve } from 'node:path';
import { parse } from 'yaml';
import { git } from '../runtime/git.js';
import { projectNameProblem } from '../runtime/names.js';

export interface ResolvedProject {
  name: string;
  path: string;
  remote: string;
  defaultBranch: string;
}

export class ProjectError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProjectError';
  }
}

/** owner/repo from a GitHub-style URL or path, if it has that shape. */
export function nameFromRemote(remote: string): string | undefined {
  const m = remote.match(/github\.com[:/]+([^/]+)\/([^/]+?)(?:\.git)?\/?$/);
  if (m) return `${m[1]}/${m[2]}`;
  return undefined;
}

function repoFromOrchYml(dir: string): string | undefined {
  const f = join(dir, '.orch.yml');
  if (!existsSync(f)) return undefined;
  try {
    const doc = parse(readFileSync(f, 'utf8')) as { gh?: { repo?: unknown } } | null;
    return typeof doc?.gh?.repo === 'string' && doc.gh.repo.includes('/') ? doc.gh.repo : undefined;
  } catch {
    return undefined; // the config loader reports syntax errors with positions; here the name is optional
  }
}

function sanitize(s: string): string {
  return s.replace(/\.git$/, '').replace(/[^A-Za-z0-9._-]/g, '-');
}

async function defaultBranchOf(remote: string): Promise<string> {
  try {
    const out = await git(['ls-remote', '--symref', remote, 'HEAD'], { timeoutMs: 30_000 });
    const m = out.match(/^ref: refs\/heads\/(\S+)\s+HEAD/m);
    if (m) return m[1];
  } catch {
    // fall through: an empty or unreachable remote still gets a sensible default
  }
  return 'main';
}

export async function resolveProject(input: string, cwd: string = process.cwd()): Promise<ResolvedProject> {
  const p = await resolveProjectUnchecked(input, cwd);
  const problem = projectNameProblem(p.name);
  if (problem) throw new ProjectError(`project name ${problem} (from gh.repo in .orch.yml, or the remote)`);
  return p;
}

async function resolveProjectUnchecked(input: string, cwd: string): Promise<ResolvedProject> {
  const spec = input.trim() || cwd;
  // owner/repo shorthand (and not an existing relative path)
  if (/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/.test(spec) && !existsSync(resolve(cwd, spec))) {
    const remote = `https://github.com/${spec}.git`;
    return { name: spec.replace(/\.git$/, ''), path: '', remote, defaultBranch: 'main' };
  }
  if (/^(https?|ssh|git|file):\/\//.test(spec) || /^[^/]+@[^:]+:/.test(spec)) {
    const name = nameFromRemote(spec) ?? `local/${sanitize(basename(spec.replace(/\/+$/, '')))}`;
    return { name, path: '', remote: spec, defaultBranch: await defaultBranchOf(spec) };
  }
  const path = isAbsolute(spec) ? spec : resolve(cwd, spec);
  if (!existsSync(path) || !statSync(path).isDirectory()) throw new ProjectError(`${path}: no such directory`);
  let top: string;
  let bare = false;
  try {
    bare = (await git(['rev-parse', '--is-bare-repository'], { cwd: path })).trim() === 'true';
    top = bare ? path : (await git(['rev-parse', '--show-toplevel'], { cwd: path })).trim();
  } catch {
    throw new ProjectError(`${path} is not a git repository (run \`git init\` there first)`);
  }
  let remote = top;
  if (!bare) {
    try {
      const origin = (await git(['remote', 'get-url', 'origin'], { cwd: top })).trim();
      if (origin) remote = isAbsolute(origin) || /^[a-z]+:\/\//.test(origin) || origin.includes('@') ? origin : resolve(top, origin);
    } catch {
      // no origin: the checkout itself is the remote nodes mirror from
    }
  }
  const name = repoFromOrchYml(top) ?? nameFromRemote(remote) ?? `local/${sanitize(basename(top))}`;
  return { name, path: top, remote, defaultBranch: await defaultBranchOf(remote) };
}
