-- LiteLLM's budget table (LiteLLM_BudgetTable), end users (LiteLLM_EndUserTable: the `user` a request names, also
-- called customers) and per-member budgets within a team (LiteLLM_TeamMembership.budget_id / spend).
-- A budget row is shared: /budget/new creates named ones ("free_tier") that end users link by budget_id; an end
-- user's inline max_budget and /team/member_update's max_budget_in_team create a row of their own.
-- Written for jOOQ's build-time DDL reader too (H2-based): VARCHAR, not TEXT; TIMESTAMP WITH TIME ZONE.

CREATE TABLE sluice_budgets (
  budget_id             VARCHAR PRIMARY KEY,
  max_budget            DOUBLE PRECISION,
  soft_budget           DOUBLE PRECISION,
  max_parallel_requests INTEGER,
  tpm_limit             BIGINT,
  rpm_limit             BIGINT,
  model_max_budget      JSONB,
  budget_duration       VARCHAR,
  budget_reset_at       TIMESTAMP WITH TIME ZONE,
  created_by            VARCHAR,
  updated_by            VARCHAR,
  created_at            TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
  updated_at            TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now()
);

-- An end user's budget_id may only name a budget that exists; /budget/delete refuses a budget still in use
-- (LiteLLM's schema sets the link to null, silently lifting the limit), so RESTRICT is never hit in practice.
CREATE TABLE sluice_end_users (
  user_id              VARCHAR PRIMARY KEY,
  alias                VARCHAR,
  spend                DOUBLE PRECISION NOT NULL DEFAULT 0,
  allowed_model_region VARCHAR,
  default_model        VARCHAR,
  budget_id            VARCHAR REFERENCES sluice_budgets (budget_id) ON DELETE RESTRICT,
  blocked              BOOLEAN NOT NULL DEFAULT FALSE,
  created_at           TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
  updated_at           TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now()
);

CREATE INDEX sluice_end_users_budget ON sluice_end_users (budget_id);

ALTER TABLE sluice_team_members ADD COLUMN budget_id VARCHAR REFERENCES sluice_budgets (budget_id) ON DELETE RESTRICT;
ALTER TABLE sluice_team_members ADD COLUMN spend DOUBLE PRECISION NOT NULL DEFAULT 0;

CREATE INDEX sluice_team_members_budget ON sluice_team_members (budget_id);
