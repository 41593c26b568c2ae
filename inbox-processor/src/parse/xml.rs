//! XML files: `<orders><order>...<shipments><shipment>...<goods><good>` for orders and
//! `<orderData><orders><order><shipments><shipment>` with a `<status>` for status updates.
//! Element names match case-insensitively, namespace prefixes are dropped, attributes are
//! ignored.
//!
//! No DTD and no entity is ever resolved: a DOCTYPE that declares entities or names an external
//! DTD is a problem, and a reference to any entity but the five predefined ones and character
//! references is a problem; nothing is expanded. This module owns the element shape and its
//! problems; values and grouping are validation's.

use std::collections::HashSet;

use quick_xml::events::{BytesRef, Event};
use quick_xml::Reader;

use super::encoding::decode_document;
use super::field::{Field, Level};
use super::problem::{Findings, Location, Problem};
use super::record::{push_field, GoodsRecord, Kind, RawField, Record};
use super::validation::Assembler;

/// What an open element is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Frame {
    OrderData,
    Orders,
    Order,
    Shipments,
    Shipment,
    Goods,
    Good,
    Field(Field),
    /// Unknown or misplaced: it and everything inside are skipped.
    Skip,
}

/// How deep elements may nest (ours): the order shape needs seven levels.
const MAX_DEPTH: usize = 100;

/// The longest element name read (ours).
const MAX_NAME_BYTES: usize = 1024;

/// The longest text of one field element read (ours), as for a CSV record.
const MAX_TEXT_BYTES: usize = 1024 * 1024;

/// Distinct unknown element names remembered, to warn about each once.
const MAX_UNKNOWN: usize = 1000;

/// Reads a whole XML file into `asm`.
pub(crate) fn read(bytes: &[u8], asm: &mut Assembler) {
    let text = decode_document(bytes, &mut asm.findings);
    if let std::borrow::Cow::Owned(copy) = &text {
        asm.hold(copy.len() as u64);
    }
    let mut reader = Reader::from_str(&text);
    let mut lines = Lines::new(&text);
    let mut doc = Document::default();
    loop {
        if asm.stopped() {
            return;
        }
        if doc.text_too_long {
            asm.findings.problem(Problem::at(
                doc.field_location.unwrap_or(Location::File),
                format!(
                    "the value is longer than {MAX_TEXT_BYTES} bytes (1 MiB); reading stopped here"
                ),
            ));
            return;
        }
        let start = reader.buffer_position();
        let event = reader.read_event();
        let location = lines.at(start);
        match event {
            Err(err) => {
                let location = lines.at(reader.error_position());
                asm.findings
                    .problem(Problem::at(location, format!("not well-formed XML: {err}")));
                return;
            }
            Ok(Event::Eof) => break,
            Ok(Event::Start(e)) => {
                if let Err(reason) = within_bounds(e.local_name().as_ref(), doc.stack.len() + 1) {
                    asm.findings.problem(Problem::at(location, reason));
                    return;
                }
                doc.open(e.local_name().as_ref(), location, asm);
            }
            Ok(Event::Empty(e)) => {
                if let Err(reason) = within_bounds(e.local_name().as_ref(), doc.stack.len() + 1) {
                    asm.findings.problem(Problem::at(location, reason));
                    return;
                }
                doc.open(e.local_name().as_ref(), location, asm);
                doc.close(asm);
            }
            Ok(Event::End(_)) => doc.close(asm),
            Ok(Event::Text(t)) if doc.in_field() => doc.text(&t.xml10_content()),
            Ok(Event::CData(c)) if doc.in_field() => doc.text(&c.into_inner()),
            Ok(Event::Text(_) | Event::CData(_)) => {}
            Ok(Event::GeneralRef(r)) => doc.reference(&r, location, &mut asm.findings),
            Ok(Event::DocType(d)) => doctype(&d.into_inner(), location, &mut asm.findings),
            Ok(Event::Decl(_) | Event::PI(_) | Event::Comment(_)) => {}
        }
    }
    if doc.text_too_long {
        return;
    }
    let end = lines.at(reader.buffer_position());
    if let Some((_, name)) = doc.stack.last() {
        asm.findings.problem(Problem::at(
            end,
            format!("the file ends inside <{name}>: it is cut off or a closing tag is missing"),
        ));
    } else if !doc.saw_root {
        asm.findings
            .problem(Problem::at(Location::File, "the file holds no XML element"));
    }
}

/// Refuses an element nested too deep or with a runaway name, before it is held.
fn within_bounds(name: &str, depth: usize) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err(format!(
            "elements are nested more than {MAX_DEPTH} deep; reading stopped here"
        ));
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(format!(
            "an element name is longer than {MAX_NAME_BYTES} bytes; reading stopped here"
        ));
    }
    Ok(())
}

/// Refuses a DOCTYPE that could make a reader fetch or expand anything.
fn doctype(content: &str, location: Location, findings: &mut Findings) {
    let lower = content.to_ascii_lowercase();
    if lower.contains("<!entity") || lower.contains("system") || lower.contains("public") {
        findings.problem(Problem::at(
            location,
            "a DOCTYPE that declares entities or names an external DTD is not allowed \
             (DTDs and entities are never read); remove the DOCTYPE",
        ));
    }
}

/// The elements open so far and the record being filled.
#[derive(Debug, Default)]
struct Document {
    /// Open elements with their names as written.
    stack: Vec<(Frame, String)>,
    saw_root: bool,
    /// Fields given on the `<order>`, copied to each of its shipments.
    order_fields: Vec<RawField<'static>>,
    order_location: Option<Location>,
    order_shipments: usize,
    shipment: Option<Record<'static>>,
    good: Option<GoodsRecord<'static>>,
    /// The text of the open field element and where it started.
    text: String,
    field_location: Option<Location>,
    /// Unknown element names already warned about.
    unknown: HashSet<String>,
    /// True once a field's text passed [`MAX_TEXT_BYTES`].
    text_too_long: bool,
}

impl Document {
    fn open(&mut self, name: &str, location: Location, asm: &mut Assembler) {
        let lower = name.to_ascii_lowercase();
        let parent = self.stack.last().map(|(frame, _)| *frame);
        let frame = match (parent, lower.as_str()) {
            (Some(Frame::Skip), _) => Frame::Skip,
            (None, "orders") => Frame::Orders,
            (None, "orderdata") => Frame::OrderData,
            (None, _) => {
                asm.findings.problem(Problem::at(
                    location,
                    format!("the root element is <{name}>; expected <orders> or <orderData>"),
                ));
                Frame::Skip
            }
            (Some(Frame::OrderData), "orders") => Frame::Orders,
            (Some(Frame::Orders), "order") => {
                self.order_fields.clear();
                self.order_location = Some(location);
                self.order_shipments = 0;
                Frame::Order
            }
            (Some(Frame::Order), "shipments") => Frame::Shipments,
            (Some(Frame::Order | Frame::Shipments), "shipment") => {
                self.shipment = Some(Record::new(location, Kind::Order));
                Frame::Shipment
            }
            (Some(Frame::Shipment), "goods") => Frame::Goods,
            (Some(Frame::Shipment | Frame::Goods), "good") => {
                self.good = Some(GoodsRecord {
                    location,
                    number: None,
                    fields: Vec::new(),
                });
                Frame::Good
            }
            (Some(Frame::Field(field)), _) => {
                asm.findings.problem(Problem::at(
                    location,
                    format!("element <{name}> inside <{}> is not allowed", field.name()),
                ));
                Frame::Skip
            }
            (Some(parent @ (Frame::Order | Frame::Shipment | Frame::Good)), _) => {
                match Field::from_name(name) {
                    Some(field) => self.open_field(parent, field, name, location, asm),
                    None => self.unknown_element(name, location, asm),
                }
            }
            (Some(_), _) => self.unknown_element(name, location, asm),
        };
        self.saw_root = true;
        self.stack.push((frame, name.to_owned()));
    }

    fn open_field(
        &mut self,
        parent: Frame,
        field: Field,
        name: &str,
        location: Location,
        asm: &mut Assembler,
    ) -> Frame {
        let goods = field.level() == Level::Goods;
        let reason = match parent {
            Frame::Good if !goods => Some(format!(
                "<{name}> belongs to the shipment, not inside <good>"
            )),
            Frame::Order | Frame::Shipment if goods => {
                Some(format!("<{name}> belongs inside <goods><good>"))
            }
            _ => None,
        };
        if let Some(reason) = reason {
            asm.findings
                .problem(Problem::field(location, field.name(), None, reason));
            return Frame::Skip;
        }
        self.text.clear();
        self.field_location = Some(location);
        Frame::Field(field)
    }

    fn unknown_element(&mut self, name: &str, location: Location, asm: &mut Assembler) -> Frame {
        if self.unknown.len() < MAX_UNKNOWN && self.unknown.insert(name.to_ascii_lowercase()) {
            asm.findings
                .warning(location, format!("unknown element <{name}> is ignored"));
        }
        Frame::Skip
    }

    fn close(&mut self, asm: &mut Assembler) {
        let Some((frame, _)) = self.stack.pop() else {
            return;
        };
        let parent = self.stack.last().map(|(frame, _)| *frame);
        match frame {
            Frame::Field(field) => {
                let raw = RawField {
                    field,
                    text: std::mem::take(&mut self.text).into(),
                    location: self.field_location.unwrap_or(Location::File),
                };
                let list = match parent {
                    Some(Frame::Good) => self.good.as_mut().map(|g| &mut g.fields),
                    Some(Frame::Shipment) => self.shipment.as_mut().map(|s| &mut s.fields),
                    Some(Frame::Order) => Some(&mut self.order_fields),
                    _ => None,
                };
                if let Some(list) = list {
                    push_field(list, field.name(), raw, &mut asm.findings);
                }
            }
            Frame::Good => {
                if let (Some(good), Some(shipment)) = (self.good.take(), self.shipment.as_mut()) {
                    shipment.goods.push(good);
                }
            }
            Frame::Shipment => {
                if let Some(mut record) = self.shipment.take() {
                    for raw in &self.order_fields {
                        push_field(
                            &mut record.fields,
                            raw.field.name(),
                            raw.clone(),
                            &mut asm.findings,
                        );
                    }
                    if record.goods.is_empty() && record.has(Field::Status) {
                        record.kind = Kind::Status;
                    }
                    self.order_shipments += 1;
                    asm.add(record);
                }
            }
            Frame::Order => {
                if self.order_shipments == 0 {
                    asm.findings.problem(Problem::at(
                        self.order_location.unwrap_or(Location::File),
                        "the order has no <shipment>",
                    ));
                }
                self.order_fields.clear();
            }
            Frame::OrderData | Frame::Orders | Frame::Shipments | Frame::Goods | Frame::Skip => {}
        }
    }

    fn in_field(&self) -> bool {
        matches!(self.stack.last(), Some((Frame::Field(_), _)))
    }

    fn text(&mut self, text: &str) {
        if self.in_field() {
            if self.text.len() + text.len() > MAX_TEXT_BYTES {
                self.text_too_long = true;
                return;
            }
            self.text.push_str(text);
        }
    }

    /// An `&...;` reference: character references and the five predefined entities are text,
    /// anything else is a problem and is never expanded.
    fn reference(&mut self, r: &BytesRef<'_>, location: Location, findings: &mut Findings) {
        let name: &str = r;
        let resolved = if r.is_char_ref() {
            match r.resolve_char_ref() {
                Ok(Some(c)) => Some(c),
                _ => {
                    findings.problem(Problem::at(
                        location,
                        format!("&{name}; is not a valid character reference"),
                    ));
                    return;
                }
            }
        } else {
            match name {
                "lt" => Some('<'),
                "gt" => Some('>'),
                "amp" => Some('&'),
                "apos" => Some('\''),
                "quot" => Some('"'),
                _ => None,
            }
        };
        match resolved {
            Some(c) => {
                if self.in_field() {
                    self.text.push(c);
                }
            }
            None => {
                findings.problem(Problem::at(
                    location,
                    format!("the entity &{name}; is not defined; DTD entities are never expanded"),
                ));
                // Kept as written, unexpanded, so the field is not reported missing as well.
                if self.in_field() {
                    self.text.push_str(&format!("&{name};"));
                }
            }
        }
    }
}

/// Turns byte offsets into line numbers, counting newlines once as offsets grow.
struct Lines<'a> {
    bytes: &'a [u8],
    offset: usize,
    line: u64,
}

impl<'a> Lines<'a> {
    fn new(text: &'a str) -> Self {
        Lines {
            bytes: text.as_bytes(),
            offset: 0,
            line: 1,
        }
    }

    /// The line of `offset`, skipping whitespace there (so an element's line is where its `<` is).
    fn at(&mut self, offset: u64) -> Location {
        let mut target = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(self.bytes.len());
        while self
            .bytes
            .get(target)
            .is_some_and(|b| b.is_ascii_whitespace())
        {
            target += 1;
        }
        if target < self.offset {
            self.offset = 0;
            self.line = 1;
        }
        let newlines = self
            .bytes
            .get(self.offset..target)
            .unwrap_or_default()
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        self.line += newlines as u64;
        self.offset = target;
        Location::line(self.line)
    }
}
