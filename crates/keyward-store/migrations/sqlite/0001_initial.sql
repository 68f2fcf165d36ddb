-- Keyward's initial SQLite schema. Times are INTEGER milliseconds since the Unix epoch (UTC),
-- so ordering and range filters are plain integer comparisons. JSON columns hold domain values
-- serialized by the store crate. No column ever holds a secret: only keyed hashes.

CREATE TABLE admins (
    id              TEXT PRIMARY KEY,
    email           TEXT NOT NULL,
    name            TEXT NOT NULL,
    role            TEXT NOT NULL CHECK (role IN ('superadmin', 'admin')),
    can_manage_keys INTEGER NOT NULL,
    permissions     TEXT NOT NULL,
    disabled        INTEGER NOT NULL,
    password_hash   TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    deleted_at      INTEGER
) STRICT;
CREATE UNIQUE INDEX admins_email ON admins (email) WHERE deleted_at IS NULL;

CREATE TABLE api_keys (
    id                    TEXT PRIMARY KEY,
    owner_id              TEXT NOT NULL REFERENCES admins (id),
    name                  TEXT NOT NULL,
    description           TEXT,
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL,
    expires_at            INTEGER,
    lifetime_days         INTEGER,
    revoked_at            INTEGER,
    deleted_at            INTEGER,
    privileges            TEXT NOT NULL,
    initial_privileges    TEXT NOT NULL,
    networks              TEXT NOT NULL,
    format                TEXT NOT NULL,
    verify_key            TEXT,
    require_signed_writes INTEGER NOT NULL,
    secret_hash           BLOB NOT NULL,
    previous_secret_hash  BLOB,
    previous_secret_until INTEGER,
    last_used_at          INTEGER,
    last_used_ip          TEXT,
    version               INTEGER NOT NULL
) STRICT;
-- Names are unique among an owner's keys that are not deleted.
CREATE UNIQUE INDEX api_keys_owner_name ON api_keys (owner_id, name) WHERE deleted_at IS NULL;
CREATE INDEX api_keys_by_created ON api_keys (created_at DESC, id DESC);
CREATE INDEX api_keys_by_owner ON api_keys (owner_id, created_at DESC, id DESC);

CREATE TABLE sessions (
    token_hash BLOB PRIMARY KEY,
    admin_id   TEXT NOT NULL,
    csrf_token TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX sessions_by_admin ON sessions (admin_id);

-- Audit and usage records. `seq` orders them (newest first in searches, stable cursors);
-- audit records carry a hash chain (`prev_hash` → `hash`) so tampering can be detected.
CREATE TABLE logs (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    id               TEXT NOT NULL UNIQUE,
    time             INTEGER NOT NULL,
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
    prev_hash        BLOB,
    hash             BLOB
) STRICT;
CREATE INDEX logs_by_key ON logs (key_id, seq);
CREATE INDEX logs_by_key_owner ON logs (key_owner_id, seq);
CREATE INDEX logs_by_subject ON logs (subject_admin_id, seq);

CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
) STRICT;
