// Names that reach paths, git refs, tmux and shells: checked where they enter, so no
// value from config, GitHub or a task can escape $ORCH_HOME or run as a command.

const SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$/;

/** Why `name` is not a valid project name (`owner/repo`), or undefined when it is. */
export function projectNameProblem(name: string): string | undefined {
  const parts = name.split('/');
  if (parts.length !== 2) return `"${name}" is not of the form owner/repo`;
  for (const p of parts) {
    if (!SEGMENT.test(p) || p === '..' || p.endsWith('.git') && p.length === 4) {
      return `"${name}": owner and repo may hold only letters, digits, '.', '_' and '-', and may not start with '.' or '-'`;
    }
    if (p.includes('..')) return `"${name}": ".." is not allowed in a project name`;
  }
  return undefined;
}

/** Why `branch` is not a branch orch may use, or undefined. */
export function branchProblem(branch: string): string | undefined {
  if (!/^[A-Za-z0-9_][A-Za-z0-9_./-]{0,199}$/.test(branch) || branch.includes('..') || branch.includes('//') || branch.endsWith('/') || branch.endsWith('.lock')) {
    return `"${branch}" is not a branch name orch uses (letters, digits, '/', '.', '_', '-'; no '..')`;
  }
  return undefined;
}

/** Why `name` is not a valid node name (it becomes a certificate's CN and a subject token), or undefined. */
export function nodeNameProblem(name: string): string | undefined {
  return /^[A-Za-z0-9_-]{1,64}$/.test(name) ? undefined : `node name "${name}" must be 1-64 letters, digits, - or _`;
}
