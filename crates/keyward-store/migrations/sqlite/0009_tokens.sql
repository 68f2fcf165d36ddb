-- The instance's token-signing keys (access tokens and jwt-format keys). The private key is
-- encrypted under a key derived from the pepper and erased when the key is retired; the public
-- key (an uncompressed SEC1 point) stays for the JWKS. `is_current` is 1 for the one key that
-- signs now and NULL for retired keys: its UNIQUE constraint lets two nodes starting at once
-- create only one first key.
CREATE TABLE signing_keys (
    kid                   TEXT PRIMARY KEY,
    algorithm             TEXT NOT NULL,
    public_key            BLOB NOT NULL,
    encrypted_private_key BLOB,
    created_at            INTEGER NOT NULL,
    retired_at            INTEGER,
    is_current            INTEGER UNIQUE CHECK (is_current = 1)
) STRICT;

-- Access tokens revoked before they expired (RFC 7009), kept until they expire.
CREATE TABLE revoked_tokens (
    jti        TEXT PRIMARY KEY,
    key_id     TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER NOT NULL
) STRICT;
CREATE INDEX revoked_tokens_by_expiry ON revoked_tokens (expires_at);
CREATE INDEX revoked_tokens_by_time ON revoked_tokens (revoked_at);
