-- GET /v1/keys at any size. The filters on live keys (status=active|expired, expiring_within_days)
-- walk these newest-first partial indexes; they hold `expires_at`, so the keys outside a range
-- are skipped without reading their rows.
CREATE INDEX api_keys_live_by_created ON api_keys (created_at DESC, id DESC, expires_at)
    WHERE deleted_at IS NULL AND revoked_at IS NULL;
CREATE INDEX api_keys_live_by_owner ON api_keys (owner_id, created_at DESC, id DESC, expires_at)
    WHERE deleted_at IS NULL AND revoked_at IS NULL;
-- Replaces api_keys_stats_all for the stats' counts of expired and expiring keys over all owners.
-- Its leading `deleted_at` looked selective to the planner (no statistics), which then read every
-- key through it and sorted them for a superadmin's first page.
DROP INDEX api_keys_stats_all;
CREATE INDEX api_keys_live_by_expiry ON api_keys (expires_at) WHERE deleted_at IS NULL AND revoked_at IS NULL;
