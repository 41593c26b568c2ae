//! The raw record every format hands to validation: one CSV line, spreadsheet row, TTM block or
//! XML `<shipment>`, as (field, text, location) triples plus its goods lines.
//!
//! A record is short-lived: validation turns it into model values at once, so no raw text is
//! kept for the whole file. This module knows nothing of how a record was read.

use std::borrow::Cow;

use super::field::Field;
use super::problem::{Findings, Location, Problem};

/// What a record describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A shipment of an order, with its goods lines.
    Order,
    /// A status update about a shipment.
    Status,
}

/// One field as read: trimmed, never empty. CSV borrows its text from the line being read, so
/// only values that are kept cost an allocation.
#[derive(Debug, Clone)]
pub(crate) struct RawField<'a> {
    pub(crate) field: Field,
    pub(crate) text: Cow<'a, str>,
    pub(crate) location: Location,
}

/// One goods line as read.
#[derive(Debug, Clone)]
pub(crate) struct GoodsRecord<'a> {
    pub(crate) location: Location,
    /// The TTM goods-line number (`quantity2` is 2); `None` in other formats.
    pub(crate) number: Option<u32>,
    pub(crate) fields: Vec<RawField<'a>>,
}

/// One record as read.
#[derive(Debug, Clone)]
pub(crate) struct Record<'a> {
    pub(crate) location: Location,
    pub(crate) kind: Kind,
    /// Order, shipment and status fields.
    pub(crate) fields: Vec<RawField<'a>>,
    pub(crate) goods: Vec<GoodsRecord<'a>>,
}

impl<'a> Record<'a> {
    /// An empty record of the given kind.
    pub(crate) fn new(location: Location, kind: Kind) -> Record<'a> {
        Record {
            location,
            kind,
            fields: Vec::new(),
            goods: Vec::new(),
        }
    }

    /// True when the record has `field`.
    pub(crate) fn has(&self, field: Field) -> bool {
        self.fields.iter().any(|f| f.field == field)
    }
}

/// Adds a field to a list, trimming it and skipping empty text. The same field twice with the
/// same text is kept once; with different text it is a problem.
pub(crate) fn push_field<'a>(
    fields: &mut Vec<RawField<'a>>,
    label: &str,
    raw: RawField<'a>,
    findings: &mut Findings,
) {
    let text = raw.text.trim();
    if text.is_empty() {
        return;
    }
    if let Some(earlier) = fields.iter().find(|f| f.field == raw.field) {
        if earlier.text != text {
            findings.problem(Problem::field(
                raw.location,
                label,
                Some(text),
                format!(
                    "given twice with different values (also {:?} at {})",
                    cut_short(&earlier.text),
                    earlier.location
                ),
            ));
        }
        return;
    }
    let text = trimmed(raw.text);
    fields.push(RawField { text, ..raw });
}

/// `text` without the whitespace around it, copied only when it is owned and had some.
#[inline]
pub(crate) fn trimmed(text: Cow<'_, str>) -> Cow<'_, str> {
    let bare = |b: Option<&u8>| b.is_some_and(|&b| b > b' ' && b.is_ascii());
    if bare(text.as_bytes().first()) && bare(text.as_bytes().last()) {
        return text;
    }
    match text {
        Cow::Borrowed(text) => Cow::Borrowed(text.trim()),
        Cow::Owned(text) if text.trim().len() == text.len() => Cow::Owned(text),
        Cow::Owned(text) => Cow::Owned(text.trim().to_owned()),
    }
}

/// The first 40 characters of a value, for quoting inside a reason.
pub(crate) fn cut_short(text: &str) -> String {
    match text.char_indices().nth(40) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_owned(),
    }
}
