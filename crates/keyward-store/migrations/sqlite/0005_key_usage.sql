-- Each key's use (count, last use) moves out of the wide `api_keys` rows into a narrow table:
-- the usage writer updates the uses of many keys per batch, and narrow rows put many keys on one
-- page (updating `api_keys` rewrote about one page per key).
CREATE TABLE key_usage (
    key_id       TEXT PRIMARY KEY,
    use_count    INTEGER NOT NULL,
    last_used_at INTEGER NOT NULL,
    last_used_ip TEXT
) STRICT, WITHOUT ROWID;
INSERT INTO key_usage (key_id, use_count, last_used_at, last_used_ip)
    SELECT id, use_count, COALESCE(last_used_at, 0), last_used_ip FROM api_keys
    WHERE last_used_at IS NOT NULL OR use_count > 0;
ALTER TABLE api_keys DROP COLUMN use_count;
ALTER TABLE api_keys DROP COLUMN last_used_at;
ALTER TABLE api_keys DROP COLUMN last_used_ip;
