-- GET /v1/keys/stats at any size: each owner's count of keys (not deleted) and of revoked keys,
-- kept by triggers in the transaction of every write, so the stats read a few rows instead of
-- counting every key. Expired and expiring keys depend on the time of reading; they are counted
-- from the `api_keys_stats*` indexes over the (small) range of `expires_at` concerned.
CREATE TABLE key_counts (
    owner_id TEXT PRIMARY KEY,
    total    INTEGER NOT NULL,
    revoked  INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
INSERT INTO key_counts (owner_id, total, revoked)
    SELECT owner_id, COUNT(*), COUNT(revoked_at) FROM api_keys WHERE deleted_at IS NULL GROUP BY owner_id;

CREATE TRIGGER key_counts_insert AFTER INSERT ON api_keys WHEN NEW.deleted_at IS NULL
BEGIN
    INSERT INTO key_counts (owner_id, total, revoked) VALUES (NEW.owner_id, 1, NEW.revoked_at IS NOT NULL)
        ON CONFLICT (owner_id) DO UPDATE SET total = total + 1, revoked = revoked + excluded.revoked;
END;

CREATE TRIGGER key_counts_update AFTER UPDATE OF owner_id, revoked_at, deleted_at ON api_keys
BEGIN
    UPDATE key_counts SET total = total - 1, revoked = revoked - (OLD.revoked_at IS NOT NULL)
        WHERE owner_id = OLD.owner_id AND OLD.deleted_at IS NULL;
    INSERT INTO key_counts (owner_id, total, revoked)
        SELECT NEW.owner_id, 1, NEW.revoked_at IS NOT NULL WHERE NEW.deleted_at IS NULL
        ON CONFLICT (owner_id) DO UPDATE SET total = total + 1, revoked = revoked + excluded.revoked;
END;

CREATE TRIGGER key_counts_delete AFTER DELETE ON api_keys WHEN OLD.deleted_at IS NULL
BEGIN
    UPDATE key_counts SET total = total - 1, revoked = revoked - (OLD.revoked_at IS NOT NULL)
        WHERE owner_id = OLD.owner_id;
END;
