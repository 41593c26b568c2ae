-- The mail channel's senders: who may mail files to an account (issue 13). A pattern is an
-- address or `*@domain`, stored lower-case; an account with the mail protocol and no row here
-- accepts no mail. Times are Unix seconds.
CREATE TABLE user_mail_senders (
    user_name TEXT    NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    pattern   TEXT    NOT NULL,
    added_at  INTEGER NOT NULL,
    PRIMARY KEY (user_name, pattern)
);
