-- Routing decisions: one row each time a task is routed (the latest is what `orch task get`
-- shows), with how the agent was chosen, why, and the router's own usage when an LLM routed.
create table task_routes (
  id                 bigserial primary key,
  task_id            bigint not null references tasks (id) on delete cascade,
  at                 timestamptz not null default now(),
  mode               text not null,                 -- llm or round_robin
  source             text not null,                 -- explicit, label, llm, fallback, round_robin
  agent              text not null,
  model              text not null default '',
  complexity         text not null,
  reason             text not null default '',
  router_agent       text not null default '',      -- mode llm: the agent that routed
  router_model       text not null default '',
  router_node        text not null default '',
  tries              integer not null default 0,    -- routing calls made (0: none asked)
  router_error       text not null default '',      -- why the router's answer was not used
  input_tokens       bigint not null default 0,
  cache_read_tokens  bigint not null default 0,
  cache_write_tokens bigint not null default 0,
  output_tokens      bigint not null default 0,
  cost_usd           double precision not null default 0,
  duration_ms        bigint not null default 0
);
create index task_routes_task on task_routes (task_id, id);

-- Bash jobs: how long a run may take; each run keeps where it ran, how it ended and its output.
alter table jobs add column timeout_seconds integer not null default 600;
alter table job_runs
  add column node        text not null default '',
  add column exit_code   integer,
  add column output      text not null default '',
  add column duration_ms bigint not null default 0,
  add column finished_at timestamptz;
