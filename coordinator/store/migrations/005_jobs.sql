-- Scheduled jobs (cron) and their runs. A run is keyed by (job, scheduled time): however many
-- coordinators tick, each scheduled time fires once (the insert that wins creates the task).

create table jobs (
  id          text primary key,
  project     text not null references projects (name) on delete cascade,
  schedule    text not null,                 -- 5- or 6-field cron expression
  timezone    text not null default '',      -- IANA zone ('' = the coordinator's)
  type        text not null default 'task' check (type in ('task', 'bash')),
  title       text not null default '',
  body        text not null default '',
  labels      text[] not null default '{}',
  command     text not null default '',
  enabled     boolean not null default true,
  source      text not null default 'cli' check (source in ('cli', 'config')),
  created_at  timestamptz not null default now()
);

create table job_runs (
  job_id       text not null references jobs (id) on delete cascade,
  scheduled_at timestamptz not null,
  fired_at     timestamptz not null default now(),
  task_id      bigint references tasks (id) on delete set null,
  outcome      text not null,                  -- fired, skipped (previous run still open)
  primary key (job_id, scheduled_at)
);
