-- status:* labels follow each transition: the last task_events row whose status the issue's
-- label has shown (0: none yet, or synced before this column, when only the current one counts).
alter table github_task_sync add column label_event bigint not null default 0;
