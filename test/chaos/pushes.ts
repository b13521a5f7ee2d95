// Which attempt moved a task branch on the origin. Pure: the caller reads the origin's
// reflog (every update of the branch, oldest first) and names the attempt each commit
// came from (the agent writes task-ID.txt = `task ID attempt N` in it; 0 = unknown).

export interface BranchHistory {
  /** The attempt behind each update of the branch on the origin, oldest first. */
  updates: number[];
  /** The attempt behind the branch's head now (0 if unknown or no branch). */
  head: number;
}

export interface BranchVerdict {
  /** Updates by attempts other than the one that succeeded. */
  otherPushes: number;
  /** The head is not the succeeded attempt's, or another attempt's push came after it. */
  moved: boolean;
}

export function judgeBranch(succeeded: number, h: BranchHistory): BranchVerdict {
  const otherPushes = h.updates.filter((a) => a !== succeeded).length;
  const firstOwn = h.updates.indexOf(succeeded);
  const overwritten = firstOwn >= 0 && h.updates.slice(firstOwn + 1).some((a) => a !== succeeded);
  return { otherPushes, moved: h.head !== succeeded || overwritten };
}

/** `task 12 attempt 2` -> 2; anything else -> 0. */
export function attemptOf(fileText: string, taskId: number): number {
  const m = /^task (\d+) attempt (\d+)\s*$/.exec(fileText);
  return m && Number(m[1]) === taskId ? Number(m[2]) : 0;
}

/** New object names from a reflog file (`OLD NEW NAME <EMAIL> TS TZ\tMSG` lines), oldest first; deletions skipped. */
export function reflogTargets(text: string): string[] {
  return text.split('\n').map((l) => l.split(' ')[1]).filter((sha): sha is string => !!sha && /^[0-9a-f]{40,64}$/.test(sha) && !/^0+$/.test(sha));
}
