//! The shared order parsers: a file's bytes in, orders and status updates out, or every problem
//! that rejects the file.
//!
//! Parsers take bytes (or, for CSV, any reader) and return values: they open no files and know
//! nothing of protocols or the database. A file is accepted whole or rejected whole: [`parse`]
//! returns either [`Parsed`] or [`Rejected`] with every problem found, never a partial result.
//!
//! Code map: [`format`](mod@format) picks the parser; `csv`, `xml`, `sheet` and `ttm` read their syntax into
//! records; `table` holds what CSV and spreadsheets share; `field` matches field names; `value`
//! checks single values; `validation` and `draft` group records into orders and find
//! contradictions; `encoding` decodes text; [`problem`] words the report.
//!
//! Rules that formats.md leaves open, and how we settled them (ours):
//! - Rows, blocks or `<shipment>`s with the same `shipmentID` are goods lines of one shipment.
//!   Their shipment and order values are merged: a value left empty in one row is taken from
//!   another, two different values are a problem ("conflicts with ..."), and the same shipment
//!   under another `customerID` or `orderReference` is a problem. Values compare after parsing,
//!   so `02-06-2025` and `2025-06-02` agree.
//! - Shipments group into orders by (`customerID`, `orderReference`); shipments without an
//!   `orderReference` share one order per customer. Orders, shipments and goods keep file order,
//!   so the same file always gives the same orders.
//! - `customerID` and `shipmentID` are required on every row and block (not inherited).
//! - A two-digit year is 20YY. A time is `HH:MM` (a one-digit hour is accepted). A decimal is
//!   digits with an optional point, never negative, at most 19 significant digits, kept exactly.
//!   Countries are two letters and currencies three, upper-cased. Free text is at most 1000
//!   characters; `masterShipmentID` and `orgShipmentID` follow `shipmentID`'s 17.
//! - A status line's `+` may be left out; a leading `_` sets [`crate::model::StatusUpdate`]'s
//!   `internal` and is not part of its text. A status update needs a `status` and a
//!   `shipmentID` (or `orderID`) or `trackingNbr`; `shipmentID` wins when both are given.
//! - Text that is not UTF-8 is read as Windows-1252 with a warning; a file mixing it with UTF-8
//!   is rejected (see `encoding`).
//! - A CSV or sheet header missing a required column stops there: the rows are not checked.
//! - XML: a DOCTYPE declaring entities or an external DTD is rejected, any entity other than the
//!   five predefined ones is a problem and left unexpanded; unknown elements are warnings.
//! - TTM: `#` lines are comments, text outside blocks is ignored, a goods field without a number
//!   belongs to goods line 1, a bare `:` also separates field and value.
//! - Limits against runaway input: a CSV record over 1 MiB stops reading; a spreadsheet whose
//!   grid would span more than 5 million cells, or that declares more than 5 million shared
//!   strings, is refused before it is read.

mod csv;
mod draft;
mod encoding;
mod field;
pub mod format;
mod index;
pub mod problem;
mod record;
mod sheet;
mod stream;
mod table;
mod ttm;
mod validation;
mod value;
mod xml;

use std::io::{self, Read};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

pub use self::format::{is_temporary_name, Format, FormatError};
pub use self::problem::{Location, Problem, Rejected, Warning};
pub use self::stream::{Batch, CsvStream, StreamEnd};
use self::validation::Assembler;
use crate::model::{Order, StatusUpdate};

/// What an accepted file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The orders, in the order they first appear in the file.
    pub orders: Vec<Order>,
    /// The status updates, in file order.
    pub status_updates: Vec<StatusUpdate>,
    /// Things worth telling the sender that did not reject the file (unknown columns, a guessed
    /// encoding).
    pub warnings: Vec<Warning>,
}

/// Why reading a CSV stream gave no result.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The reader failed (a disk or network error): not the file's fault, try again later.
    #[error("could not read the file: {0}")]
    Io(#[from] io::Error),
    /// The file was read and is rejected.
    #[error(transparent)]
    Rejected(#[from] Rejected),
}

/// The memory one file's parse may take unless told otherwise (ours): see [`parse_bounded`].
pub const DEFAULT_MAX_MEMORY: u64 = 512 * 1024 * 1024;

/// Parses a whole file held in memory, within [`DEFAULT_MAX_MEMORY`].
///
/// # Errors
///
/// [`Rejected`] with every problem found (at most [`problem::MAX_PROBLEMS`], then a count) when
/// the file breaks any rule of the format or of the data model.
pub fn parse(format: Format, bytes: &[u8]) -> Result<Parsed, Rejected> {
    let mut asm = Assembler::default();
    asm.memory = Some(DEFAULT_MAX_MEMORY);
    parse_with(format, bytes, asm)
}

/// Parses a whole file held in memory like [`parse`], stopping soon after `stop` is set (the
/// caller's time limit ran out): the file is then rejected, saying reading was stopped.
///
/// # Errors
///
/// As [`parse`]; also when stopped.
pub fn parse_until(
    format: Format,
    bytes: &[u8],
    stop: Arc<AtomicBool>,
) -> Result<Parsed, Rejected> {
    parse_bounded(format, bytes, stop, DEFAULT_MAX_MEMORY)
}

/// Parses a whole file held in memory like [`parse_until`], within `max_memory` bytes: the
/// file's bytes, what a workbook unpacks to and the values its records leave in the model are
/// counted as they are read (an estimate on the safe side), and past `max_memory` the file is
/// rejected, saying so.
///
/// # Errors
///
/// As [`parse_until`]; also when the file needs more memory than allowed.
pub fn parse_bounded(
    format: Format,
    bytes: &[u8],
    stop: Arc<AtomicBool>,
    max_memory: u64,
) -> Result<Parsed, Rejected> {
    let mut asm = Assembler::default();
    asm.stop = Some(stop);
    asm.memory = Some(max_memory);
    parse_with(format, bytes, asm)
}

fn parse_with(format: Format, bytes: &[u8], mut asm: Assembler) -> Result<Parsed, Rejected> {
    // The bytes are held for the whole parse.
    asm.hold(bytes.len() as u64);
    match format {
        Format::Csv => {
            if let Err(err) = csv::read(bytes, &mut asm, &mut |_| {}) {
                // Reading a slice cannot fail; should it, the file is not accepted.
                return Err(Rejected::one(Problem::at(
                    Location::File,
                    format!("could not read the file: {err}"),
                )));
            }
        }
        Format::Xml => xml::read(bytes, &mut asm),
        Format::Xls | Format::Xlsx | Format::Ods => sheet::read(format, bytes, &mut asm),
        Format::Ttm => ttm::read(bytes, &mut asm),
    }
    asm.finish()
}

/// Parses a CSV file from any reader, streaming: the raw text is never held whole, and memory
/// follows the parsed model. The caller opens the file; this only consumes the reader.
///
/// # Errors
///
/// [`ReadError::Io`] when the reader fails, [`ReadError::Rejected`] with every problem found
/// when the file breaks a rule.
pub fn parse_csv_reader<R: Read>(reader: R) -> Result<Parsed, ReadError> {
    let mut asm = Assembler::default();
    csv::read(reader, &mut asm, &mut |_| {})?;
    Ok(asm.finish()?)
}
