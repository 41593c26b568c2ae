//! Workbook extents: checks, before calamine reads a workbook, that the sizes the file declares
//! stay within what an order sheet needs.
//!
//! calamine trusts counts and cell positions found in the file: it reserves memory for the
//! declared number of shared strings (xlsx) and the declared dimensions (xls), and it builds a
//! dense grid from the first to the last used cell (xls, ods). A small hostile or damaged file
//! can thus ask for tens of gigabytes, and a failed allocation aborts the whole process, which no
//! `catch_unwind` stops. This module reads only the containers' bookkeeping (the xls record
//! stream, the zip entries of xlsx and ods) and refuses such files before calamine sees them.
//! The limits are ours and generous for order sheets; xlsx cells are streamed sparsely by the
//! caller, so only its shared-string count needs checking here.
//!
//! Zip bombs: the file size limit counts compressed bytes, and a small xlsx or ods can unpack to
//! gigabytes. [`check_zip`] bounds what each entry declares, what they declare together, and,
//! since a zip entry's declared size may lie, what they actually unpack to: every XML entry is
//! unpacked here once through a bounded reader, counting, before calamine sees it, which also
//! finds a cell's text (or one tag) longer than [`MAX_TEXT_RUN`]. An ods cell repeated across
//! columns and rows is a copy of its text each time in calamine's grid; [`check_ods`] counts
//! that too.

use std::io::{BufReader, Cursor, Read};

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

/// The most cells a sheet's grid may span, empty ones included (ours): about 160 MB of cells.
pub(crate) const MAX_GRID_CELLS: u64 = 5_000_000;

/// The most shared strings an xlsx may declare (ours).
const MAX_SHARED_STRINGS: u64 = 5_000_000;

/// calamine's own caps on OpenDocument repeats.
const ODS_MAX_ROWS: u64 = 1_048_576;
const ODS_MAX_COLUMNS: u64 = 16_384;

/// The longest text between two tags (or the longest tag) a workbook's XML may hold (ours): a
/// cell's text, far beyond the 1000 characters of the longest field.
pub(crate) const MAX_TEXT_RUN: u64 = 1024 * 1024;

/// A size in MiB as a report says it.
fn mib(bytes: u64) -> u64 {
    bytes >> 20
}

fn unpacks_to_more(limit: u64) -> String {
    format!(
        "the workbook unpacks to more than {} MiB, more than this server reads; \
         split it into smaller files or send it as CSV",
        mib(limit)
    )
}

/// Checks the entries of a zip workbook (xlsx, ods): each entry, and all of them together, must
/// unpack to at most `max_unpacked` bytes, by what they declare and by what they actually
/// inflate to, and no text run in the XML may pass [`MAX_TEXT_RUN`].
///
/// # Errors
///
/// The reason, in plain words. A file that is not a zip is left to calamine to report.
pub(crate) fn check_zip(bytes: &[u8], max_unpacked: u64) -> Result<(), String> {
    let Ok(mut zip) = zip::ZipArchive::new(Cursor::new(bytes)) else {
        return Ok(());
    };
    let mut declared = 0u64;
    let mut xml = Vec::new();
    for index in 0..zip.len() {
        let Ok(entry) = zip.by_index_raw(index) else {
            continue;
        };
        declared = declared.saturating_add(entry.size());
        if declared > max_unpacked {
            return Err(unpacks_to_more(max_unpacked));
        }
        let name = entry
            .name()
            .map(|n| n.to_ascii_lowercase())
            .unwrap_or_default();
        if name.ends_with(".xml") || name.ends_with(".rels") {
            xml.push((index, entry.size()));
        }
    }
    // Declared sizes may lie: inflate what calamine may read, counting.
    let mut inflated = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    for (index, size) in xml {
        let Ok(entry) = zip.by_index(index) else {
            continue;
        };
        let room = max_unpacked - inflated;
        let mut reader = entry.take(room.saturating_add(1));
        let mut run = 0u64;
        let mut read = 0u64;
        loop {
            // The zip reader itself fails an entry that inflates past its declared size.
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(_) => return Err(lying()),
            };
            read += n as u64;
            if read > room {
                return Err(unpacks_to_more(max_unpacked));
            }
            let chunk = &buf[..n];
            let mut last = 0usize;
            for at in memchr::memchr2_iter(b'<', b'>', chunk) {
                run += (at - last) as u64;
                if run > MAX_TEXT_RUN {
                    return Err(long_text());
                }
                run = 0;
                last = at + 1;
            }
            run += (n - last) as u64;
            if run > MAX_TEXT_RUN {
                return Err(long_text());
            }
        }
        if read > size {
            return Err(lying());
        }
        inflated += read;
    }
    Ok(())
}

fn lying() -> String {
    "the workbook is damaged: a part of it does not unpack to the size it declares".to_owned()
}

fn long_text() -> String {
    format!(
        "the workbook holds a cell (or tag) with more than {} MiB of text, more than this \
         server reads",
        mib(MAX_TEXT_RUN)
    )
}

fn too_big(cells: u64) -> String {
    format!(
        "the sheet spans {cells} cells, more than the {MAX_GRID_CELLS} this server reads; \
         remove stray cells far below or right of the data"
    )
}

/// Checks an `.xls` workbook's declared dimensions and cell spread.
///
/// # Errors
///
/// The reason, in plain words, when a sheet is too large or the file is not a workbook.
pub(crate) fn check_xls(bytes: &[u8], max_text: u64) -> Result<(), String> {
    // calamine holds the file, its workbook stream and its own records at once.
    let max_file = max_text;
    if bytes.len() as u64 > max_file {
        return Err(format!(
            "an .xls workbook of more than {} MiB is more than this server reads; save it as \
             .xlsx or CSV, or split it",
            mib(max_file)
        ));
    }
    let damaged = |_| "not a readable .xls workbook (damaged or another format)".to_owned();
    let mut file = cfb::CompoundFile::open(Cursor::new(bytes)).map_err(damaged)?;
    let name = ["/Workbook", "/Book"]
        .into_iter()
        .find(|name| file.is_stream(name))
        .ok_or_else(|| "not a readable .xls workbook (no workbook stream)".to_owned())?;
    let mut stream = Vec::new();
    file.open_stream(name)
        .map_err(damaged)?
        .take(bytes.len() as u64)
        .read_to_end(&mut stream)
        .map_err(damaged)?;
    // The globals substream lists where each sheet's substream starts (BoundSheet8 records).
    let mut sheets = Vec::new();
    // The shared strings: the SST record and its Continue records, as calamine reads them.
    let mut sst: Vec<&[u8]> = Vec::new();
    let mut in_sst = false;
    for (typ, data) in Records(&stream) {
        match typ {
            0x0085 => {
                if let Some(pos) = data.get(..4) {
                    sheets.push(u32::from_le_bytes([pos[0], pos[1], pos[2], pos[3]]) as usize);
                }
            }
            0x00FC => {
                sst = vec![data];
                in_sst = true;
                continue;
            }
            0x003C if in_sst => {
                sst.push(data);
                continue;
            }
            0x000A => break,
            _ => {}
        }
        in_sst = false;
    }
    let strings = sst_lengths(&sst);
    for pos in sheets {
        let Some(sheet) = stream.get(pos..) else {
            continue;
        };
        check_xls_sheet(sheet, &strings, max_text)?;
    }
    Ok(())
}

/// The most bytes each shared string of an SST record (with its Continue records) takes as
/// UTF-8: three per character, an overestimate.
fn sst_lengths(parts: &[&[u8]]) -> Vec<u64> {
    let mut lengths = Vec::new();
    let mut at = SstCursor {
        parts,
        part: 0,
        at: 8,
    };
    while let Some(cch) = at.u16() {
        let Some(flags) = at.u8() else {
            break;
        };
        let runs = if flags & 0x8 != 0 { at.u16() } else { Some(0) };
        let ext = if flags & 0x4 != 0 { at.u32() } else { Some(0) };
        let (Some(runs), Some(ext)) = (runs, ext) else {
            break;
        };
        lengths.push(u64::from(cch) * 3);
        if !at.chars(usize::from(cch), flags & 0x1 != 0) {
            break;
        }
        at.skip(usize::from(runs) * 4 + ext as usize);
    }
    lengths
}

/// A position in the SST record and its Continue records.
struct SstCursor<'a> {
    parts: &'a [&'a [u8]],
    part: usize,
    at: usize,
}

impl SstCursor<'_> {
    fn u8(&mut self) -> Option<u8> {
        loop {
            let part = self.parts.get(self.part)?;
            if let Some(&b) = part.get(self.at) {
                self.at += 1;
                return Some(b);
            }
            self.part += 1;
            self.at = 0;
        }
    }

    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes([self.u8()?, self.u8()?]))
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes([
            self.u8()?,
            self.u8()?,
            self.u8()?,
            self.u8()?,
        ]))
    }

    fn skip(&mut self, mut n: usize) {
        while n > 0 {
            let Some(part) = self.parts.get(self.part) else {
                return;
            };
            let left = part.len().saturating_sub(self.at);
            if left >= n {
                self.at += n;
                return;
            }
            n -= left;
            self.part += 1;
            self.at = 0;
        }
    }

    /// Skips `cch` characters; a Continue record in the middle starts with a new flags byte.
    fn chars(&mut self, mut cch: usize, mut wide: bool) -> bool {
        while cch > 0 {
            let Some(part) = self.parts.get(self.part) else {
                return false;
            };
            let width = if wide { 2 } else { 1 };
            let left = part.len().saturating_sub(self.at) / width;
            if left >= cch {
                self.at += cch * width;
                return true;
            }
            cch -= left;
            self.part += 1;
            self.at = 0;
            match self.u8() {
                Some(flags) => wide = flags & 0x1 != 0,
                None => return false,
            }
        }
        true
    }
}

/// One sheet substream, mirroring how calamine walks it; also the text its cells hold as
/// calamine copies it, at most `max_text` bytes.
fn check_xls_sheet(stream: &[u8], strings: &[u64], max_text: u64) -> Result<(), String> {
    let mut text = 0u64;
    let mut add_text = |bytes: u64| {
        text = text.saturating_add(bytes);
        if text > max_text {
            Err(format!(
                "the sheet's cells hold more than {} MiB of text, more than this server reads",
                mib(max_text)
            ))
        } else {
            Ok(())
        }
    };
    let mut spread = Spread::default();
    let mut seen_bof = false;
    let mut depth = 0usize;
    for (typ, data) in Records(stream) {
        if depth > 0 {
            match typ {
                0x0809 => depth += 1,
                0x000A => depth -= 1,
                _ => {}
            }
            continue;
        }
        let row = u16_at(data, 0).map(u64::from);
        let col = u16_at(data, 2).map(u64::from);
        match typ {
            0x0809 if seen_bof => depth += 1,
            0x0809 => seen_bof = true,
            0x000A => break,
            // Dimensions: calamine reserves room for the whole declared area.
            0x0200 => {
                let cells = xls_dimensions(data)?;
                if cells > MAX_GRID_CELLS {
                    return Err(too_big(cells));
                }
            }
            // Number, Label, RString, BoolErr, Rk, LabelSst, Formula: one cell each.
            0x0203 | 0x0204 | 0x00D6 | 0x0205 | 0x027E | 0x00FD | 0x0006 => {
                if let (Some(row), Some(col)) = (row, col) {
                    spread.add(row, col);
                }
                match typ {
                    // LabelSst: a copy of a shared string (an unknown index copies nothing).
                    0x00FD => {
                        let index = u32_at(data, 6).unwrap_or(u32::MAX) as usize;
                        add_text(strings.get(index).copied().unwrap_or(0))?;
                    }
                    // Label, RString: their own text.
                    0x0204 | 0x00D6 => add_text(data.len() as u64 * 3)?,
                    _ => {}
                }
            }
            // MulRk: a run of cells in one row, last column at the end.
            0x00BD => {
                let last = data.len().checked_sub(2).and_then(|at| u16_at(data, at));
                if let (Some(row), Some(first), Some(last)) = (row, col, last) {
                    spread.add(row, first);
                    spread.add(row, u64::from(last));
                }
            }
            _ => {}
        }
    }
    let cells = spread.cells();
    if cells > MAX_GRID_CELLS {
        return Err(too_big(cells));
    }
    Ok(())
}

/// The cells calamine reserves for a Dimensions record, or an error where its arithmetic would
/// wrap around.
fn xls_dimensions(data: &[u8]) -> Result<u64, String> {
    let (rf, rl, cf, cl) = match data.len() {
        10 => (
            u16_at(data, 0).map(u32::from),
            u16_at(data, 2).map(u32::from),
            u16_at(data, 4).map(u32::from),
            u16_at(data, 6).map(u32::from),
        ),
        14 | 16 => (
            u32_at(data, 0),
            u32_at(data, 4),
            u16_at(data, 8).map(u32::from),
            u16_at(data, 10).map(u32::from),
        ),
        _ => return Ok(0),
    };
    let (Some(rf), Some(rl), Some(mut cf), Some(cl)) = (rf, rl, cf, cl) else {
        return Ok(0);
    };
    if cf > 0xFF || cl < cf {
        cf = 0;
    }
    if rl < 1 || cl < 1 {
        return Ok(1);
    }
    let damaged = || "the workbook's sheet dimensions are damaged".to_owned();
    let rows = (rl - 1).checked_sub(rf).ok_or_else(damaged)?;
    let cols = (cl - 1).checked_sub(cf).ok_or_else(damaged)?;
    Ok((u64::from(rows) + 1) * (u64::from(cols) + 1))
}

/// Checks an `.xlsx` workbook's declared shared-string count.
///
/// # Errors
///
/// The reason, in plain words, when the count is beyond reason. A file that is not a zip is left
/// to calamine to report.
pub(crate) fn check_xlsx(bytes: &[u8]) -> Result<(), String> {
    let Ok(mut zip) = zip::ZipArchive::new(Cursor::new(bytes)) else {
        return Ok(());
    };
    for index in 0..zip.len() {
        let Ok(entry) = zip.by_index(index) else {
            continue;
        };
        let is_xml = entry
            .name()
            .is_ok_and(|name| name.to_ascii_lowercase().ends_with(".xml"));
        if !is_xml {
            continue;
        }
        let mut reader = Reader::from_reader(BufReader::new(entry.take(64 * 1024)));
        let mut buf = Vec::new();
        // Only the first element matters: the shared-string table is `<sst uniqueCount="n">`.
        loop {
            buf.clear();
            match reader.read_event_into(&mut buf) {
                Ok(Event::Start(e) | Event::Empty(e)) => {
                    if e.local_name().as_ref() == "sst" {
                        let count = attribute(&e, "uniqueCount")
                            .and_then(|n| n.trim().parse::<u64>().ok())
                            .unwrap_or(0);
                        if count > MAX_SHARED_STRINGS {
                            return Err(format!(
                                "the workbook declares {count} shared strings, more than the \
                                 {MAX_SHARED_STRINGS} this server reads"
                            ));
                        }
                    }
                    break;
                }
                Ok(Event::Eof) | Err(_) => break,
                Ok(_) => {}
            }
        }
    }
    Ok(())
}

/// Checks an `.ods` workbook: the grid calamine builds for each table from its rows, cells and
/// their repeat counts, and the text that grid holds (a repeated cell's text once per copy),
/// at most `max_text` bytes.
///
/// # Errors
///
/// The reason, in plain words, when a table is too large. A file that is not a zip, or content
/// that is not XML, is left to calamine to report.
pub(crate) fn check_ods(bytes: &[u8], max_text: u64) -> Result<(), String> {
    let Ok(mut zip) = zip::ZipArchive::new(Cursor::new(bytes)) else {
        return Ok(());
    };
    let Ok(content) = zip.by_name("content.xml") else {
        return Ok(());
    };
    let mut reader = Reader::from_reader(BufReader::new(content));
    let mut buf = Vec::new();
    let mut table = OdsTable::default();
    let mut row: Option<OdsRow> = None;
    // Depth inside a cell element, whose content is skipped.
    let mut cell_depth = 0usize;
    // The repeat count of the cell whose content is being skipped.
    let mut cell: Option<u64> = None;
    // The text of the cell being skipped.
    let mut cell_text = 0u64;
    let mut stored = 0u64;
    // The text bytes of the grid, copies included.
    let mut text = 0u64;
    loop {
        buf.clear();
        let event = match reader.read_event_into(&mut buf) {
            Ok(Event::Eof) | Err(_) => break,
            Ok(event) => event,
        };
        if cell_depth > 0 {
            match event {
                Event::Start(_) => cell_depth += 1,
                Event::Text(t) => cell_text = cell_text.saturating_add(t.len() as u64),
                Event::CData(t) => cell_text = cell_text.saturating_add(t.len() as u64),
                Event::End(_) => {
                    cell_depth -= 1;
                    if cell_depth == 0 {
                        if let (Some(repeats), Some(row)) = (cell.take(), row.as_mut()) {
                            row.cell(repeats, true);
                            let copies = repeats.min(ODS_MAX_COLUMNS);
                            row.text = row.text.saturating_add(cell_text.saturating_mul(copies));
                        }
                        cell_text = 0;
                    }
                }
                _ => {}
            }
            continue;
        }
        let is_start = matches!(event, Event::Start(_));
        match event {
            Event::Start(e) | Event::Empty(e)
                if matches!(e.local_name().as_ref(), "table-cell" | "covered-table-cell") =>
            {
                let repeats = attribute(&e, "table:number-columns-repeated")
                    .and_then(|n| n.trim().parse::<u64>().ok())
                    .unwrap_or(1);
                let valued = attribute(&e, "office:value-type").is_some()
                    || attribute(&e, "table:formula").is_some();
                // A cell with content (text, annotations) counts as valued: a safe overestimate.
                if is_start {
                    cell_depth = 1;
                    cell = Some(repeats);
                    cell_text = 0;
                } else if let Some(row) = row.as_mut() {
                    row.cell(repeats, valued);
                }
            }
            Event::Start(e) if e.local_name().as_ref() == "table-row" => {
                let repeats = attribute(&e, "table:number-rows-repeated")
                    .and_then(|n| n.trim().parse::<u64>().ok())
                    .unwrap_or(1);
                row = Some(OdsRow {
                    repeats,
                    ..OdsRow::default()
                });
            }
            Event::End(e) if e.local_name().as_ref() == "table-row" => {
                if let Some(done) = row.take() {
                    stored = stored.saturating_add(done.pushed);
                    table.row(done.repeats, done.pushed);
                    let cells = stored.max(table.cells());
                    if cells > MAX_GRID_CELLS {
                        return Err(too_big(cells));
                    }
                    let copies = done.repeats.clamp(1, ODS_MAX_ROWS);
                    text = text.saturating_add(done.text.saturating_mul(copies));
                    if text > max_text {
                        return Err(format!(
                            "the sheet's cells, repeats included, hold more than {} MiB of \
                             text, more than this server reads",
                            mib(max_text)
                        ));
                    }
                }
            }
            Event::Start(e) if e.local_name().as_ref() == "table" => table = OdsTable::default(),
            _ => {}
        }
    }
    Ok(())
}

/// One OpenDocument row as calamine stores it: empty cells count only before a valued one.
#[derive(Debug, Default)]
struct OdsRow {
    repeats: u64,
    pushed: u64,
    pending_empty: u64,
    /// The text of its cells, repeats included.
    text: u64,
}

impl OdsRow {
    fn cell(&mut self, repeats: u64, valued: bool) {
        if valued {
            self.pushed = self
                .pushed
                .saturating_add(self.pending_empty)
                .saturating_add(repeats)
                .min(ODS_MAX_COLUMNS);
            self.pending_empty = 0;
        } else {
            self.pending_empty = self.pending_empty.saturating_add(repeats);
        }
    }
}

/// The grid calamine expands one OpenDocument table to: from the first to the last non-empty
/// row, repeats included, times the widest row.
#[derive(Debug, Default)]
struct OdsTable {
    rows: u64,
    seen: bool,
    expanded: u64,
    pending_rows: u64,
    width: u64,
}

impl OdsTable {
    fn row(&mut self, repeats: u64, pushed: u64) {
        let repeats = repeats.min(ODS_MAX_ROWS.saturating_sub(self.rows));
        self.rows = self.rows.saturating_add(repeats);
        if pushed > 0 {
            self.expanded = self
                .expanded
                .saturating_add(self.pending_rows)
                .saturating_add(repeats);
            self.pending_rows = 0;
            self.seen = true;
            self.width = self.width.max(pushed);
        } else if self.seen {
            self.pending_rows = self.pending_rows.saturating_add(repeats);
        }
    }

    fn cells(&self) -> u64 {
        self.expanded.saturating_mul(self.width)
    }
}

/// The span of cell positions seen.
#[derive(Debug, Default)]
struct Spread {
    bounds: Option<(u64, u64, u64, u64)>,
}

impl Spread {
    fn add(&mut self, row: u64, col: u64) {
        self.bounds = Some(match self.bounds {
            None => (row, row, col, col),
            Some((r0, r1, c0, c1)) => (r0.min(row), r1.max(row), c0.min(col), c1.max(col)),
        });
    }

    fn cells(&self) -> u64 {
        self.bounds.map_or(0, |(r0, r1, c0, c1)| {
            (r1 - r0 + 1).saturating_mul(c1 - c0 + 1)
        })
    }
}

/// BIFF records: (type, data), stopping at the first incomplete one.
struct Records<'a>(&'a [u8]);

impl<'a> Iterator for Records<'a> {
    type Item = (u16, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let typ = u16_at(self.0, 0)?;
        let len = usize::from(u16_at(self.0, 2)?);
        let data = self.0.get(4..4 + len)?;
        self.0 = self.0.get(4 + len..)?;
        Some((typ, data))
    }
}

fn u16_at(data: &[u8], at: usize) -> Option<u16> {
    let b = data.get(at..at + 2)?;
    Some(u16::from_le_bytes([b[0], b[1]]))
}

fn u32_at(data: &[u8], at: usize) -> Option<u32> {
    let b = data.get(at..at + 4)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// The value of an attribute by its full name, as text.
fn attribute(e: &BytesStart<'_>, name: &str) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.as_ref() == name)
        .map(|a| a.value.into_owned())
}
