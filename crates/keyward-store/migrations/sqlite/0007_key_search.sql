-- GET /v1/keys?q= at any size: a substring of a key's id, name or description is looked up in
-- an FTS5 trigram index instead of scanning every key with LIKE. The index is contentless (it
-- holds trigrams, not the text) and keyed by `search_seq`, a number given to each key once and
-- never changed (a plain rowid could change on VACUUM). Triggers keep it in every transaction.
ALTER TABLE api_keys ADD COLUMN search_seq INTEGER;
UPDATE api_keys SET search_seq = rowid;
CREATE UNIQUE INDEX api_keys_by_search_seq ON api_keys (search_seq);

CREATE VIRTUAL TABLE api_keys_search USING fts5(
    text, tokenize = 'trigram case_sensitive 0', content = '', contentless_delete = 1
);
INSERT INTO api_keys_search (rowid, text)
    SELECT search_seq, id || char(31) || name || char(31) || COALESCE(description, '') FROM api_keys;

CREATE TRIGGER api_keys_search_insert AFTER INSERT ON api_keys
BEGIN
    UPDATE api_keys SET search_seq = (SELECT COALESCE(MAX(search_seq), 0) + 1 FROM api_keys) WHERE id = NEW.id;
    INSERT INTO api_keys_search (rowid, text)
        SELECT search_seq, NEW.id || char(31) || NEW.name || char(31) || COALESCE(NEW.description, '')
        FROM api_keys WHERE id = NEW.id;
END;

CREATE TRIGGER api_keys_search_update AFTER UPDATE OF name, description ON api_keys
BEGIN
    DELETE FROM api_keys_search WHERE rowid = OLD.search_seq;
    INSERT INTO api_keys_search (rowid, text)
        VALUES (NEW.search_seq, NEW.id || char(31) || NEW.name || char(31) || COALESCE(NEW.description, ''));
END;

CREATE TRIGGER api_keys_search_delete AFTER DELETE ON api_keys
BEGIN
    DELETE FROM api_keys_search WHERE rowid = OLD.search_seq;
END;
