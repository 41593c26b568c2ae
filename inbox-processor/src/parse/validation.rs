//! Validation shared by every format: checks each record's values, enforces the required fields,
//! groups records into shipments (same `shipmentID`) and shipments into orders (same
//! `customerID` and `orderReference`), and finds rows that contradict each other.
//!
//! This module owns the rules of formats.md that span more than one value. It never sees bytes
//! or file syntax: the format parsers hand it [`Record`]s one at a time, so memory follows the
//! model being built, not the file.

use std::borrow::Cow;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use foldhash::{HashMap, HashSet};

use super::draft::{self, describe_order, push_lean, OrderDraft, ShipmentDraft, Slot};
use super::field::{AddressPart, Field, Level};
use super::index::{Found, ShipmentIndex};
use super::problem::{Findings, Location, Problem, Rejected};
use super::record::{GoodsRecord, Kind, RawField, Record};
use super::value::{self, Value};
use super::Parsed;
use crate::model::{GoodsLine, ShipmentRef, StatusUpdate};

const MISSING: &str = "required field is missing";

/// Builds the model from records and collects every problem on the way.
#[derive(Debug, Default)]
pub(crate) struct Assembler {
    /// Problems and warnings of the whole file, the format parser's included.
    pub(crate) findings: Findings,
    pub(super) orders: Vec<OrderDraft>,
    /// (customerID, orderReference) to the order's index in `orders`.
    order_index: HashMap<(String, Option<String>), usize>,
    /// The order of the last new shipment: rows of one order usually come together, so most
    /// rows find their order without a lookup.
    last_order: Option<usize>,
    /// shipmentID to where its shipment is.
    pub(super) shipment_index: ShipmentIndex,
    pub(super) status_updates: Vec<StatusUpdate>,
    /// Fields already reported as ignored, so each is reported once.
    ignored: Vec<(Field, Kind)>,
    /// Orders with shipments not yet handed out in a batch, when streaming.
    pub(super) pending_orders: Vec<u32>,
    /// The second reading of a streamed file, while it runs.
    pub(super) replay: Option<Box<super::stream::Replay>>,
    /// Orders some of whose shipments left in a batch.
    pub(super) orders_left: HashSet<u32>,
    /// What streaming has left for the end, when batches were taken (see `stream`).
    pub(super) late: Late,
    /// The batches taken so far.
    pub(super) batches: u32,
    /// Set from outside when reading must stop (see [`Assembler::stopped`]).
    pub(super) stop: Option<Arc<AtomicBool>>,
    /// The memory a file read whole may take, when it is (see [`Assembler::hold`]).
    pub(super) memory: Option<u64>,
    /// About the bytes held so far: the file, and what its records left in the model.
    held: u64,
    /// True once `held` passed `memory`: reading stops.
    over_memory: bool,
}

/// What a value costs besides its text, in the model being built (its slot, location, list
/// entries): an overestimate, so the bound holds.
const FIELD_OVERHEAD: u64 = 96;

/// What a record or goods line costs besides its fields.
const RECORD_OVERHEAD: u64 = 256;

/// Where a shipment is: its order, and its draft while it has not left in a batch.
#[derive(Debug, Clone, Copy)]
pub(super) struct Place {
    pub(super) order: u32,
    /// The index in its order's `shipments`, while the shipment has not left in a batch.
    pub(super) slot: u32,
    /// The batch the shipment was gathered for: once that batch is taken, it has left and
    /// `slot` means nothing (no lookup per shipment when a batch is taken).
    pub(super) batch: u32,
    /// Where the shipment first appears.
    pub(super) first: Location,
    /// Its valid goods lines while gathered (as it left, once it did).
    pub(super) goods: u32,
}

/// A shipment row checked value by value (see [`Assembler::check_row`]).
pub(super) struct Row<'a> {
    pub(super) location: Location,
    /// The keys, when given and valid.
    pub(super) customer: Option<Cow<'a, str>>,
    pub(super) reference: Option<Cow<'a, str>>,
    pub(super) shipment_id: Option<Cow<'a, str>>,
    /// The other valid values.
    pub(super) slots: Vec<Slot>,
    /// The valid goods lines, and how many were given.
    pub(super) lines: Vec<GoodsLine>,
    pub(super) goods_seen: usize,
    /// True when a deliveryName or deliveryAddress was given, valid or not.
    pub(super) delivery_given: bool,
}

/// What a streamed file leaves for its end: rows of shipments that had already left in a batch
/// (merged by a second reading, see `stream`), orders whose values grew after some of their
/// shipments left, and the end-of-shipment problems of shipments that left (provisional: a late
/// row may still give the missing value).
#[derive(Debug, Default)]
pub(super) struct Late {
    pub(super) marked: HashSet<String>,
    pub(super) rows: HashSet<Location>,
    pub(super) orders: HashSet<u32>,
    pub(super) provisional: Vec<(String, Problem)>,
    /// Status updates handed out in batches.
    pub(super) status_updates: u64,
    /// Shipments and goods lines handed out in batches (a rebuilt shipment counted once).
    pub(super) shipments: u64,
    pub(super) goods_lines: u64,
}

impl Assembler {
    /// Validates one record and adds it to the model.
    pub(crate) fn add(&mut self, record: Record<'_>) {
        if self.memory.is_some() {
            let fields = |fields: &[RawField<'_>]| {
                fields
                    .iter()
                    .map(|f| f.text.len() as u64 + FIELD_OVERHEAD)
                    .sum::<u64>()
            };
            let goods: u64 = record
                .goods
                .iter()
                .map(|g| RECORD_OVERHEAD + fields(&g.fields))
                .sum();
            self.hold(RECORD_OVERHEAD + fields(&record.fields) + goods);
        }
        if self.replay.is_some() {
            return self.replay_add(record);
        }
        match record.kind {
            Kind::Order => self.add_shipment(record),
            Kind::Status => self.add_status(record),
        }
    }

    /// True once the caller asked reading to stop: the format readers check it as they go and
    /// stop reading; [`Assembler::finish`] then rejects the file.
    pub(crate) fn stopped(&self) -> bool {
        self.over_memory || self.stopped_from_outside()
    }

    fn stopped_from_outside(&self) -> bool {
        self.stop
            .as_ref()
            .is_some_and(|stop| stop.load(Ordering::Relaxed))
    }

    /// The memory this file's parse may take (the default when unbounded).
    pub(crate) fn memory_limit(&self) -> u64 {
        self.memory.unwrap_or(super::DEFAULT_MAX_MEMORY)
    }

    /// Counts `bytes` more held by this file's parse, when it is bounded: past the bound, the
    /// file gets the problem once and reading stops.
    pub(crate) fn hold(&mut self, bytes: u64) {
        let Some(limit) = self.memory else {
            return;
        };
        self.held = self.held.saturating_add(bytes);
        if self.held > limit && !self.over_memory {
            self.over_memory = true;
            self.findings.problem(Problem::at(
                Location::File,
                format!(
                    "reading this file takes more than {} MiB of memory, more than this server \
                     allows for one file; split it into smaller files (CSV and TTM files are \
                     read in a stream and may be bigger)",
                    limit >> 20
                ),
            ));
        }
    }

    /// Ends the file: the parsed model, or every problem found.
    ///
    /// # Errors
    ///
    /// [`Rejected`] with every problem when at least one was found.
    pub(crate) fn finish(mut self) -> Result<Parsed, Rejected> {
        // The indexes are not needed any more; free them before the model is built.
        self.order_index = HashMap::default();
        self.shipment_index = ShipmentIndex::default();
        if self.stopped_from_outside() {
            self.findings.problem(Problem::at(
                Location::File,
                "reading the file was stopped before its end",
            ));
        }
        let drafts = std::mem::take(&mut self.orders);
        let mut orders = Vec::with_capacity(drafts.len());
        for order in drafts {
            orders.push(order.build(&mut self.findings));
        }
        if orders.is_empty() && self.status_updates.is_empty() && !self.findings.has_problems() {
            self.findings.problem(Problem::at(
                Location::File,
                "the file holds no orders and no status updates",
            ));
        }
        let warnings = self.findings.finish()?;
        Ok(Parsed {
            orders,
            status_updates: self.status_updates,
            warnings,
        })
    }

    /// Checks a shipment row value by value, reporting what fails: its keys set apart (and not
    /// copied), its other values, its valid goods lines.
    pub(super) fn check_row<'a>(&mut self, record: Record<'a>) -> Row<'a> {
        let Record {
            location,
            fields,
            goods,
            ..
        } = record;
        let delivery_given = fields.iter().any(|f| {
            matches!(
                f.field,
                Field::Delivery(AddressPart::Name | AddressPart::Address)
            )
        });
        let (mut customer, mut reference, mut shipment_id) = (None, None, None);
        let others = fields.into_iter().filter_map(|raw| {
            match raw.field {
                Field::CustomerId => customer = Some(raw),
                Field::OrderReference => reference = Some(raw),
                Field::ShipmentId => shipment_id = Some(raw),
                _ => return Some(raw),
            }
            None
        });
        let slots = self.check_all(others);
        if customer.is_none() {
            self.missing(location, Field::CustomerId);
        }
        if shipment_id.is_none() {
            self.missing(location, Field::ShipmentId);
        }
        let customer = customer.and_then(|raw| self.check_key(raw));
        let reference = reference.and_then(|raw| self.check_key(raw));
        let shipment_id = shipment_id.and_then(|raw| self.check_key(raw));
        let goods_seen = goods.len();
        let mut lines = Vec::with_capacity(goods_seen);
        for g in goods {
            if let Some(line) = self.goods_line(g) {
                lines.push(line);
            }
        }
        Row {
            location,
            customer,
            reference,
            shipment_id,
            slots,
            lines,
            goods_seen,
            delivery_given,
        }
    }

    fn add_shipment(&mut self, record: Record<'_>) {
        let Row {
            location,
            customer,
            reference,
            shipment_id,
            slots,
            lines,
            goods_seen,
            delivery_given: has_delivery,
        } = self.check_row(record);
        let (Some(customer), Some(shipment_id)) = (customer, shipment_id) else {
            return;
        };
        let (mut order_values, mut shipment_values) = (0, 0);
        for slot in &slots {
            match slot.field.level() {
                Level::Order => order_values += 1,
                Level::Shipment => shipment_values += 1,
                Level::Goods | Level::Status => self.ignore(slot.field, Kind::Order, slot.location),
            }
        }
        let batches = self.batches;
        let (orders, order_index, last_order) = (
            &mut self.orders,
            &mut self.order_index,
            &mut self.last_order,
        );
        let pending = &mut self.pending_orders;
        let new_place = || {
            let o = order_of(
                orders,
                order_index,
                last_order,
                customer.clone(),
                reference.clone(),
            );
            let shipments = &mut orders[o].shipments;
            if shipments.is_empty() {
                pending.push(o as u32);
            }
            let slot = shipments.len() as u32;
            push_lean(
                shipments,
                ShipmentDraft::new(shipment_id.to_string(), location),
            );
            Place {
                order: o as u32,
                slot,
                batch: batches,
                first: location,
                goods: 0,
            }
        };
        let (place, late) = match self.shipment_index.place_of(&shipment_id, new_place) {
            Found::Added(place) => (place, None),
            Found::Known(place) => {
                let order = &self.orders[place.order as usize];
                if order.customer_id != customer
                    || order.order_reference.as_deref() != reference.as_deref()
                {
                    let (field, value, earlier) = if order.customer_id != customer {
                        (Field::CustomerId, Some(customer), order.customer_id.clone())
                    } else {
                        (
                            Field::OrderReference,
                            reference,
                            order.order_reference.clone().unwrap_or_default(),
                        )
                    };
                    self.findings.problem(Problem::field(
                        location,
                        field.name(),
                        value.as_deref(),
                        format!(
                            "shipment {shipment_id} appears earlier ({}) with {} {earlier:?}; \
                             rows of one shipment must agree",
                            place.first,
                            field.name()
                        ),
                    ));
                    return;
                }
                // Rows of a shipment that already left in a batch are merged again at the end.
                let late = (place.batch != self.batches).then(|| shipment_id.into_owned());
                (place, late)
            }
        };
        let o = place.order as usize;
        let OrderDraft {
            customer_id,
            order_reference,
            fields,
            shipments,
        } = &mut self.orders[o];
        if fields.is_empty() {
            fields.reserve_exact(order_values);
        }
        // A shipment that already left in a batch gets its rows merged again at the end; its
        // order's values are merged now.
        let mut shipment = match late {
            None => shipments.get_mut(place.slot as usize),
            Some(_) => None,
        };
        if let Some(shipment) = shipment.as_mut().filter(|s| s.fields.is_empty()) {
            shipment.fields.reserve_exact(shipment_values);
        }
        let mut grew = false;
        for slot in slots {
            match (slot.field.level(), shipment.as_mut()) {
                (Level::Order, _) => {
                    let owner = || describe_order(customer_id, order_reference.as_deref());
                    grew |= merge(fields, slot, owner, &mut self.findings);
                }
                (Level::Shipment, Some(shipment)) => {
                    let owner = || format!("shipment {}", shipment.shipment_id);
                    merge(&mut shipment.fields, slot, owner, &mut self.findings);
                }
                _ => {}
            }
        }
        if grew && self.orders_left.contains(&(o as u32)) {
            // Shipments of this order already left with fewer order values: rewrite them.
            self.late.orders.insert(o as u32);
        }
        let Some(shipment) = shipment else {
            if let Some(shipment_id) = late {
                self.late.marked.insert(shipment_id);
                self.late.rows.insert(location);
            }
            return;
        };
        shipment.goods_seen += goods_seen;
        shipment.delivery_given |= has_delivery;
        place.goods = place.goods.saturating_add(lines.len() as u32);
        if shipment.goods.is_empty() && lines.len() == lines.capacity() {
            shipment.goods = lines;
        } else {
            for line in lines {
                push_lean(&mut shipment.goods, line);
            }
        }
    }

    fn add_status(&mut self, record: Record<'_>) {
        let Record {
            location, fields, ..
        } = record;
        let has_ref = fields
            .iter()
            .any(|f| matches!(f.field, Field::ShipmentId | Field::TrackingNbr));
        let has_status = fields.iter().any(|f| f.field == Field::Status);
        let slots = self.check_all(fields);
        if !has_ref {
            self.findings.problem(Problem::field(
                location,
                Field::ShipmentId.name(),
                None,
                "a status update needs a shipmentID, orderID or trackingNbr",
            ));
        }
        if !has_status {
            self.missing(location, Field::Status);
        }
        let mut shipment_id = None;
        let mut tracking = None;
        let mut status = None;
        let mut update = draft::StatusFields::default();
        for slot in slots {
            match (slot.field, slot.value) {
                (Field::ShipmentId, Value::Text(t)) => shipment_id = Some(t),
                (Field::TrackingNbr, Value::Text(t)) => tracking = Some(t),
                (Field::Status, Value::Status(s)) => status = Some(*s),
                (Field::CustomerId, Value::Text(t)) => update.customer_id = Some(t.into()),
                (Field::OrgShipmentId, Value::Text(t)) => update.org_shipment_id = Some(t.into()),
                (Field::Location, Value::Text(t)) => update.location = Some(t.into()),
                (Field::Signee, Value::Text(t)) => update.signee = Some(t.into()),
                (Field::Remarks, Value::Text(t)) => update.remarks = Some(t.into()),
                (field, _) => self.ignore(field, Kind::Status, slot.location),
            }
        }
        let shipment = match (shipment_id, tracking) {
            (Some(id), _) => ShipmentRef::ShipmentId(id),
            (None, Some(nbr)) => ShipmentRef::TrackingNbr(nbr),
            (None, None) => return,
        };
        let Some(status) = status else {
            return;
        };
        self.status_updates.push(StatusUpdate {
            shipment,
            customer_id: update.customer_id,
            at: status.at,
            text: status.text,
            internal: status.internal,
            org_shipment_id: update.org_shipment_id,
            location: update.location,
            signee: update.signee,
            remarks: update.remarks,
        });
    }

    /// Checks every value; the ones that fail are reported and left out.
    pub(super) fn check_all<'a>(
        &mut self,
        fields: impl IntoIterator<Item = RawField<'a>>,
    ) -> Vec<Slot> {
        let fields = fields.into_iter();
        let mut slots = Vec::with_capacity(fields.size_hint().1.unwrap_or(0));
        for mut raw in fields {
            match value::check(raw.field, &mut raw.text) {
                Ok(value) => slots.push(Slot {
                    field: raw.field,
                    value,
                    location: raw.location,
                }),
                Err(reason) => self.findings.problem(Problem::field(
                    raw.location,
                    raw.field.name(),
                    Some(&raw.text),
                    reason,
                )),
            }
        }
        slots
    }

    /// The text of a key field when it is valid; otherwise reports it.
    fn check_key<'a>(&mut self, raw: RawField<'a>) -> Option<Cow<'a, str>> {
        match value::check_key(raw.field, &raw.text) {
            Ok(()) => Some(raw.text),
            Err(reason) => {
                self.findings.problem(Problem::field(
                    raw.location,
                    raw.field.name(),
                    Some(&raw.text),
                    reason,
                ));
                None
            }
        }
    }

    pub(super) fn goods_line(&mut self, goods: GoodsRecord<'_>) -> Option<GoodsLine> {
        let GoodsRecord {
            location,
            number,
            fields,
        } = goods;
        let mut line = draft::GoodsFields::default();
        let mut ok = true;
        let mut has_quantity = false;
        for mut raw in fields {
            has_quantity |= raw.field == Field::Quantity;
            match value::check(raw.field, &mut raw.text) {
                Ok(value) => line.set(raw.field, value),
                Err(reason) => {
                    ok = false;
                    self.findings.problem(Problem::field(
                        raw.location,
                        raw.field.label(number),
                        Some(&raw.text),
                        reason,
                    ));
                }
            }
        }
        if !has_quantity {
            self.findings.problem(Problem::field(
                location,
                Field::Quantity.label(number),
                None,
                MISSING,
            ));
        }
        if ok {
            line.build()
        } else {
            None
        }
    }

    fn missing(&mut self, location: Location, field: Field) {
        self.findings
            .problem(Problem::field(location, field.name(), None, MISSING));
    }

    /// Warns, once per field and kind, that a field has no meaning where it was given.
    fn ignore(&mut self, field: Field, kind: Kind, location: Location) {
        if self.ignored.contains(&(field, kind)) {
            return;
        }
        self.ignored.push((field, kind));
        let what = match kind {
            Kind::Order => "an order",
            Kind::Status => "a status update",
        };
        self.findings.warning(
            location,
            format!("field {} is ignored in {what}", field.name()),
        );
    }
}

/// The index of the order of (`customer`, `reference`) in `orders`, made when new. `last` is the
/// order found last time: rows of one order usually come together, so most rows need no lookup.
fn order_of(
    orders: &mut Vec<OrderDraft>,
    index: &mut HashMap<(String, Option<String>), usize>,
    last: &mut Option<usize>,
    customer: Cow<'_, str>,
    reference: Option<Cow<'_, str>>,
) -> usize {
    if let Some(o) = *last {
        let order = &orders[o];
        if order.customer_id == customer && order.order_reference.as_deref() == reference.as_deref()
        {
            return o;
        }
    }
    let key = (customer.into_owned(), reference.map(Cow::into_owned));
    let o = match index.get(&key) {
        Some(&o) => o,
        None => {
            let o = orders.len();
            orders.push(OrderDraft::new(key.0.clone(), key.1.clone()));
            index.insert(key, o);
            o
        }
    };
    *last = Some(o);
    o
}

/// Adds a checked value to a shipment's or order's values; a different value for a field already
/// set is a conflict.
pub(super) fn merge(
    existing: &mut Vec<Slot>,
    slot: Slot,
    owner: impl FnOnce() -> String,
    findings: &mut Findings,
) -> bool {
    match existing.iter().find(|e| e.field == slot.field) {
        Some(earlier) if earlier.value != slot.value => findings.problem(Problem::field(
            slot.location,
            slot.field.name(),
            Some(&slot.value.to_string()),
            format!(
                "conflicts with {:?} given for {} at {}",
                super::record::cut_short(&earlier.value.to_string()),
                owner(),
                earlier.location
            ),
        )),
        Some(_) => {}
        None => {
            push_lean(existing, slot);
            return true;
        }
    }
    false
}
