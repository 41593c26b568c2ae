//! The shipment index of a file being read: every `shipmentID` seen so far, with where its
//! shipment is (see `validation::Place`).
//!
//! Compact, because a big file has millions of shipments: the IDs are kept end to end in one
//! string and the table holds only their numbers, so a shipment costs a few dozen bytes and no
//! allocation of its own, and the table's probes stay in far less memory than a map of strings
//! would take. This module knows nothing of what a place means.

use std::hash::BuildHasher;

use hashbrown::HashTable;

use super::validation::Place;

/// Shipment IDs and their places.
#[derive(Debug, Default)]
pub(crate) struct ShipmentIndex {
    /// The numbers of the IDs, found by the hash of the ID.
    table: HashTable<usize>,
    /// Every ID, end to end; ID `n` ends at `ends[n]`.
    ids: String,
    ends: Vec<usize>,
    places: Vec<Place>,
    hasher: foldhash::fast::RandomState,
}

/// What [`ShipmentIndex::place_of`] found.
pub(crate) enum Found<'a> {
    /// The ID was there: its place.
    Known(&'a mut Place),
    /// The ID is new and was added with the place given.
    Added(&'a mut Place),
}

/// ID `n` of `ids`, whose IDs end at `ends`.
fn id_in<'a>(ids: &'a str, ends: &[usize], n: usize) -> &'a str {
    let start = n
        .checked_sub(1)
        .and_then(|p| ends.get(p))
        .copied()
        .unwrap_or(0);
    let end = ends.get(n).copied().unwrap_or(start);
    ids.get(start..end).unwrap_or_default()
}

impl ShipmentIndex {
    fn number(&self, id: &str) -> Option<usize> {
        let hash = self.hasher.hash_one(id);
        self.table
            .find(hash, |&n| id_in(&self.ids, &self.ends, n) == id)
            .copied()
    }

    /// The place of `id`, if it was seen.
    pub(crate) fn get(&self, id: &str) -> Option<&Place> {
        self.number(id).and_then(|n| self.places.get(n))
    }

    /// The place of `id` to change, if it was seen.
    pub(crate) fn get_mut(&mut self, id: &str) -> Option<&mut Place> {
        self.number(id).and_then(|n| self.places.get_mut(n))
    }

    /// The place of `id`; when it is new, `place()` is added as its place first.
    pub(crate) fn place_of(&mut self, id: &str, place: impl FnOnce() -> Place) -> Found<'_> {
        let hash = self.hasher.hash_one(id);
        let Self {
            table,
            ids,
            ends,
            places,
            hasher,
        } = self;
        match table.find(hash, |&n| id_in(ids, ends, n) == id) {
            Some(&n) if n < places.len() => Found::Known(&mut places[n]),
            _ => {
                let n = places.len();
                table.insert_unique(hash, n, |&m| hasher.hash_one(id_in(ids, ends, m)));
                ids.push_str(id);
                ends.push(ids.len());
                places.push(place());
                Found::Added(&mut places[n])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::problem::Location;

    fn place(order: u32) -> Place {
        Place {
            order,
            slot: 0,
            batch: 0,
            first: Location::Line(1),
            goods: 0,
        }
    }

    #[test]
    fn finds_what_it_was_given_and_nothing_else() {
        let mut index = ShipmentIndex::default();
        for i in 0..10_000u32 {
            let id = format!("S{i}");
            assert!(matches!(index.place_of(&id, || place(i)), Found::Added(_)));
        }
        assert!(matches!(index.place_of("S77", || place(0)), Found::Known(p) if p.order == 77));
        assert_eq!(index.get("S9999").map(|p| p.order), Some(9999));
        assert!(index.get("S10000").is_none());
        assert!(index.get("S").is_none());
        assert!(index.get("").is_none());
        if let Some(p) = index.get_mut("S5") {
            p.goods = 3;
        }
        assert_eq!(index.get("S5").map(|p| p.goods), Some(3));
        // An empty ID is an ID like any other.
        assert!(matches!(index.place_of("", || place(1)), Found::Added(_)));
        assert_eq!(index.get("").map(|p| p.order), Some(1));
    }
}
