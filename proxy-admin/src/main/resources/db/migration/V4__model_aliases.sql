-- LiteLLM's key `aliases` and team `model_aliases`: a name a client may send as `model`, mapped to a model group
-- ({"gpt-4": "llama-3-70b"}). Resolved on the data plane from the key record; the key's own win over its team's.
ALTER TABLE sluice_keys  ADD COLUMN aliases       JSONB NOT NULL DEFAULT '{}';
ALTER TABLE sluice_teams ADD COLUMN model_aliases JSONB NOT NULL DEFAULT '{}';
