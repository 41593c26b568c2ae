-- The mail channel (issue 13). Who may mail files to an account: a pattern is an address or
-- `*@domain`, stored lower-case; an account with the mail protocol and no row here accepts
-- no mail. Times are Unix seconds.
CREATE TABLE user_mail_senders (
    user_name TEXT    NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    pattern   TEXT    NOT NULL,
    added_at  INTEGER NOT NULL,
    PRIMARY KEY (user_name, pattern)
);

-- Messages delivered by mail, so a message delivered twice (an MTA that retried after a lost
-- 250) is stored once. message_key: the SHA-256 (hex) of the Message-ID and the attachments'
-- SHA-256s, or, for a message without Message-ID, of the attachments' SHA-256s, the envelope
-- sender and the subject. sha256s and names: JSON arrays, in message order. The row is written
-- once every attachment is durable, before the 250.
CREATE TABLE mail_deliveries (
    user_name    TEXT    NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    message_key  TEXT    NOT NULL,
    message_id   TEXT,
    sender       TEXT    NOT NULL,
    sha256s      TEXT    NOT NULL,
    names        TEXT    NOT NULL,
    delivered_at INTEGER NOT NULL,
    PRIMARY KEY (user_name, message_key)
);

-- A format that overrides one inbox file's extension (mail's +ext, for every attachment of a
-- message), recorded by the upload path when the file is complete and before it is published,
-- and read by the inbox processor instead of the extension. inode, size and mtime_ns: the
-- file's identity as the inbox sees it, so a row left by an upload that never got its name
-- can't apply to another file. Rows go once the file is committed.
CREATE TABLE inbox_file_formats (
    user_name TEXT    NOT NULL,
    file_name TEXT    NOT NULL,
    inode     INTEGER NOT NULL,
    size      INTEGER NOT NULL,
    mtime_ns  INTEGER NOT NULL,
    format    TEXT    NOT NULL,
    set_at    INTEGER NOT NULL,
    PRIMARY KEY (user_name, file_name, inode)
);
