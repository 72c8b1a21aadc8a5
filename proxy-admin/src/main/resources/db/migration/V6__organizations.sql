-- LiteLLM's organizations (LiteLLM_OrganizationTable) and their members (LiteLLM_OrganizationMembership); teams and
-- keys may belong to one (LiteLLM_TeamTable.organization_id, LiteLLM_VerificationToken.organization_id).
-- As LiteLLM, every organization links a budget row (sluice_budgets, V5): the one named by budget_id, or one of its
-- own made from the inline max_budget / tpm_limit / rpm_limit / budget_duration fields of /organization/new.
-- Written for jOOQ's build-time DDL reader too (H2-based): VARCHAR, not TEXT; TIMESTAMP WITH TIME ZONE.

CREATE TABLE sluice_organizations (
  organization_id    VARCHAR PRIMARY KEY,
  organization_alias VARCHAR NOT NULL,
  budget_id          VARCHAR NOT NULL REFERENCES sluice_budgets (budget_id) ON DELETE RESTRICT,
  models             VARCHAR[] NOT NULL DEFAULT '{}',
  spend              DOUBLE PRECISION NOT NULL DEFAULT 0,
  model_spend        JSONB NOT NULL DEFAULT '{}',
  metadata           JSONB NOT NULL DEFAULT '{}',
  created_by         VARCHAR NOT NULL,
  updated_by         VARCHAR NOT NULL,
  created_at         TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
  updated_at         TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now()
);

CREATE INDEX sluice_organizations_budget ON sluice_organizations (budget_id);

-- user_role is one of LiteLLM's org roles (org_admin, internal_user, internal_user_viewer); a member's own budget
-- within the organization (max_budget_in_organization) is a budget row of its own.
CREATE TABLE sluice_organization_members (
  organization_id VARCHAR NOT NULL REFERENCES sluice_organizations (organization_id) ON DELETE CASCADE,
  user_id         VARCHAR NOT NULL REFERENCES sluice_users (user_id) ON DELETE CASCADE,
  user_role       VARCHAR NOT NULL DEFAULT 'internal_user',
  spend           DOUBLE PRECISION NOT NULL DEFAULT 0,
  budget_id       VARCHAR REFERENCES sluice_budgets (budget_id) ON DELETE RESTRICT,
  created_at      TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
  updated_at      TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, organization_id),
  CONSTRAINT sluice_organization_members_role CHECK (user_role IN ('org_admin', 'internal_user',
    'internal_user_viewer'))
);

CREATE INDEX sluice_organization_members_org ON sluice_organization_members (organization_id);
CREATE INDEX sluice_organization_members_budget ON sluice_organization_members (budget_id);

-- /organization/delete removes the organization's teams and keys with it (as LiteLLM); RESTRICT keeps a stray
-- reference from ever pointing nowhere.
ALTER TABLE sluice_teams ADD COLUMN organization_id VARCHAR REFERENCES sluice_organizations (organization_id)
  ON DELETE RESTRICT;
ALTER TABLE sluice_keys ADD COLUMN organization_id VARCHAR REFERENCES sluice_organizations (organization_id)
  ON DELETE RESTRICT;

CREATE INDEX sluice_teams_organization ON sluice_teams (organization_id);
CREATE INDEX sluice_keys_organization ON sluice_keys (organization_id);
