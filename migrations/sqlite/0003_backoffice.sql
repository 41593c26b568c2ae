-- The backoffice: staff accounts with their browser sessions and API tokens, the track & trace
-- API users, and the files published into partners' out/ folders. Times are Unix seconds.

ALTER TABLE users ADD COLUMN last_login_protocol TEXT;

CREATE TABLE admins (
    name          TEXT    PRIMARY KEY NOT NULL,
    password_hash TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    last_login_at INTEGER
);

-- A browser session: the cookie's value is never stored, only its SHA-256.
CREATE TABLE admin_sessions (
    id_hash    TEXT    PRIMARY KEY NOT NULL,
    admin_name TEXT    NOT NULL REFERENCES admins(name) ON DELETE CASCADE,
    csrf_token TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);

-- A bearer token for scripts: only its SHA-256 is stored. Scope 'admin' may do everything the
-- page can; 'metrics' only read /metrics (for a Prometheus server).
CREATE TABLE admin_tokens (
    token_hash   TEXT    PRIMARY KEY NOT NULL,
    admin_name   TEXT    NOT NULL REFERENCES admins(name) ON DELETE CASCADE,
    scope        TEXT    NOT NULL DEFAULT 'admin',
    label        TEXT,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER
);

-- Track & trace API users. The secret must be readable by the server (the signature is
-- md5(ts . secret)), so it is sealed with AES-256-GCM under the configured key.
CREATE TABLE api_keys (
    name          TEXT    PRIMARY KEY NOT NULL,
    customer      TEXT    NOT NULL,
    secret_sealed TEXT    NOT NULL,
    enabled       INTEGER NOT NULL DEFAULT 1,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER
);

-- Files published into a partner's out/ folder, and what the partner did with them. A row is
-- open while its file is in out/ (closed_at IS NULL); one open row per out/ path.
CREATE TABLE outbox_files (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    user_name          TEXT    NOT NULL,
    file_name          TEXT    NOT NULL,
    size               INTEGER NOT NULL,
    sha256             TEXT    NOT NULL,
    published_by       TEXT    NOT NULL,
    published_at       INTEGER NOT NULL,
    downloads          INTEGER NOT NULL DEFAULT 0,
    first_download_at  INTEGER,
    last_download_at   INTEGER,
    last_download_protocol TEXT,
    moved_to           TEXT,
    moved_name         TEXT,
    moved_at           INTEGER,
    closed_at          INTEGER
);
CREATE UNIQUE INDEX outbox_files_open ON outbox_files (user_name, file_name) WHERE closed_at IS NULL;
CREATE INDEX outbox_files_user ON outbox_files (user_name, id);

-- Shipments are searched by delivery postcode (upper case, no spaces), by the backoffice and the
-- track & trace API.
ALTER TABLE shipments ADD COLUMN delivery_postcode TEXT;
-- Shipments stored before: the same key (upper case, without spaces, tabs or line breaks).
UPDATE shipments SET delivery_postcode = UPPER(REPLACE(REPLACE(REPLACE(REPLACE(
    COALESCE(json_extract(data, '$.delivery.postcode'), ''),
    ' ', ''), char(9), ''), char(10), ''), char(13), ''));
CREATE INDEX shipments_postcode ON shipments (customer, delivery_postcode);

-- No query looks shipments up by order reference; its index only slowed every upsert.
DROP INDEX IF EXISTS shipments_order;
