-- The task store: projects, tasks with their history (task_events) and attempts, and the
-- last snapshot each agent-node reported. A task's status changes only together with a
-- task_events row, in one transaction (see Store.transition).

create table projects (
  name           text primary key,              -- owner/repo
  path           text not null default '',      -- local checkout it was added from, if any
  remote         text not null,                 -- the git remote every node mirrors from
  default_branch text not null default 'main',
  created_at     timestamptz not null default now()
);

create table tasks (
  id            bigserial primary key,
  project       text not null references projects (name),
  title         text not null,
  body          text not null default '',
  status        text not null check (status in ('new', 'routed', 'in_progress', 'in_review', 'needs_review', 'blocked', 'done')),
  agent         text not null default '',
  model         text not null default '',
  complexity    text not null default '',
  labels        text[] not null default '{}',
  branch        text not null default '',
  summary       text not null default '',
  reason        text not null default '',
  attempts      int not null default 0,          -- attempts started so far = number of the latest
  files_changed text[] not null default '{}',
  memory        jsonb not null default '[]',     -- what earlier attempts learned, for the next prompt
  created_at    timestamptz not null default now(),
  updated_at    timestamptz not null default now()
);
create index tasks_status_idx on tasks (status);
create index tasks_project_idx on tasks (project);

create table task_events (
  id          bigserial primary key,
  task_id     bigint not null references tasks (id) on delete cascade,
  at          timestamptz not null default now(),
  from_status text,                              -- null for 'created'
  to_status   text not null,
  event       text not null,
  detail      text not null default ''
);
create index task_events_task_id_idx on task_events (task_id);

create table attempts (
  task_id       bigint not null references tasks (id) on delete cascade,
  number        int not null,
  token         text not null unique,            -- fencing token: reports must carry it
  node          text not null default '',
  agent         text not null default '',
  model         text not null default '',
  state         text not null check (state in ('assigned', 'running', 'succeeded', 'failed', 'lost', 'killed')),
  exit_code     int,
  started_at    timestamptz,
  finished_at   timestamptz,
  summary       text not null default '',
  error_class   text not null default '',
  error_message text not null default '',
  dir           text not null default '',        -- artifact directory on the node
  worktree      text not null default '',
  session       text not null default '',        -- tmux session name
  input_tokens  bigint not null default 0,
  output_tokens bigint not null default 0,
  cost_usd      double precision not null default 0,
  duration_ms   bigint not null default 0,
  result        jsonb,
  created_at    timestamptz not null default now(),
  primary key (task_id, number)
);
create index attempts_state_idx on attempts (state);

create table nodes (
  name      text primary key,
  info      jsonb not null,
  last_seen timestamptz not null
);
