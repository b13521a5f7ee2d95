-- Each task's life is one trace: the W3C context of its intake span, parent of every later span.
alter table tasks add column trace jsonb not null default '{}';
