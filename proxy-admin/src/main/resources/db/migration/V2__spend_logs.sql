-- Spend logs: one row per request (io.sluice.usage.UsageEvent), LiteLLM's LiteLLM_SpendLogs in Sluice's names.
-- request_id is the primary key: the writer inserts with ON CONFLICT (request_id) DO NOTHING and adds spend to
-- keys/users/teams only for rows it actually inserted, so a replayed batch never counts twice.
-- No foreign keys: a deleted key, user or team keeps its spend history. api_key is the key's SHA-256 hex (null for
-- the master key), never a key. No CHECK constraints either: a row the database refuses would stall the batch.
-- Written for jOOQ's build-time DDL reader too (H2-based): VARCHAR, not TEXT; TIMESTAMP WITH TIME ZONE.

CREATE TABLE sluice_spend_logs (
  request_id        VARCHAR PRIMARY KEY,
  api_key           VARCHAR,
  key_alias         VARCHAR,
  user_id           VARCHAR,
  team_id           VARCHAR,
  route             VARCHAR NOT NULL,
  model_group       VARCHAR,
  model_id          VARCHAR,
  prompt_tokens     BIGINT NOT NULL DEFAULT 0,
  completion_tokens BIGINT NOT NULL DEFAULT 0,
  total_tokens      BIGINT NOT NULL DEFAULT 0,
  tokens_estimated  BOOLEAN NOT NULL DEFAULT FALSE,
  spend             DOUBLE PRECISION NOT NULL DEFAULT 0,
  start_time        TIMESTAMP WITH TIME ZONE NOT NULL,
  end_time          TIMESTAMP WITH TIME ZONE NOT NULL,
  status            INTEGER NOT NULL,
  outcome           VARCHAR NOT NULL,
  stream            BOOLEAN NOT NULL DEFAULT FALSE,
  stream_finished   BOOLEAN NOT NULL DEFAULT FALSE
);

-- /spend/logs filters by one of these and pages newest first.
CREATE INDEX sluice_spend_logs_key_time ON sluice_spend_logs (api_key, start_time);
CREATE INDEX sluice_spend_logs_user_time ON sluice_spend_logs (user_id, start_time);
CREATE INDEX sluice_spend_logs_team_time ON sluice_spend_logs (team_id, start_time);
CREATE INDEX sluice_spend_logs_time ON sluice_spend_logs (start_time);
