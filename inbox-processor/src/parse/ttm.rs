//! TTM ("Track & Trace Mail") files: blocks from a line `<!-- start order` to a line `-->`, one
//! `field : value` a line inside, goods lines numbered (`quantity1`, `packing1`, `quantity2`),
//! `#` comment lines (ours). A block with a `status` and no goods is a status update.
//!
//! Text outside blocks is ignored (ours): these files grew out of mail bodies, where blocks sit
//! between other text. This module owns the block syntax and its problems (unclosed blocks,
//! lines that are not `field : value`); values and grouping are validation's.

use std::collections::{BTreeMap, HashSet};

use super::encoding::decode_document;
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
}

impl Block {
    fn location(&self) -> Location {
        Location::Block {
            number: self.number,
            line: self.start,
        }
    }
}

/// Reads a whole TTM file into `asm`.
pub(crate) fn read(bytes: &[u8], asm: &mut Assembler) {
    let text = decode_document(bytes, &mut asm.findings);
    let mut block: Option<Block> = None;
    let mut blocks: u32 = 0;
    let mut unknown: HashSet<String> = HashSet::new();
    for (i, line) in text.split('\n').enumerate() {
        if asm.stopped() {
            return;
        }
        let line_no = u32::try_from(i + 1).unwrap_or(u32::MAX);
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
            });
            continue;
        }
        let Some(open) = block.as_mut() else {
            continue;
        };
        if trimmed == "-->" {
            if let Some(done) = block.take() {
                asm.add(finish(done));
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
    }
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
