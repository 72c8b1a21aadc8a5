-- Daily spend rollup: one row per UTC day × key × user × team × model group, the sums of the spend-log rows with
-- that day and those ids. The usage reports (/global/spend/*, /spend/*, /*/daily/activity) read this table, never
-- sluice_spend_logs: a 30-day report over millions of requests reads days × groups rows, not the requests.
-- The spend writer keeps it in the same transaction as the spend-log insert and adds only the rows that insert
-- actually inserted (ON CONFLICT (request_id) DO NOTHING … RETURNING), so a replayed batch is never counted twice.
-- Ids are '' rather than NULL (NULLs are distinct in a primary key, so an upsert would never find its row); the
-- reports turn '' back into null. The master key's rows have api_key ''.
-- failures: requests that did not complete with a status below 400 (LiteLLM's status "failure").

CREATE TABLE sluice_spend_daily (
  day               DATE NOT NULL,
  api_key           VARCHAR NOT NULL DEFAULT '',
  user_id           VARCHAR NOT NULL DEFAULT '',
  team_id           VARCHAR NOT NULL DEFAULT '',
  model_group       VARCHAR NOT NULL DEFAULT '',
  requests          BIGINT NOT NULL DEFAULT 0,
  failures          BIGINT NOT NULL DEFAULT 0,
  prompt_tokens     BIGINT NOT NULL DEFAULT 0,
  completion_tokens BIGINT NOT NULL DEFAULT 0,
  total_tokens      BIGINT NOT NULL DEFAULT 0,
  spend             DOUBLE PRECISION NOT NULL DEFAULT 0,
  PRIMARY KEY (day, api_key, user_id, team_id, model_group)
);

-- The primary key serves date ranges over everything; these serve one user's (an internal user's own view), one
-- key's and one team's range.
CREATE INDEX sluice_spend_daily_user_day ON sluice_spend_daily (user_id, day);
CREATE INDEX sluice_spend_daily_key_day ON sluice_spend_daily (api_key, day);
CREATE INDEX sluice_spend_daily_team_day ON sluice_spend_daily (team_id, day);

-- Rows written before this migration. (Not for jOOQ's build-time DDL reader: it only needs the table.)
-- [jooq ignore start]
INSERT INTO sluice_spend_daily (day, api_key, user_id, team_id, model_group, requests, failures, prompt_tokens,
    completion_tokens, total_tokens, spend)
SELECT (start_time AT TIME ZONE 'UTC')::date, COALESCE(api_key, ''), COALESCE(user_id, ''), COALESCE(team_id, ''),
    COALESCE(model_group, ''), count(*),
    count(*) FILTER (WHERE NOT (outcome = 'completed' AND status > 0 AND status < 400)),
    sum(prompt_tokens), sum(completion_tokens), sum(total_tokens), sum(spend)
FROM sluice_spend_logs
GROUP BY 1, 2, 3, 4, 5;
-- [jooq ignore stop]
