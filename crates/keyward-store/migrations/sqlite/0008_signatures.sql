-- Nonces of signed requests (RFC 9421 `nonce`) already accepted, per key, remembered until the
-- signature could no longer be accepted anyway (`created` + the allowed skew), then pruned.
CREATE TABLE signature_nonces (
    key_id     TEXT    NOT NULL,
    nonce      TEXT    NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (key_id, nonce)
) STRICT, WITHOUT ROWID;
CREATE INDEX signature_nonces_expiry ON signature_nonces (expires_at);
