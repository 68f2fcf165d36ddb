-- GET /v1/keys?q= at any size: a substring of a key's id, name or description is looked up in a
-- pg_trgm GIN index on their concatenation instead of scanning every key with ILIKE. pg_trgm is
-- a trusted extension: the database's owner may create it (see docs/DEPLOYMENT.md).
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX api_keys_search ON api_keys
    USING gin ((id || chr(31) || name || chr(31) || COALESCE(description, '')) gin_trgm_ops);
