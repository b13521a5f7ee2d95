-- The review agent (workflow.enable_review_agent): which PR head it reviewed and what it
-- decided, so a head is reviewed once and its approval counts toward auto-merge.
alter table github_task_sync add column review_agent_head text not null default '';
alter table github_task_sync add column review_agent_verdict text not null default '';  -- approve, request_changes, error
