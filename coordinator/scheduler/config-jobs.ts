// Jobs declared in config files (`jobs:` in config.yml and in a project's .orch.yml, the
// Rust orch's format), checked and turned into job rows. Pure: the caller stores them.
import type { NewJob } from '../store/jobs.js';
import { parseSchedule } from './cron.js';

export interface ConfigJobSource {
  /** Where the list came from, for messages (e.g. `/home/me/.orch/config.yml`). */
  file: string;
  jobs: unknown[];
  /** The project these jobs belong to (a project's .orch.yml), if the file says nothing. */
  project?: string;
}

export const JOB_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

/** Rows for every valid job, and one message per invalid one (file, index, id, reason). */
export function configJobs(sources: ConfigJobSource[], projects: string[]): { jobs: NewJob[]; problems: string[] } {
  const jobs: NewJob[] = [];
  const problems: string[] = [];
  for (const src of sources) {
    src.jobs.forEach((raw, i) => {
      const j = (raw ?? {}) as Record<string, any>;
      const where = `${src.file}: jobs[${i}]${typeof j.id === 'string' ? ` (${j.id})` : ''}`;
      const bad = (why: string) => problems.push(`${where}: ${why}`);
      if (typeof j.id !== 'string' || !JOB_ID.test(j.id)) return bad('id: expected letters, digits, - or _ (up to 64)');
      if (typeof j.schedule !== 'string') return bad('schedule: expected a cron expression');
      const tz = typeof j.timezone === 'string' ? j.timezone : typeof j.tz === 'string' ? j.tz : '';
      const cron = parseSchedule(j.schedule, tz);
      if (typeof cron === 'string') return bad(`schedule: ${cron}`);
      const type = j.type ?? 'task';
      if (type !== 'task' && type !== 'bash') return bad(`type: expected task or bash, got ${JSON.stringify(type)}`);
      const task = (j.task ?? {}) as Record<string, unknown>;
      const title = typeof task.title === 'string' ? task.title : typeof j.title === 'string' ? j.title : '';
      if (type === 'task' && !title.trim()) return bad('task.title: a task job needs a title');
      if (type === 'bash' && typeof j.command !== 'string') return bad('command: a bash job needs a command');
      const project = typeof j.project === 'string' ? j.project : src.project ?? (projects.length === 1 ? projects[0] : undefined);
      if (!project) return bad('project: name the project (several are registered)');
      if (!projects.includes(project)) return bad(`project: ${project} is not registered`);
      if (jobs.some((x) => x.id === j.id)) return bad('id: another job has this id');
      const timeout = j.timeout_seconds;
      if (timeout !== undefined && !(Number.isInteger(timeout) && timeout > 0)) return bad(`timeout_seconds: expected a positive integer, got ${JSON.stringify(timeout)}`);
      jobs.push({
        id: j.id, project, schedule: j.schedule, timezone: tz, type, title: title || String(j.command ?? ''),
        body: typeof task.body === 'string' ? task.body : '', labels: Array.isArray(task.labels) ? task.labels.map(String) : [],
        command: typeof j.command === 'string' ? j.command : '', enabled: j.enabled !== false, source: 'config',
        ...(timeout !== undefined ? { timeoutSeconds: timeout } : {}),
      });
    });
  }
  return { jobs, problems };
}
