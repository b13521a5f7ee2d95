-- Agents (issue 7): the full token convention per attempt, persisted cooldowns of
-- agents/models after rate limits and auth failures, and parent/child tasks for delegations.
alter table attempts add column cache_read_tokens  bigint not null default 0;  -- input_tokens excludes these
alter table attempts add column cache_write_tokens bigint not null default 0;
alter table attempts add column cost_source        text not null default '';   -- agent | pricing | ''
create index attempts_finished_at_idx on attempts (finished_at);

create table cooldowns (
  scope      text primary key,                    -- `agent` or `agent/model`
  until      timestamptz not null,
  strikes    int not null default 1,              -- consecutive cooldowns: the backoff exponent
  error_class text not null default '',
  reason     text not null default '',
  updated_at timestamptz not null default now()
);

alter table tasks add column parent_id bigint references tasks (id) on delete set null;
create index tasks_parent_id_idx on tasks (parent_id);
