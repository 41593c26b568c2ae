-- Partner accounts and their SSH keys. Times are Unix seconds; flags are 0/1.
CREATE TABLE users (
    name             TEXT    PRIMARY KEY NOT NULL,
    password_hash    TEXT    NOT NULL,
    customer         TEXT    NOT NULL,
    enabled          INTEGER NOT NULL DEFAULT 1,
    protocols        TEXT    NOT NULL,
    require_tls      INTEGER NOT NULL DEFAULT 0,
    format           TEXT,
    max_upload_bytes INTEGER,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    last_login_at    INTEGER
);

CREATE TABLE user_keys (
    user_name   TEXT    NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    fingerprint TEXT    NOT NULL,
    public_key  TEXT    NOT NULL,
    added_at    INTEGER NOT NULL,
    PRIMARY KEY (user_name, fingerprint)
);
