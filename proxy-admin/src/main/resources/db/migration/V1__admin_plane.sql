-- Sluice admin plane: users, teams, team members, virtual keys (stored only as SHA-256 hex), deployments.
-- VARCHAR without a length is PostgreSQL's TEXT; written so, jOOQ's build-time DDL reader (H2-based) can index it.
-- Keys: `token` is LiteLLM's hash_token(key) = SHA-256 hex of the whole "sk-..." string; `key_name` is "sk-...abcd".
-- Deployments: litellm_params.api_key is stored encrypted ("enc:v1:...") or as an os.environ/NAME reference,
-- never as plaintext.

CREATE TABLE sluice_users (
  user_id               VARCHAR PRIMARY KEY,
  user_email            VARCHAR,
  user_alias            VARCHAR,
  user_role             VARCHAR NOT NULL DEFAULT 'internal_user',
  models                VARCHAR[] NOT NULL DEFAULT '{}',
  max_budget            DOUBLE PRECISION,
  budget_duration       VARCHAR,
  budget_reset_at       TIMESTAMP WITH TIME ZONE,
  spend                 DOUBLE PRECISION NOT NULL DEFAULT 0,
  tpm_limit             BIGINT,
  rpm_limit             BIGINT,
  max_parallel_requests INTEGER,
  metadata              JSONB NOT NULL DEFAULT '{}',
  created_at            TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
  updated_at            TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now()
);

CREATE TABLE sluice_teams (
  team_id               VARCHAR PRIMARY KEY,
  team_alias            VARCHAR,
  models                VARCHAR[] NOT NULL DEFAULT '{}',
  max_budget            DOUBLE PRECISION,
  budget_duration       VARCHAR,
  budget_reset_at       TIMESTAMP WITH TIME ZONE,
  spend                 DOUBLE PRECISION NOT NULL DEFAULT 0,
  tpm_limit             BIGINT,
  rpm_limit             BIGINT,
  max_parallel_requests INTEGER,
  blocked               BOOLEAN NOT NULL DEFAULT FALSE,
  metadata              JSONB NOT NULL DEFAULT '{}',
  created_at            TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
  updated_at            TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now()
);

CREATE TABLE sluice_team_members (
  team_id    VARCHAR NOT NULL REFERENCES sluice_teams (team_id) ON DELETE CASCADE,
  user_id    VARCHAR NOT NULL REFERENCES sluice_users (user_id) ON DELETE CASCADE,
  role       VARCHAR NOT NULL DEFAULT 'user',
  created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
  PRIMARY KEY (team_id, user_id),
  CONSTRAINT sluice_team_members_role CHECK (role IN ('admin', 'user'))
);

CREATE INDEX sluice_team_members_user ON sluice_team_members (user_id);

CREATE TABLE sluice_keys (
  token                 VARCHAR PRIMARY KEY,
  key_name              VARCHAR NOT NULL,
  key_alias             VARCHAR UNIQUE,
  user_id               VARCHAR REFERENCES sluice_users (user_id),
  team_id               VARCHAR REFERENCES sluice_teams (team_id),
  models                VARCHAR[] NOT NULL DEFAULT '{}',
  max_budget            DOUBLE PRECISION,
  budget_duration       VARCHAR,
  budget_reset_at       TIMESTAMP WITH TIME ZONE,
  spend                 DOUBLE PRECISION NOT NULL DEFAULT 0,
  tpm_limit             BIGINT,
  rpm_limit             BIGINT,
  max_parallel_requests INTEGER,
  allowed_routes        VARCHAR[] NOT NULL DEFAULT '{}',
  metadata              JSONB NOT NULL DEFAULT '{}',
  key_type              VARCHAR NOT NULL DEFAULT 'default',
  blocked               BOOLEAN NOT NULL DEFAULT FALSE,
  expires               TIMESTAMP WITH TIME ZONE,
  created_by            VARCHAR,
  updated_by            VARCHAR,
  created_at            TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
  updated_at            TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
  CONSTRAINT sluice_keys_token_is_sha256_hex CHECK (char_length(token) = 64)
);

CREATE INDEX sluice_keys_user ON sluice_keys (user_id);
CREATE INDEX sluice_keys_team ON sluice_keys (team_id);

CREATE TABLE sluice_deployments (
  model_id       VARCHAR PRIMARY KEY,
  model_name     VARCHAR NOT NULL,
  litellm_params JSONB NOT NULL,
  model_info     JSONB NOT NULL DEFAULT '{}',
  created_by     VARCHAR,
  updated_by     VARCHAR,
  created_at     TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
  updated_at     TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now()
);

CREATE INDEX sluice_deployments_model_name ON sluice_deployments (model_name);
