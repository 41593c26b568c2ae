//! The inbox processor: turns the files partners drop in their inbox into orders and status
//! events, and moves each file to `done/` or `error/`. It knows files and the database, not
//! protocols: a file is handled the same whether it came by FTP, SFTP or a copy on disk.
//!
//! - [`model`] holds the values a file turns into: orders, shipments, goods lines and status
//!   updates.
//! - [`parse`] turns the bytes of a CSV, XML, spreadsheet or TTM file into those values, or into
//!   the full list of problems that makes the file rejected.

#![warn(missing_docs)]

pub mod model;
pub mod parse;
