-- Where each file that came by mail came from (the inbox ledger's channel, sender and
-- Message-ID), and the error replies queued for those that were rejected (issue 13 items 6, 7).
-- Times are Unix seconds, except the *_ms columns.
--
-- A mail_files row is written when the attachment is durable in the inbox, before the 250. It is
-- tied to the inbox ledger row of the same file (same user, name, inode and size) once that row
-- is closed: inbox_file_id is set then, once, in the transaction that queues the reply.
CREATE TABLE mail_files (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    user_name      TEXT    NOT NULL,
    file_name      TEXT    NOT NULL,
    size           INTEGER NOT NULL,
    inode          INTEGER NOT NULL,
    sender         TEXT    NOT NULL,
    message_id     TEXT,
    subject        TEXT,
    refs           TEXT,
    no_reply       TEXT,
    delivered_at   INTEGER NOT NULL,
    inbox_file_id  INTEGER
);
CREATE INDEX mail_files_unlinked ON mail_files (delivered_at) WHERE inbox_file_id IS NULL;
CREATE UNIQUE INDEX mail_files_inbox ON mail_files (inbox_file_id);
-- The ledger rows of one inbox name, which a mailed file is looked for among.
CREATE INDEX inbox_files_name ON inbox_files (user_name, file_name);

-- One row per error reply: its whole message, built when it was queued; `state` is queued,
-- sent, failed (the relay refused it for good, or it waited too long) or capped (over the
-- sender's hourly cap, never sent). A node claims a queued row by setting claim_until.
CREATE TABLE mail_replies (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    mail_file_id   INTEGER NOT NULL UNIQUE,
    inbox_file_id  INTEGER NOT NULL,
    recipient      TEXT    NOT NULL,
    subject        TEXT    NOT NULL,
    message        BLOB    NOT NULL,
    state          TEXT    NOT NULL,
    attempts       INTEGER NOT NULL DEFAULT 0,
    next_try_ms    INTEGER NOT NULL,
    claim_until_ms INTEGER NOT NULL DEFAULT 0,
    last_error     TEXT,
    queued_at      INTEGER NOT NULL,
    sent_at        INTEGER
);
CREATE INDEX mail_replies_due ON mail_replies (state, next_try_ms);
CREATE INDEX mail_replies_recipient ON mail_replies (recipient, queued_at);
