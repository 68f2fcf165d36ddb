-- Keyward's initial PostgreSQL schema: the same tables as SQLite's, so both backends store
-- exactly the same values. Times are BIGINT milliseconds since the Unix epoch (UTC); JSON
-- columns hold domain values serialized by the store crate. No column ever holds a secret.

CREATE TABLE admins (
    id              TEXT PRIMARY KEY,
    email           TEXT NOT NULL,
    name            TEXT NOT NULL,
    role            TEXT NOT NULL CHECK (role IN ('superadmin', 'admin')),
    can_manage_keys BOOLEAN NOT NULL,
    permissions     TEXT NOT NULL,
    disabled        BOOLEAN NOT NULL,
    password_hash   TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    deleted_at      BIGINT
);
CREATE UNIQUE INDEX admins_email ON admins (email) WHERE deleted_at IS NULL;
CREATE INDEX admins_by_updated ON admins (updated_at);

CREATE TABLE api_keys (
    id                    TEXT PRIMARY KEY,
    owner_id              TEXT NOT NULL REFERENCES admins (id),
    name                  TEXT NOT NULL,
    description           TEXT,
    created_at            BIGINT NOT NULL,
    updated_at            BIGINT NOT NULL,
    expires_at            BIGINT,
    lifetime_days         BIGINT,
    revoked_at            BIGINT,
    deleted_at            BIGINT,
    privileges            TEXT NOT NULL,
    initial_privileges    TEXT NOT NULL,
    networks              TEXT NOT NULL,
    format                TEXT NOT NULL,
    verify_key            TEXT,
    require_signed_writes BOOLEAN NOT NULL,
    secret_hash           BYTEA NOT NULL,
    previous_secret_hash  BYTEA,
    previous_secret_until BIGINT,
    last_used_at          BIGINT,
    last_used_ip          TEXT,
    version               BIGINT NOT NULL
);
CREATE UNIQUE INDEX api_keys_owner_name ON api_keys (owner_id, name) WHERE deleted_at IS NULL;
CREATE INDEX api_keys_by_created ON api_keys (created_at DESC, id DESC);
CREATE INDEX api_keys_by_owner ON api_keys (owner_id, created_at DESC, id DESC);
CREATE INDEX api_keys_by_updated ON api_keys (updated_at);

CREATE TABLE sessions (
    token_hash BYTEA PRIMARY KEY,
    admin_id   TEXT NOT NULL,
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_by_admin ON sessions (admin_id);

-- Audit records are appended under a transaction-level advisory lock, so the hash chain stays
-- one unbroken chain with writers on several nodes, and `seq` follows commit order for them.
CREATE TABLE logs (
    seq              BIGSERIAL PRIMARY KEY,
    id               TEXT NOT NULL UNIQUE,
    time             BIGINT NOT NULL,
    kind             TEXT NOT NULL CHECK (kind IN ('audit', 'usage')),
    action           TEXT NOT NULL,
    key_id           TEXT,
    key_owner_id     TEXT,
    subject_admin_id TEXT,
    actor_type       TEXT NOT NULL,
    actor_id         TEXT,
    actor_email      TEXT,
    client_ip        TEXT,
    code             TEXT,
    permission       TEXT,
    details          TEXT,
    prev_hash        BYTEA,
    hash             BYTEA
);
CREATE INDEX logs_by_key ON logs (key_id, seq);
CREATE INDEX logs_by_key_owner ON logs (key_owner_id, seq);
CREATE INDEX logs_by_subject ON logs (subject_admin_id, seq);
CREATE INDEX logs_audit ON logs (seq) WHERE kind = 'audit';

CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value BYTEA NOT NULL
);
