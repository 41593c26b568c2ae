//! The inbox processor: turns the files partners drop in their inbox into orders and status
//! events, and moves each file to `done/` or `error/`. It knows files and the database, not
//! protocols: a file is handled the same whether it came by FTP, SFTP or a copy on disk.
//!
//! - [`model`] holds the values a file turns into: orders, shipments, goods lines and status
//!   updates.
//! - [`parse`] turns the bytes of a CSV, XML, spreadsheet or TTM file into those values, or into
//!   the full list of problems that makes the file rejected.
//! - [`examine`] reads one file under limits (size, time, a parser panic) and judges it,
//!   tenancy included.
//! - [`ledger`] is the `inbox_files` table: the claim that makes each file processed once, and
//!   the record `freightdrop files` lists.
//! - [`orders`] stores an accepted file's shipments and status events.
//! - [`lookup`] reads them back: one shipment with its status history, and searches.
//! - [`filing`] moves a file to `done/` or `error/` without ever overwriting, and writes reports.
//! - [`pipeline`] runs those steps for one file in the crash-safe order.
//! - [`watcher`] and [`processor`] find the files (arrivals, `notify`, scans) and run the
//!   pipeline on them with bounded parallelism.

#![warn(missing_docs)]

mod commit;
pub mod examine;
pub mod filing;
pub mod ledger;
pub mod lookup;
pub mod memory;
pub mod model;
pub mod orders;
pub mod parse;
pub mod pipeline;
pub mod processor;
pub mod watcher;

pub use examine::{Limits, Progress};
pub use ledger::{Counts, FileRow, FileState, Ledger, LedgerError, ListFilter};
pub use pipeline::{Outcome, Pipeline, PipelineError, Settings, Uploader};
pub use processor::{Accounts, Arrived, Processor};
