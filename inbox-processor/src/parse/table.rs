//! Tables: the rules CSV files and spreadsheets share. Row 1 is a header of field names in any
//! order; every later row is one goods line of a shipment, or one status update when the header
//! has a `status` column and no goods columns.
//!
//! This module owns the header (which column is which field, what kind of file it is) and the
//! turning of a row's cells into a [`Record`]. It does not read bytes or cells itself.

use std::borrow::Cow;
use std::collections::HashMap;

use super::field::{Field, Level};
use super::problem::{Findings, Location, Problem};
use super::record::{trimmed, GoodsRecord, Kind, RawField, Record};

/// A checked header.
#[derive(Debug)]
pub(crate) struct Header {
    /// The field of each column; `None` for unknown or unnamed columns.
    columns: Vec<Option<Field>>,
    kind: Kind,
    /// The number of known columns of goods-line fields, and of the other fields.
    goods_columns: usize,
    other_columns: usize,
}

impl Header {
    /// Reads the header names found at `location`. Unknown columns are warnings; two columns for
    /// one field, or a missing required column, are problems and give `None`: the rows are not
    /// read then, since every one of them would fail the same way.
    pub(crate) fn read(
        names: &[Cow<'_, str>],
        location: Location,
        findings: &mut Findings,
    ) -> Option<Header> {
        let mut columns = Vec::with_capacity(names.len());
        // The first column of each field, to find a second one without rescanning the header.
        let mut first: HashMap<Field, usize> = HashMap::new();
        let mut ok = true;
        for (i, name) in names.iter().enumerate() {
            let name = name.trim();
            if name.is_empty() {
                columns.push(None);
                continue;
            }
            let field = Field::from_name(name);
            match field {
                None => findings.warning(
                    location,
                    format!("unknown column {name:?} (column {}) is ignored", i + 1),
                ),
                Some(field) => {
                    if let Some(&j) = first.get(&field) {
                        ok = false;
                        findings.problem(Problem::field(
                            location,
                            field.name(),
                            Some(name),
                            format!(
                                "columns {} and {} both mean {}; keep one",
                                j + 1,
                                i + 1,
                                field.name()
                            ),
                        ));
                    } else {
                        first.insert(field, i);
                    }
                }
            }
            columns.push(field);
        }
        let has = |f: Field| columns.contains(&Some(f));
        let has_goods = columns.iter().flatten().any(|f| f.level() == Level::Goods);
        let kind = if has(Field::Status) && !has_goods {
            Kind::Status
        } else {
            Kind::Order
        };
        if columns.iter().all(Option::is_none) {
            findings.problem(Problem::at(
                location,
                "the header names no known field (expected e.g. customerID, shipmentID, quantity)",
            ));
            return None;
        }
        let required: &[Field] = match kind {
            Kind::Order => &[Field::CustomerId, Field::ShipmentId, Field::Quantity],
            Kind::Status => &[Field::Status],
        };
        for &field in required {
            if !has(field) {
                ok = false;
                findings.problem(Problem::field(
                    location,
                    field.name(),
                    None,
                    "required column is missing from the header",
                ));
            }
        }
        if kind == Kind::Status && !has(Field::ShipmentId) && !has(Field::TrackingNbr) {
            ok = false;
            findings.problem(Problem::field(
                location,
                Field::ShipmentId.name(),
                None,
                "a status-update file needs a shipmentID, orderID or trackingNbr column",
            ));
        }
        let goods_columns = columns
            .iter()
            .flatten()
            .filter(|f| f.level() == Level::Goods)
            .count();
        let other_columns = columns.iter().flatten().count() - goods_columns;
        ok.then_some(Header {
            columns,
            kind,
            goods_columns,
            other_columns,
        })
    }

    /// The number of columns, named or not.
    pub(crate) fn width(&self) -> usize {
        self.columns.len()
    }

    /// True when a row with `len` values fits the header: it may lack or add only values of
    /// columns that mean nothing (unnamed or unknown), so a trailing separator is no problem but a
    /// cut-off row is.
    pub(crate) fn fits(&self, len: usize, extra_is_empty: bool) -> bool {
        let missing_named = self.columns.iter().skip(len).any(Option::is_some);
        !missing_named && extra_is_empty
    }

    /// The canonical name of the field in column `index`, if it is a known one.
    pub(crate) fn field_name(&self, index: usize) -> Option<&'static str> {
        self.columns.get(index).copied().flatten().map(Field::name)
    }

    /// The record of one row from its (column index, text) cells; `None` for a row whose known
    /// cells are all empty.
    pub(crate) fn record<'a>(
        &self,
        location: Location,
        cells: impl IntoIterator<Item = (usize, Cow<'a, str>)>,
    ) -> Option<Record<'a>> {
        let mut record = Record::new(location, self.kind);
        record.fields.reserve_exact(self.other_columns);
        let mut goods = Vec::with_capacity(self.goods_columns);
        for (i, text) in cells {
            let Some(Some(field)) = self.columns.get(i) else {
                continue;
            };
            let text = trimmed(text);
            if text.is_empty() {
                continue;
            }
            let raw = RawField {
                field: *field,
                text,
                location,
            };
            if field.level() == Level::Goods {
                goods.push(raw);
            } else {
                record.fields.push(raw);
            }
        }
        if record.fields.is_empty() && goods.is_empty() {
            return None;
        }
        if self.kind == Kind::Order {
            record.goods.reserve_exact(1);
            record.goods.push(GoodsRecord {
                location,
                number: None,
                fields: goods,
            });
        }
        Some(record)
    }
}
