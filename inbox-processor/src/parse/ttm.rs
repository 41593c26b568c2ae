//! TTM ("Track & Trace Mail") files: blocks from a line `<!-- start order` to a line `-->`, one
//! `field : value` a line inside, goods lines numbered (`quantity1`, `packing1`, `quantity2`),
//! `#` comment lines (ours). A block with a `status` and no goods is a status update.
//!
//! Text outside blocks is ignored (ours): these files grew out of mail bodies, where blocks sit
//! between other text. This module owns the block syntax and its problems (unclosed blocks,
//! lines that are not `field : value`, runaway lines and blocks); values and grouping are
//! validation's.
//!
//! Reading streams, as CSV does: the file is consumed from any `Read` line by line through a
//! reused buffer, each closed block is handed to validation at once, and only the model is kept.
//! Limits against runaway input (ours): a line over 1 MiB, or a block holding more than 16 MiB of
//! values, stops reading with a problem.

use std::collections::{BTreeMap, HashSet};
use std::io::{self, BufRead, BufReader, Read};

use encoding_rs::{Decoder, Encoding, UTF_8};

use super::encoding::TextDecoder;
use super::field::{Field, Level};
use super::problem::{Findings, Location, Problem};
use super::record::{push_field, GoodsRecord, Kind, RawField, Record};
use super::validation::Assembler;

/// A block being read.
struct Block {
    number: u32,
    start: u32,
    record: Record<'static>,
    /// Goods lines by number; moved into the record, in number order, when the block closes.
    goods: BTreeMap<u32, GoodsRecord<'static>>,
    /// About the bytes the block's values hold (see [`MAX_BLOCK_BYTES`]).
    held: usize,
}

impl Block {
    fn location(&self) -> Location {
        Location::Block {
            number: self.number,
            line: self.start,
        }
    }
}

/// The longest line read (ours), as for CSV records.
pub(crate) const MAX_LINE_BYTES: usize = 1024 * 1024;

/// The most bytes of values one block may hold (ours): a block is one shipment, and this is
/// thousands of goods lines.
const MAX_BLOCK_BYTES: usize = 16 * 1024 * 1024;

/// What a field costs in a block besides its text (its slot, location and list entry), for the
/// block's limit.
const FIELD_OVERHEAD: usize = 64;

/// The read buffer.
const BUFFER: usize = 64 * 1024;

/// Reads a whole TTM file held in memory into `asm`.
pub(crate) fn read(bytes: &[u8], asm: &mut Assembler) {
    // Reading a slice cannot fail.
    let _ = read_stream(bytes, asm, &mut |_| {});
}

/// Reads a TTM file from any reader into `asm`; `after` is called after each block added (the
/// streaming reader takes its batches there).
///
/// # Errors
///
/// Only the reader's own I/O errors; everything wrong with the content goes to `asm` as problems.
pub(crate) fn read_stream<R: Read>(
    reader: R,
    asm: &mut Assembler,
    after: &mut dyn FnMut(&mut Assembler),
) -> io::Result<()> {
    let mut reader = BufReader::with_capacity(BUFFER, reader);
    let head = reader.fill_buf()?;
    match Encoding::for_bom(head) {
        Some((enc, bom)) if enc == UTF_8 => {
            reader.consume(bom);
            read_lines(reader, asm, after)
        }
        Some((enc, bom)) => {
            reader.consume(bom);
            let mut utf8 = Utf8From {
                inner: reader,
                decoder: enc.new_decoder_without_bom_handling(),
                out: Vec::new(),
                at: 0,
                done: false,
                had_errors: false,
            };
            read_lines(BufReader::with_capacity(BUFFER, &mut utf8), asm, after)?;
            if utf8.had_errors {
                asm.findings.warning(
                    Location::File,
                    format!(
                        "the file is not valid {}; broken characters were replaced by \u{FFFD}",
                        enc.name()
                    ),
                );
            }
            Ok(())
        }
        None => read_lines(reader, asm, after),
    }
}

/// The block syntax over the lines of `reader`.
fn read_lines<R: BufRead>(
    mut reader: R,
    asm: &mut Assembler,
    after: &mut dyn FnMut(&mut Assembler),
) -> io::Result<()> {
    let mut decoder = TextDecoder::default();
    let mut block: Option<Block> = None;
    let mut blocks: u32 = 0;
    let mut unknown: HashSet<String> = HashSet::new();
    let mut buf = Vec::new();
    let mut line_no: u32 = 0;
    loop {
        if asm.stopped() {
            return Ok(());
        }
        buf.clear();
        let limit = (MAX_LINE_BYTES + 1) as u64;
        let n = (&mut reader).take(limit).read_until(b'\n', &mut buf)?;
        if n == 0 {
            break;
        }
        line_no = line_no.saturating_add(1);
        if buf.len() > MAX_LINE_BYTES {
            asm.findings.problem(Problem::at(
                Location::line(u64::from(line_no)),
                format!(
                    "this line is longer than {MAX_LINE_BYTES} bytes (1 MiB); reading stopped here"
                ),
            ));
            decoder.finish(&mut asm.findings);
            return Ok(());
        }
        let bytes = buf.strip_suffix(b"\n").unwrap_or(&buf);
        let line = decoder.decode(bytes, Location::line(u64::from(line_no)));
        let trimmed = line.trim();
        if is_block_start(trimmed) {
            if let Some(open) = block.take() {
                asm.findings.problem(Problem::at(
                    open.location(),
                    "the block has no `-->` line before the next `<!-- start order`",
                ));
            }
            blocks = blocks.saturating_add(1);
            let location = Location::Block {
                number: blocks,
                line: line_no,
            };
            block = Some(Block {
                number: blocks,
                start: line_no,
                record: Record::new(location, Kind::Order),
                goods: BTreeMap::new(),
                held: 0,
            });
            continue;
        }
        let Some(open) = block.as_mut() else {
            continue;
        };
        if trimmed == "-->" {
            if let Some(done) = block.take() {
                asm.add(finish(done));
                after(asm);
            }
            continue;
        }
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let location = Location::Block {
            number: open.number,
            line: line_no,
        };
        read_line(trimmed, location, open, &mut unknown, &mut asm.findings);
        if open.held > MAX_BLOCK_BYTES {
            asm.findings.problem(Problem::at(
                open.location(),
                format!(
                    "the block holds more than {} MiB of values; reading stopped here",
                    MAX_BLOCK_BYTES >> 20
                ),
            ));
            decoder.finish(&mut asm.findings);
            return Ok(());
        }
    }
    decoder.finish(&mut asm.findings);
    if let Some(open) = block {
        asm.findings.problem(Problem::at(
            open.location(),
            "the block is not closed: the file ends before its `-->` line (is the file cut off?)",
        ));
    }
    if blocks == 0 {
        asm.findings.problem(Problem::at(
            Location::File,
            "no `<!-- start order` block found",
        ));
    }
    Ok(())
}

/// A reader of UTF-8 over a reader of another encoding (a UTF-16 file, by its BOM).
struct Utf8From<R> {
    inner: R,
    decoder: Decoder,
    /// Decoded bytes not yet read, from `at`.
    out: Vec<u8>,
    at: usize,
    done: bool,
    had_errors: bool,
}

impl<R: BufRead> Read for Utf8From<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.at < self.out.len() {
                let n = buf.len().min(self.out.len() - self.at);
                buf[..n].copy_from_slice(&self.out[self.at..self.at + n]);
                self.at += n;
                return Ok(n);
            }
            if self.done {
                return Ok(0);
            }
            let input = self.inner.fill_buf()?;
            let last = input.is_empty();
            let room = self
                .decoder
                .max_utf8_buffer_length(input.len())
                .unwrap_or(BUFFER * 4)
                .max(16);
            self.out.resize(room, 0);
            let (_, read, written, had_errors) =
                self.decoder.decode_to_utf8(input, &mut self.out, last);
            self.inner.consume(read);
            self.out.truncate(written);
            self.at = 0;
            self.had_errors |= had_errors;
            self.done = last;
        }
    }
}

/// True for a `<!-- start order` line, in any case and spacing.
fn is_block_start(line: &str) -> bool {
    let Some(rest) = line.strip_prefix("<!--") else {
        return false;
    };
    let words: Vec<&str> = rest.split_whitespace().take(2).collect();
    matches!(words.as_slice(), [a, b] if a.eq_ignore_ascii_case("start") && b.eq_ignore_ascii_case("order"))
}

/// Reads one `field : value` line into the block's record.
fn read_line(
    line: &str,
    location: Location,
    block: &mut Block,
    unknown: &mut HashSet<String>,
    findings: &mut Findings,
) {
    // Split on the first ` : ` as formats.md says; a bare `:` is accepted too (ours), which also
    // covers `field :` with an empty value.
    let Some((key, value)) = line.split_once(" : ").or_else(|| line.split_once(':')) else {
        findings.problem(Problem::value(location, line, "not a `field : value` line"));
        return;
    };
    let (key, value) = (key.trim(), value.trim());
    if value.is_empty() {
        return;
    }
    block.held += value.len() + FIELD_OVERHEAD;
    match Field::from_numbered_name(key) {
        None => {
            if unknown.insert(key.to_ascii_lowercase()) {
                findings.warning(location, format!("unknown field {key:?} is ignored"));
            }
        }
        Some((field, number)) if field.level() == Level::Goods => {
            // An unnumbered goods field belongs to goods line 1 (ours).
            let number = number.unwrap_or(1);
            let goods = block.goods.entry(number).or_insert_with(|| GoodsRecord {
                location,
                number: Some(number),
                fields: Vec::new(),
            });
            let raw = RawField {
                field,
                text: value.to_owned().into(),
                location,
            };
            push_field(&mut goods.fields, &field.label(Some(number)), raw, findings);
        }
        Some((field, _)) => {
            let raw = RawField {
                field,
                text: value.to_owned().into(),
                location,
            };
            push_field(&mut block.record.fields, field.name(), raw, findings);
        }
    }
}

/// A closed block: goods in number order, and a status update when it has a status and no goods.
fn finish(block: Block) -> Record<'static> {
    let mut record = block.record;
    record.goods = block.goods.into_values().collect();
    if record.goods.is_empty() && record.has(Field::Status) {
        record.kind = Kind::Status;
    }
    record
}
