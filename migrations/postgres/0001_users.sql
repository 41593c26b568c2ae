-- Partner accounts and their SSH keys. Times are Unix seconds; flags are 0/1 (BIGINT, so the
-- same queries decode the same types on SQLite and PostgreSQL).
CREATE TABLE users (
    name             TEXT   PRIMARY KEY NOT NULL,
    password_hash    TEXT   NOT NULL,
    customer         TEXT   NOT NULL,
    enabled          BIGINT NOT NULL DEFAULT 1,
    protocols        TEXT   NOT NULL,
    require_tls      BIGINT NOT NULL DEFAULT 0,
    format           TEXT,
    max_upload_bytes BIGINT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    last_login_at    BIGINT
);

CREATE TABLE user_keys (
    user_name   TEXT   NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    fingerprint TEXT   NOT NULL,
    public_key  TEXT   NOT NULL,
    added_at    BIGINT NOT NULL,
    PRIMARY KEY (user_name, fingerprint)
);
