-- GitHub as the source of truth: the issue and PR a task mirrors, what orch last told
-- GitHub about each task (so sync out sends only changes and survives restarts), and the
-- poll cursors (ETag, since) that keep an idle repository nearly free.

alter table tasks add column issue_number int;    -- null: an internal task
alter table tasks add column pr_number int;       -- the PR orch opened for the task's branch
create unique index tasks_project_issue_idx on tasks (project, issue_number) where issue_number is not null;

create table github_task_sync (
  task_id           bigint primary key references tasks (id) on delete cascade,
  issue_node_id     text not null default '',
  status_label      text not null default '',     -- the status:* label last applied
  commented_attempt int not null default 0,       -- result comments posted up to this attempt
  delegated_attempt int not null default 0,       -- delegations made sub-issues up to this attempt
  board_item        text not null default '',     -- Projects V2 item id
  board_column      text not null default '',     -- Status option last set
  issue_closed      boolean not null default false,
  pr_judged_head    text not null default '',     -- head SHA whose CI failure was already sent back
  ci_fixes          int not null default 0,       -- times CI sent the task back
  review_seen       bigint not null default 0     -- newest PR review already acted on
);

create table github_cursors (
  project text not null,
  name    text not null,                          -- which list: issues, comments
  since   text not null default '',               -- ISO time of the newest update seen
  etag    text not null default '',
  primary key (project, name)
);
