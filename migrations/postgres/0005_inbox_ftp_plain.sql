-- How a partner's inbox uploads over plain FTP are treated: 'accept', 'require-rename' or
-- 'refuse'; NULL follows the server's --inbox-ftp-plain. Accounts that exist when this runs
-- keep what they had before the setting existed ('accept'), so their partners' scripts keep
-- working; new accounts follow the server's default.
ALTER TABLE users ADD COLUMN inbox_ftp_plain TEXT;
UPDATE users SET inbox_ftp_plain = 'accept';
