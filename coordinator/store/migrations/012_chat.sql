-- orch chat: named sessions (their agent and model) and every message of the conversation.
CREATE TABLE chat_sessions (
  name        text PRIMARY KEY,
  agent       text NOT NULL DEFAULT '',
  model       text NOT NULL DEFAULT '',
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE chat_messages (
  id          bigserial PRIMARY KEY,
  session     text NOT NULL REFERENCES chat_sessions(name) ON DELETE CASCADE,
  role        text NOT NULL CHECK (role IN ('user', 'assistant', 'actions')),
  text        text NOT NULL,
  actions     jsonb NOT NULL DEFAULT '[]',
  agent       text NOT NULL DEFAULT '',
  model       text NOT NULL DEFAULT '',
  at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX chat_messages_session ON chat_messages (session, id);
