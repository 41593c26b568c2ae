-- The inbox: a ledger row per file taken from an inbox, and what the files turned into.
-- Times are Unix seconds (lease_until_ms: milliseconds); flags are 0/1.
--
-- A ledger row is "open" while its file may still be in the inbox (closed_at IS NULL); at most
-- one open row exists per inbox path, which is how a file is claimed by exactly one process.
CREATE TABLE inbox_files (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    user_name      TEXT    NOT NULL,
    file_name      TEXT    NOT NULL,
    size           INTEGER NOT NULL,
    mtime_ns       INTEGER NOT NULL,
    inode          INTEGER NOT NULL,
    sha256         TEXT,
    format         TEXT,
    state          TEXT    NOT NULL,
    claim_owner    TEXT    NOT NULL,
    lease_until_ms INTEGER NOT NULL,
    attempts       INTEGER NOT NULL DEFAULT 1,
    received_at    INTEGER NOT NULL,
    finished_at    INTEGER,
    orders         INTEGER,
    shipments      INTEGER,
    goods_lines    INTEGER,
    status_updates INTEGER,
    report         TEXT,
    placed_name    TEXT,
    closed_at      INTEGER,
    note           TEXT
);
CREATE UNIQUE INDEX inbox_files_open ON inbox_files (user_name, file_name) WHERE closed_at IS NULL;
CREATE INDEX inbox_files_user ON inbox_files (user_name, id);
CREATE INDEX inbox_files_state ON inbox_files (state, id);

-- One row per shipment, upserted by (customer, shipment_id): the keys and search fields as
-- columns, the whole shipment with its order's fields and goods lines as JSON in `data`.
CREATE TABLE shipments (
    customer        TEXT    NOT NULL,
    shipment_id     TEXT    NOT NULL,
    order_reference TEXT,
    tracking_nbr    TEXT,
    order_date      TEXT,
    delivery_date   TEXT,
    delivery_name   TEXT,
    delivery_city   TEXT,
    delivery_country TEXT,
    goods_lines     INTEGER NOT NULL,
    colli           INTEGER NOT NULL,
    data            TEXT    NOT NULL,
    file_id         INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    PRIMARY KEY (customer, shipment_id)
);
CREATE INDEX shipments_tracking ON shipments (customer, tracking_nbr);
CREATE INDEX shipments_order ON shipments (customer, order_reference);

-- Status events; the same event twice is stored once.
CREATE TABLE status_events (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    customer     TEXT    NOT NULL,
    ref_kind     TEXT    NOT NULL,
    shipment_ref TEXT    NOT NULL,
    at           TEXT    NOT NULL,
    status       TEXT    NOT NULL,
    internal     INTEGER NOT NULL,
    location     TEXT,
    signee       TEXT,
    remarks      TEXT,
    file_id      INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    UNIQUE (customer, ref_kind, shipment_ref, at, status, internal)
);
