//! Spreadsheets (`.xls`, `.xlsx`, `.ods`): the first sheet, row 1 the header up to its first
//! empty cell, then the table rules CSV files follow. Native date and time cells are dates and
//! times; formulas count with their cached value; numbers are written the way the spreadsheet
//! shows them (at most 15 significant digits, no float noise).
//!
//! This module owns turning cells into text; which column means what is `table`'s; `extent`
//! refuses workbooks whose declared sizes would exhaust memory. The workbook is read from memory,
//! never from a path. An xlsx sheet is streamed cell by cell; xls and ods sheets come as
//! calamine's grid, bounded by `extent`.

use std::borrow::Cow;
use std::io::Cursor;
use std::panic::{catch_unwind, AssertUnwindSafe};

use calamine::{open_workbook_from_rs, Data, ExcelDateTime, Ods, Range, Reader, Xls, Xlsx};

mod extent;

use super::format::Format;
use super::problem::{Location, Problem};
use super::table::Header;
use super::validation::Assembler;

/// Reads the first sheet of a workbook into `asm`.
pub(crate) fn read(format: Format, bytes: &[u8], asm: &mut Assembler) {
    let max_memory = asm.memory_limit();
    // The text of the cells, copies included, counts twice: calamine's and ours.
    let max_text = max_memory / 4;
    let checked = match format {
        Format::Xls => extent::check_xls(bytes, max_text),
        Format::Xlsx => {
            extent::check_zip(bytes, max_memory).and_then(|()| extent::check_xlsx(bytes))
        }
        _ => extent::check_zip(bytes, max_memory).and_then(|()| extent::check_ods(bytes, max_text)),
    };
    if let Err(reason) = checked {
        asm.findings.problem(Problem::at(Location::File, reason));
        return;
    }
    // The workbook readers parse binary containers written by many programs; should one of them
    // panic on a damaged file, that is this file's problem, not the server's.
    let stopped = || asm.stopped();
    let read = || first_sheet(format, bytes, &stopped, max_text);
    let cells = match catch_unwind(AssertUnwindSafe(read)) {
        Ok(Ok(cells)) => cells,
        Ok(Err(reason)) => {
            asm.findings.problem(Problem::at(Location::File, reason));
            return;
        }
        Err(_) => {
            asm.findings.problem(Problem::at(
                Location::File,
                format!("the workbook is damaged or not a .{format} file"),
            ));
            return;
        }
    };
    read_cells(cells, asm);
}

/// Applies the table rules to a sheet's non-empty cells, sorted by row then column.
fn read_cells(cells: Vec<(u32, u32, Data)>, asm: &mut Assembler) {
    let mut rows = cells.chunk_by(|a, b| a.0 == b.0).peekable();
    let header_cells = match rows.peek() {
        Some(first) if first.first().is_some_and(|c| c.0 == 0) => rows.next().unwrap_or_default(),
        Some(_) | None => &[],
    };
    let mut names = Vec::new();
    for (expected, (_, col, cell)) in (0u32..).zip(header_cells) {
        match cell_text(cell) {
            Ok(Some(name)) if *col == expected && !name.trim().is_empty() => {
                names.push(Cow::Owned(name));
            }
            _ => break,
        }
    }
    if names.is_empty() {
        let reason = if header_cells.is_empty() && rows.peek().is_none() {
            "the first sheet is empty"
        } else {
            "row 1 must be the header, but its first cell is empty"
        };
        asm.findings.problem(Problem::at(Location::Row(1), reason));
        return;
    }
    let Some(header) = Header::read(&names, Location::Row(1), &mut asm.findings) else {
        return;
    };
    for row in rows {
        if asm.stopped() {
            return;
        }
        let Some(&(index, ..)) = row.first() else {
            continue;
        };
        let location = Location::Row(index.saturating_add(1));
        let mut texts = Vec::new();
        for (_, col, cell) in row {
            let Ok(col) = usize::try_from(*col) else {
                continue;
            };
            if col >= header.width() {
                break;
            }
            match cell_text(cell) {
                Ok(Some(text)) => texts.push((col, Cow::Owned(text))),
                Ok(None) => {}
                Err(reason) => {
                    if let Some(field) = header.field_name(col) {
                        asm.findings
                            .problem(Problem::field(location, field, None, reason));
                    }
                }
            }
        }
        if let Some(record) = header.record(location, texts) {
            asm.add(record);
        }
    }
}

/// The non-empty cells of the first sheet as (row, column, value), sorted, positions absolute.
fn first_sheet(
    format: Format,
    bytes: &[u8],
    stopped: &dyn Fn() -> bool,
    max_text: u64,
) -> Result<Vec<(u32, u32, Data)>, String> {
    let cursor = Cursor::new(bytes);
    let mut cells = match format {
        Format::Xls => range_cells(load::<Xls<_>>(cursor, format)?),
        Format::Xlsx => xlsx_cells(cursor, stopped, max_text)?,
        _ => range_cells(load::<Ods<_>>(cursor, format)?),
    };
    cells.sort_by_key(|&(row, col, _)| (row, col));
    Ok(cells)
}

/// Streams an xlsx sheet's cells: no grid is built, so stray far-away cells cost nothing.
fn xlsx_cells(
    cursor: Cursor<&[u8]>,
    stopped: &dyn Fn() -> bool,
    max_text: u64,
) -> Result<Vec<(u32, u32, Data)>, String> {
    // A shared string is copied into every cell that uses it: the copies are counted.
    let mut text = 0u64;
    let mut workbook: Xlsx<_> = open_workbook_from_rs(cursor)
        .map_err(|e| format!("not a readable .xlsx workbook ({e})"))?;
    let name = workbook
        .sheet_names()
        .first()
        .cloned()
        .ok_or_else(|| "the workbook has no sheet".to_owned())?;
    let mut reader = workbook
        .worksheet_cells_reader(&name)
        .map_err(|e| format!("the first sheet cannot be read ({e})"))?;
    let mut cells = Vec::new();
    while let Some(cell) = reader
        .next_cell()
        .map_err(|e| format!("the first sheet cannot be read ({e})"))?
    {
        if stopped() {
            return Err("reading the file was stopped before its end".to_owned());
        }
        let (row, col) = cell.get_position();
        let value = Data::from(cell.get_value().clone());
        if let Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) = &value {
            text += s.len() as u64;
            if text > max_text {
                return Err(format!(
                    "the sheet's cells hold more than {} MiB of text, more than this server reads",
                    max_text >> 20
                ));
            }
        }
        if value != Data::Empty {
            if cells.len() as u64 >= extent::MAX_GRID_CELLS {
                return Err(format!(
                    "the sheet has more than {} cells, more than this server reads",
                    extent::MAX_GRID_CELLS
                ));
            }
            cells.push((row, col, value));
        }
    }
    Ok(cells)
}

/// The non-empty cells of a range with absolute positions.
fn range_cells(range: Range<Data>) -> Vec<(u32, u32, Data)> {
    let (row0, col0) = range.start().unwrap_or((0, 0));
    range
        .used_cells()
        .filter_map(|(row, col, value)| {
            let row = row0.checked_add(u32::try_from(row).ok()?)?;
            let col = col0.checked_add(u32::try_from(col).ok()?)?;
            Some((row, col, value.clone()))
        })
        .collect()
}

fn load<'a, W>(cursor: Cursor<&'a [u8]>, format: Format) -> Result<Range<Data>, String>
where
    W: Reader<Cursor<&'a [u8]>>,
{
    let mut workbook: W = open_workbook_from_rs(cursor)
        .map_err(|e| format!("not a readable .{format} workbook ({e:?})"))?;
    match workbook.worksheet_range_at(0) {
        None => Err("the workbook has no sheet".to_owned()),
        Some(Err(e)) => Err(format!("the first sheet cannot be read ({e:?})")),
        Some(Ok(range)) => Ok(range),
    }
}

/// The text of a cell as the table rules read it; `None` for an empty cell.
fn cell_text(cell: &Data) -> Result<Option<String>, String> {
    Ok(Some(match cell {
        Data::Empty => return Ok(None),
        Data::String(s) => s.clone(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) => number_text(*f)?,
        Data::Bool(b) => b.to_string(),
        Data::DateTime(dt) => datetime_text(dt)?,
        Data::DateTimeIso(s) => iso_datetime_text(s),
        Data::DurationIso(s) => iso_duration_text(s),
        Data::Error(e) => return Err(format!("the cell holds an error ({e})")),
    }))
}

/// A number as the spreadsheet shows it: whole numbers without `.0`, others rounded to 15
/// significant digits, which drops binary noise such as `0.30000000000000004`.
fn number_text(f: f64) -> Result<String, String> {
    if !f.is_finite() {
        return Err("the cell holds no valid number".to_owned());
    }
    if f.fract() == 0.0 && f.abs() < 1e15 {
        return Ok(format!("{}", f as i64));
    }
    let rounded: f64 = format!("{f:.14e}").parse().unwrap_or(f);
    Ok(format!("{rounded}"))
}

/// A native date/time cell: `YYYY-MM-DD`, `HH:MM` for a time of day, or both.
fn datetime_text(dt: &ExcelDateTime) -> Result<String, String> {
    let value = dt.as_f64();
    if !value.is_finite() {
        return Err("the cell holds no valid date".to_owned());
    }
    let minutes = ((value.fract() * 1440.0).round() as u32).min(1439);
    let time = format!("{:02}:{:02}", minutes / 60, minutes % 60);
    if dt.is_duration() || value < 1.0 {
        return Ok(time);
    }
    let (year, month, day, ..) = dt.to_ymd_hms_milli();
    let date = format!("{year:04}-{month:02}-{day:02}");
    Ok(if minutes == 0 {
        date
    } else {
        format!("{date} {time}")
    })
}

/// An ISO date or date-time (OpenDocument): `2025-06-02`, `2025-06-02T14:20:00` becomes
/// `2025-06-02 14:20`.
fn iso_datetime_text(s: &str) -> String {
    match s.split_once('T') {
        Some((date, time)) => {
            let hhmm = time.get(..5).unwrap_or(time);
            if hhmm == "00:00" {
                date.to_owned()
            } else {
                format!("{date} {hhmm}")
            }
        }
        None => s.to_owned(),
    }
}

/// An ISO duration (OpenDocument time cells, `PT14H20M00S`) as `HH:MM`; kept as written when it
/// is not one.
fn iso_duration_text(s: &str) -> String {
    let parsed = (|| {
        let rest = s.strip_prefix("PT")?;
        let (hours, rest) = rest.split_once('H')?;
        let (minutes, _) = rest.split_once('M')?;
        let hours: u32 = hours.parse().ok()?;
        let minutes: u32 = minutes.parse().ok()?;
        Some(format!("{:02}:{minutes:02}", hours % 24))
    })();
    parsed.unwrap_or_else(|| s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_as_shown() {
        assert_eq!(number_text(10.0).ok(), Some("10".into()));
        assert_eq!(number_text(525.5).ok(), Some("525.5".into()));
        assert_eq!(number_text(0.1 + 0.2).ok(), Some("0.3".into()));
        assert_eq!(number_text(1234.0).ok(), Some("1234".into()));
        assert!(number_text(f64::NAN).is_err());
    }

    #[test]
    fn iso_cells() {
        assert_eq!(iso_datetime_text("2025-06-02T00:00:00"), "2025-06-02");
        assert_eq!(iso_datetime_text("2025-06-02T14:20:00"), "2025-06-02 14:20");
        assert_eq!(iso_duration_text("PT14H20M00S"), "14:20");
        assert_eq!(iso_duration_text("P1D"), "P1D");
    }

    #[test]
    fn excel_dates() {
        use calamine::ExcelDateTimeType;
        let date = ExcelDateTime::new(45810.0, ExcelDateTimeType::DateTime, false);
        assert_eq!(datetime_text(&date).ok(), Some("2025-06-02".into()));
        let time = ExcelDateTime::new(
            14.0 / 24.0 + 20.0 / 1440.0,
            ExcelDateTimeType::DateTime,
            false,
        );
        assert_eq!(datetime_text(&time).ok(), Some("14:20".into()));
    }
}
