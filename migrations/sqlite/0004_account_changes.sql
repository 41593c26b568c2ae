-- Account changes that end open sessions, for every node: a node ends its own sessions at once
-- and appends a row; every running server reads the rows after the last it saw (about once a
-- second) and ends the matching sessions it holds. Rows are kept for about an hour.
-- ending: 'all' (disabled, removed, new password), 'protocol' (ending_value: ftp, ftps or sftp)
-- or 'key' (ending_value: the SSH key's SHA256 fingerprint). origin: the process that made the
-- change and already ended its own sessions. Times are Unix seconds.
CREATE TABLE account_changes (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_name    TEXT    NOT NULL,
    ending       TEXT    NOT NULL,
    ending_value TEXT,
    origin       TEXT    NOT NULL,
    at           INTEGER NOT NULL
);
CREATE INDEX account_changes_at ON account_changes (at);
