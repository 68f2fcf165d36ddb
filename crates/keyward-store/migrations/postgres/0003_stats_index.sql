-- Lets GET /v1/keys/stats count from an index alone (index-only scans), per owner or overall.
CREATE INDEX api_keys_stats ON api_keys (owner_id, deleted_at, revoked_at, expires_at);
CREATE INDEX api_keys_stats_all ON api_keys (deleted_at, revoked_at, expires_at);
