-- One row per relayed request (its x-request-id), written in batches by the spend writer. No foreign keys: a deleted
-- key, user or team keeps its spend history. `api_key` is the key's SHA-256 hex (as in sluice_keys.token), never a key.

CREATE TABLE sluice_spend_logs (
  request_id        VARCHAR PRIMARY KEY,
  api_key           VARCHAR,
  key_alias         VARCHAR,
  user_id           VARCHAR,
  team_id           VARCHAR,
  call_type         VARCHAR NOT NULL,
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

CREATE INDEX sluice_spend_logs_key_time ON sluice_spend_logs (api_key, start_time);
CREATE INDEX sluice_spend_logs_user_time ON sluice_spend_logs (user_id, start_time);
CREATE INDEX sluice_spend_logs_team_time ON sluice_spend_logs (team_id, start_time);
CREATE INDEX sluice_spend_logs_time ON sluice_spend_logs (start_time);
