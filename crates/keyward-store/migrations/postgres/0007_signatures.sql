-- Nonces of signed requests (RFC 9421 `nonce`) already accepted, per key, remembered until the
-- signature could no longer be accepted anyway (`created` + the allowed skew), then pruned.
-- Shared by every node of a cluster: the primary key makes a nonce single-use across nodes.
CREATE TABLE signature_nonces (
    key_id     TEXT   NOT NULL,
    nonce      TEXT   NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (key_id, nonce)
);
CREATE INDEX signature_nonces_expiry ON signature_nonces (expires_at);
