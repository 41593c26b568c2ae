//! Streaming a big CSV file: its shipments are handed out in batches while it is read, so
//! memory follows a batch and an index of shipment IDs, not the file.
//!
//! Rows with the same `shipmentID` are goods lines of one shipment, wherever they are. How that
//! is kept true across batches (ours):
//! - rows are merged in memory as before while their shipment waits in the current batch, so
//!   adjacent or near rows cost nothing extra;
//! - a row whose shipment already left in a batch (a *late row*) is checked at once (its values,
//!   its customer and order, its order's values), and its shipment is marked; when the file is
//!   read to its end, a second reading merges only the marked shipments again from all their
//!   rows, in file order, and hands them out in a last batch that replaces what left before
//!   (the store upserts by shipment ID). Conflicts found then are reported for late rows only,
//!   so no problem is reported twice;
//! - an order whose values grew after some of its shipments left (a value given only on a later
//!   row) has all its shipments rebuilt the same way, so every stored shipment carries its
//!   order's final values;
//! - a shipment that left without a delivery name or goods is reported at the end, unless a
//!   late row of it is merged by the second reading (which then judges the whole shipment).
//!
//! The caller commits the batches inside one transaction and rolls it back unless [`CsvStream::
//! finish`] accepts the file: a file is still accepted whole or rejected whole, with every
//! problem listed. Batches stop being handed out at the first problem (they would be rolled
//! back), but the file is read to its end to find the rest. Memory of the second reading
//! follows the marked shipments only.
//!
//! This module owns batching and the second reading; the rules stay in `validation`. It does no
//! I/O of its own: the caller hands it readers.

use foldhash::HashMap;
use std::io::{self, Read};

use super::draft::ShipmentDraft;
use super::field::Level;
use super::format::Format;
use super::problem::{Findings, Problem, Rejected, Warning};
use super::record::{Kind, Record};
use super::validation::{merge, Assembler, Row};
use crate::model::{Order, StatusUpdate};

/// Values of a file handed out before its end.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Batch {
    /// Orders with the shipments of this batch; an order may come again in a later batch with
    /// more of its shipments.
    pub orders: Vec<Order>,
    /// Status updates, in file order.
    pub status_updates: Vec<StatusUpdate>,
}

impl Batch {
    /// True when the batch holds nothing.
    pub fn is_empty(&self) -> bool {
        self.orders.is_empty() && self.status_updates.is_empty()
    }

    /// The number of shipments in the batch.
    pub fn shipments(&self) -> usize {
        self.orders.iter().map(|o| o.shipments.len()).sum()
    }
}

/// What an accepted streamed file holds besides its batches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEnd {
    /// The number of different orders in the file.
    pub orders: u64,
    /// The number of different shipments.
    pub shipments: u64,
    /// The number of goods lines of those shipments.
    pub goods_lines: u64,
    /// Warnings for the sender.
    pub warnings: Vec<Warning>,
}

/// A CSV file (or a TTM file, which is line-based too and streams the same way) read in
/// batches: [`CsvStream::read`], then [`CsvStream::read_again`] when
/// [`CsvStream::needs_second_reading`], then [`CsvStream::finish`].
#[derive(Debug, Default)]
pub struct CsvStream {
    asm: Assembler,
    /// True for a TTM file.
    ttm: bool,
}

impl CsvStream {
    /// A stream of a CSV file with nothing read yet.
    pub fn new() -> CsvStream {
        CsvStream::default()
    }

    /// A stream of a `format` file with nothing read yet, or `None` when that format is not
    /// streamed (only CSV and TTM are).
    pub fn of(format: Format) -> Option<CsvStream> {
        match format {
            Format::Csv => Some(CsvStream::new()),
            Format::Ttm => Some(CsvStream {
                ttm: true,
                ..CsvStream::default()
            }),
            Format::Xml | Format::Xls | Format::Xlsx | Format::Ods => None,
        }
    }

    /// Reads the records of the file, calling `after` after each.
    fn read_records<R: Read>(
        &mut self,
        reader: R,
        after: &mut dyn FnMut(&mut Assembler),
    ) -> io::Result<()> {
        if self.ttm {
            super::ttm::read_stream(reader, &mut self.asm, after)
        } else {
            super::csv::read(reader, &mut self.asm, after)
        }
    }

    /// Reads the whole file from `reader`, handing a batch to `sink` every `rows` rows (and at
    /// the end) while no problem has been found.
    ///
    /// # Errors
    /// The reader's own I/O errors.
    pub fn read<R: Read>(
        &mut self,
        reader: R,
        rows: usize,
        mut sink: impl FnMut(Batch),
    ) -> io::Result<()> {
        let mut count = 0usize;
        let mut hand_out = |asm: &mut Assembler| {
            let batch = asm.take_batch();
            if !batch.is_empty() && !asm.findings.has_problems() {
                sink(batch);
            }
        };
        self.read_records(reader, &mut |asm: &mut Assembler| {
            count += 1;
            if count >= rows {
                count = 0;
                hand_out(asm);
            }
        })?;
        hand_out(&mut self.asm);
        Ok(())
    }

    /// True when late rows or grown orders need the second reading.
    pub fn needs_second_reading(&self) -> bool {
        !self.asm.late.marked.is_empty() || !self.asm.late.orders.is_empty()
    }

    /// True once a problem was found (the batches would be rolled back).
    pub fn has_problems(&self) -> bool {
        self.asm.findings.has_problems()
    }

    /// Reads the file again from its start and returns the rebuilt shipments, to store after
    /// every batch of the first reading.
    ///
    /// # Errors
    /// The reader's own I/O errors.
    pub fn read_again<R: Read>(&mut self, reader: R) -> io::Result<Batch> {
        let saved = std::mem::take(&mut self.asm.findings);
        self.asm.replay = Some(Box::default());
        let read = self.read_records(reader, &mut |_: &mut Assembler| {});
        // What the second reading found about syntax and values was found by the first.
        self.asm.findings = saved;
        let replay = self.asm.replay.take().unwrap_or_default();
        read?;
        Ok(self.asm.end_replay(*replay))
    }

    /// Ends the file: what it holds besides the batches, or every problem found.
    ///
    /// # Errors
    /// [`Rejected`] with every problem when at least one was found.
    pub fn finish(self) -> Result<StreamEnd, Rejected> {
        self.asm.finish_streamed()
    }
}

/// The second reading's state: the marked shipments being merged again.
#[derive(Debug, Default)]
pub(crate) struct Replay {
    drafts: HashMap<String, ShipmentDraft>,
    /// Problems of late rows.
    problems: Vec<Problem>,
}

impl Assembler {
    /// Hands out the shipments and status updates gathered since the last batch.
    pub(super) fn take_batch(&mut self) -> Batch {
        // Every shipment gathered so far leaves now (see `Place::batch` in `validation`).
        self.batches += 1;
        let mut batch = Batch {
            orders: Vec::with_capacity(self.pending_orders.len()),
            status_updates: std::mem::take(&mut self.status_updates),
        };
        self.late.status_updates += batch.status_updates.len() as u64;
        for o in std::mem::take(&mut self.pending_orders) {
            let Some(order) = self.orders.get_mut(o as usize) else {
                continue;
            };
            let drafts = std::mem::take(&mut order.shipments);
            let mut header = order.header();
            header.shipments.reserve_exact(drafts.len());
            self.orders_left.insert(o);
            for draft in drafts {
                let goods = draft.goods.len();
                self.late.shipments += 1;
                self.late.goods_lines += goods as u64;
                let mut found = Findings::default();
                let shipment = draft.build(&mut found);
                if let Err(rejected) = found.finish() {
                    for problem in rejected.problems {
                        let id = shipment.shipment_id.clone();
                        self.late.provisional.push((id, problem));
                    }
                }
                header.shipments.push(shipment);
            }
            batch.orders.push(header);
        }
        batch
    }

    /// A record of the second reading: merged when its shipment is marked.
    pub(super) fn replay_add(&mut self, record: Record<'_>) {
        if record.kind != Kind::Order {
            return;
        }
        let Row {
            location,
            customer: Some(customer),
            reference,
            shipment_id: Some(id),
            slots,
            lines,
            goods_seen,
            delivery_given,
        } = self.check_row(record)
        else {
            return;
        };
        let Some(place) = self.shipment_index.get(&id).copied() else {
            return;
        };
        let marked = self.late.marked.contains(&*id);
        if !marked && !self.late.orders.contains(&place.order) {
            return;
        }
        let Some(order) = self.orders.get(place.order as usize) else {
            return;
        };
        if order.customer_id != customer || order.order_reference.as_deref() != reference.as_deref()
        {
            return;
        }
        let report = marked && self.late.rows.contains(&location);
        let Some(replay) = self.replay.as_mut() else {
            return;
        };
        let draft = replay
            .drafts
            .entry(id.into_owned())
            .or_insert_with_key(|id| ShipmentDraft::new(id.clone(), place.first));
        let mut found = Findings::default();
        for slot in slots {
            if slot.field.level() == Level::Shipment {
                let owner = || format!("shipment {}", draft.shipment_id);
                merge(&mut draft.fields, slot, owner, &mut found);
            }
        }
        draft.goods_seen += goods_seen;
        draft.delivery_given |= delivery_given;
        draft.goods.extend(lines);
        if report {
            if let Err(rejected) = found.finish() {
                replay.problems.extend(rejected.problems);
            }
        }
    }

    /// The shipments merged by the second reading, with their orders' final values.
    pub(super) fn end_replay(&mut self, replay: Replay) -> Batch {
        let mut by_order: HashMap<u32, Vec<ShipmentDraft>> = HashMap::default();
        for (id, draft) in replay.drafts {
            if let Some(place) = self.shipment_index.get(&id) {
                by_order.entry(place.order).or_default().push(draft);
            }
        }
        for problem in replay.problems {
            self.findings.problem(problem);
        }
        let mut keys: Vec<u32> = by_order.keys().copied().collect();
        keys.sort_unstable();
        let mut batch = Batch::default();
        for o in keys {
            let (Some(order), Some(mut drafts)) =
                (self.orders.get(o as usize), by_order.remove(&o))
            else {
                continue;
            };
            drafts.sort_by_key(|d| d.location.sort_key());
            let mut header = order.header();
            for draft in drafts {
                if let Some(place) = self.shipment_index.get_mut(&draft.shipment_id) {
                    self.late.goods_lines -= u64::from(place.goods).min(self.late.goods_lines);
                    self.late.goods_lines += draft.goods.len() as u64;
                    place.goods = u32::try_from(draft.goods.len()).unwrap_or(u32::MAX);
                }
                let marked = self.late.marked.contains(&draft.shipment_id);
                let mut found = Findings::default();
                header.shipments.push(draft.build(&mut found));
                if marked {
                    if let Err(rejected) = found.finish() {
                        for problem in rejected.problems {
                            self.findings.problem(problem);
                        }
                    }
                }
            }
            batch.orders.push(header);
        }
        batch
    }

    /// Ends a streamed file.
    pub(super) fn finish_streamed(mut self) -> Result<StreamEnd, Rejected> {
        for (id, problem) in std::mem::take(&mut self.late.provisional) {
            if !self.late.marked.contains(&id) {
                self.findings.problem(problem);
            }
        }
        if self.orders.is_empty()
            && self.late.status_updates == 0
            && self.status_updates.is_empty()
            && !self.findings.has_problems()
        {
            self.findings.problem(Problem::at(
                super::problem::Location::File,
                "the file holds no orders and no status updates",
            ));
        }
        let orders = self.orders.len() as u64;
        let warnings = self.findings.finish()?;
        Ok(StreamEnd {
            orders,
            shipments: self.late.shipments,
            goods_lines: self.late.goods_lines,
            warnings,
        })
    }
}
