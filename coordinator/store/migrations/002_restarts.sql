-- What a fleet that restarts needs: attempts that count against max_attempts (only those
-- that really ran, and only since the last retry/run), the branch head the coordinator last
-- accepted (pushes lease against it), nodes an operator drained, and the leadership epoch.

alter table tasks add column spent int not null default 0;   -- attempts that ran since the last reset
update tasks set spent = attempts;
alter table tasks add column head text not null default '';  -- task branch head of the last accepted push

alter table nodes add column drained text;                   -- null: placeable; else why it is drained

create table leadership (
  id     int primary key check (id = 1),
  epoch  bigint not null,                                    -- rises at every takeover; writes carry it
  holder text not null,                                      -- who leads: host, pid, address
  since  timestamptz not null default now()
);
