-- GET /v1/keys/stats at any size: each owner's count of keys (not deleted) and of revoked keys,
-- kept by a trigger in the transaction of every write, so the stats read a few rows instead of
-- counting every key. Expired and expiring keys depend on the time of reading; they are counted
-- from the `api_keys_stats*` indexes over the (small) range of `expires_at` concerned.
CREATE TABLE key_counts (
    owner_id TEXT PRIMARY KEY,
    total    BIGINT NOT NULL,
    revoked  BIGINT NOT NULL
);
INSERT INTO key_counts (owner_id, total, revoked)
    SELECT owner_id, COUNT(*), COUNT(revoked_at) FROM api_keys WHERE deleted_at IS NULL GROUP BY owner_id;

CREATE FUNCTION keyward_key_counts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.deleted_at IS NULL THEN
        UPDATE key_counts SET total = total - 1, revoked = revoked - (OLD.revoked_at IS NOT NULL)::int
            WHERE owner_id = OLD.owner_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.deleted_at IS NULL THEN
        INSERT INTO key_counts (owner_id, total, revoked) VALUES (NEW.owner_id, 1, (NEW.revoked_at IS NOT NULL)::int)
            ON CONFLICT (owner_id) DO UPDATE
            SET total = key_counts.total + 1, revoked = key_counts.revoked + excluded.revoked;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER key_counts AFTER INSERT OR UPDATE OF owner_id, revoked_at, deleted_at OR DELETE ON api_keys
    FOR EACH ROW EXECUTE FUNCTION keyward_key_counts();
