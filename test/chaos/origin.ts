// Reads a task branch's history on a bare origin whose reflog records every update
// (core.logAllRefUpdates=always, set by enableReflog before the first push).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { git } from '../harness/orch.js';
import { attemptOf, reflogTargets, type BranchHistory } from './pushes.js';

export async function enableReflog(origin: string): Promise<void> {
  await git(['--git-dir', origin, 'config', 'core.logAllRefUpdates', 'always']);
}

async function attemptAt(origin: string, sha: string, taskId: number): Promise<number> {
  try {
    return attemptOf(await git(['--git-dir', origin, 'show', `${sha}:task-${taskId}.txt`]), taskId);
  } catch {
    return 0;
  }
}

export async function branchHistory(origin: string, branch: string, taskId: number): Promise<BranchHistory> {
  const log = join(origin, 'logs', 'refs', 'heads', ...branch.split('/'));
  const shas = existsSync(log) ? reflogTargets(readFileSync(log, 'utf8')) : [];
  const updates: number[] = [];
  for (const sha of shas) updates.push(await attemptAt(origin, sha, taskId));
  let head = 0;
  try {
    head = await attemptAt(origin, (await git(['--git-dir', origin, 'rev-parse', `refs/heads/${branch}`])).trim(), taskId);
  } catch { /* no such branch */ }
  return { updates, head };
}
