-- The end user (the request body's `user`, LiteLLM's customer) of each spend row: LiteLLM_SpendLogs.end_user.
-- The writer also adds each row's spend to sluice_end_users.spend, creating the end user when it is new (LiteLLM
-- upserts it the same way), so /customer/info shows it and the end user's budget holds.
-- Written for jOOQ's build-time DDL reader too (H2-based): VARCHAR, not TEXT.

ALTER TABLE sluice_spend_logs ADD COLUMN end_user VARCHAR;

CREATE INDEX sluice_spend_logs_end_user_time ON sluice_spend_logs (end_user, start_time);
