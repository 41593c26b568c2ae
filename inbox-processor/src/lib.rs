//! The inbox processor: turns the files partners drop in their inbox into orders and status
//! events, and moves each file to `done/` or `error/`. It knows files and the database, not
//! protocols: a file is handled the same whether it came by FTP, SFTP or a copy on disk.
