-- Lets reconciliation find recently changed keys and admins quickly.
CREATE INDEX api_keys_by_updated ON api_keys (updated_at);
CREATE INDEX admins_by_updated ON admins (updated_at);
