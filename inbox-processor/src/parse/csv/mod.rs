//! CSV files: header line of field names, `,` or `;` separated (detected from the header), `"`
//! quoting with doubled quotes, UTF-8 with or without BOM (other bytes: see `encoding`).
//!
//! Reading streams: the file is consumed from any `Read` record by record through a reused
//! buffer, each row is handed to validation at once, and only the model is kept. This module
//! owns CSV syntax and its problems (separator, short rows, cut-off quotes, runaway lines); the
//! meaning of columns is `table`'s.

mod guard;

use std::borrow::Cow;
use std::io::{self, BufRead, BufReader, Cursor, Read};

use self::guard::{Guard, MAX_RECORD_BYTES};
use super::encoding::{self, Bom, TextDecoder};
use super::problem::{Location, Problem};
use super::table::Header;
use super::validation::Assembler;

/// The read buffers: big enough that a big file is read in few calls.
const BUFFER: usize = 64 * 1024;

/// How much of the header line is looked at to find the separator.
const HEADER_PEEK: u64 = 64 * 1024;

/// Reads a whole CSV file into `asm`; `after` is called after each record added (the streaming
/// reader takes its batches there).
///
/// # Errors
///
/// Only the reader's own I/O errors; everything wrong with the content goes to `asm` as problems.
pub(crate) fn read<R: Read>(
    reader: R,
    asm: &mut Assembler,
    after: &mut dyn FnMut(&mut Assembler),
) -> io::Result<()> {
    let mut reader = BufReader::with_capacity(BUFFER, reader);
    let mut head = Vec::new();
    (&mut reader)
        .take(HEADER_PEEK)
        .read_until(b'\n', &mut head)?;
    if head.is_empty() {
        asm.findings
            .problem(Problem::at(Location::File, "the file is empty"));
        return Ok(());
    }
    match encoding::bom(&head) {
        Bom::Utf16 => {
            asm.findings.problem(Problem::at(
                Location::File,
                "the file is UTF-16; save it as UTF-8 CSV",
            ));
            return Ok(());
        }
        Bom::Utf8 => {
            head.drain(..3);
        }
        Bom::None => {}
    }
    let delimiter = separator(&head);
    let guard = Guard::new(Cursor::new(head).chain(reader), delimiter);
    let mut csv = ::csv::ReaderBuilder::new()
        .buffer_capacity(BUFFER)
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(guard);
    let mut decoder = TextDecoder::default();
    let mut row = ::csv::ByteRecord::new();

    let header = match next(&mut csv, &mut row, asm)? {
        false => {
            asm.findings
                .problem(Problem::at(Location::File, "the file has no header line"));
            None
        }
        true => {
            let location = location_of(&row);
            let names: Vec<Cow<'_, str>> = row
                .iter()
                .map(|name| decoder.decode(name, location))
                .collect();
            Header::read(&names, location, &mut asm.findings)
        }
    };
    if let Some(header) = header {
        while next(&mut csv, &mut row, asm)? {
            let location = location_of(&row);
            let Some(width) = width_of(&header, &row, location, asm) else {
                continue;
            };
            // Most rows are valid UTF-8 as a whole: checked once, their cells are borrowed as
            // they are. Others are decoded cell by cell (see `encoding`).
            let record = match ::csv::StringRecord::from_byte_record(std::mem::take(&mut row)) {
                Ok(text) => {
                    if !text.as_byte_record().as_slice().is_ascii() {
                        decoder.saw_utf8(location);
                    }
                    let cells = text.iter().take(width).map(Cow::Borrowed).enumerate();
                    if let Some(record) = header.record(location, cells) {
                        asm.add(record);
                        after(asm);
                    }
                    text.into_byte_record()
                }
                Err(err) => {
                    let bytes = err.into_byte_record();
                    let cells = bytes
                        .iter()
                        .take(width)
                        .map(|cell| decoder.decode(cell, location))
                        .enumerate();
                    if let Some(record) = header.record(location, cells) {
                        asm.add(record);
                        after(asm);
                    }
                    bytes
                }
            };
            row = record;
        }
    }
    if let Some(line) = csv.get_ref().unclosed_quote() {
        asm.findings.problem(Problem::at(
            Location::line(line),
            "a quoted value that starts here is never closed: the file is cut off or a `\"` is missing",
        ));
    }
    decoder.finish(&mut asm.findings);
    Ok(())
}

/// How many cells of `row` to read: all of them when the row fits the header, `None` for a
/// blank row and for one that does not fit (the problem is then recorded).
fn width_of(
    header: &Header,
    row: &::csv::ByteRecord,
    location: Location,
    asm: &mut Assembler,
) -> Option<usize> {
    if row.len() == header.width() {
        return Some(row.len());
    }
    if row.iter().all(|cell| cell.trim_ascii().is_empty()) {
        return None;
    }
    let extra_is_empty = row
        .iter()
        .skip(header.width())
        .all(|cell| cell.trim_ascii().is_empty());
    if header.fits(row.len(), extra_is_empty) {
        return Some(header.width());
    }
    asm.findings.problem(Problem::at(
        location,
        format!(
            "has {} values but the header has {} columns",
            row.len(),
            header.width()
        ),
    ));
    None
}

/// Reads the next record; `false` at the end of the file or when reading had to stop (the
/// problem is then recorded).
fn next<R: Read>(
    csv: &mut ::csv::Reader<Guard<R>>,
    row: &mut ::csv::ByteRecord,
    asm: &mut Assembler,
) -> io::Result<bool> {
    match csv.read_byte_record(row) {
        Ok(more) => Ok(more),
        Err(err) => {
            if let Some(line) = csv.get_ref().too_long() {
                asm.findings.problem(Problem::at(
                    Location::line(line),
                    format!(
                        "this line is longer than {} bytes (1 MiB); reading stopped here",
                        MAX_RECORD_BYTES
                    ),
                ));
                return Ok(false);
            }
            if err.is_io_error() {
                return Err(err.into());
            }
            asm.findings.problem(Problem::at(
                Location::File,
                format!("not readable as CSV: {err}"),
            ));
            Ok(false)
        }
    }
}

fn location_of(row: &::csv::ByteRecord) -> Location {
    Location::line(row.position().map_or(0, ::csv::Position::line))
}

/// `;` when the header has more semicolons than commas outside quotes, else `,`.
fn separator(header: &[u8]) -> u8 {
    let mut in_quotes = false;
    let (mut commas, mut semicolons) = (0usize, 0usize);
    for &b in header {
        match b {
            b'"' => in_quotes = !in_quotes,
            b',' if !in_quotes => commas += 1,
            b';' if !in_quotes => semicolons += 1,
            _ => {}
        }
    }
    if semicolons > commas {
        b';'
    } else {
        b','
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separator_from_header() {
        assert_eq!(separator(b"a;b;c\n"), b';');
        assert_eq!(separator(b"a,b,c\n"), b',');
        assert_eq!(separator(b"\"a,b\";c\n"), b';');
        assert_eq!(separator(b"single\n"), b',');
    }
}
