//! Pacing of new connections per client (an IPv4 address or an IPv6 /64, see `network`): at most
//! `rate` a second, `2 × rate` at once, each connection past that waiting for its turn before any
//! protocol work. The caps of `admission` bound how many may wait; this bounds how fast one client
//! can make the server do the expensive first step again and again (an SSH key exchange: a flood
//! of them, ssh-audit's DHEat, made 10,606 a second before).
//!
//! The schedule is a generic cell rate: each client has the time its next connection is due; a
//! connection takes the slot `max(now, due - burst)` and moves the due time on by one interval.
//! One whose slot is more than [`MAX_WAIT`] away is dropped at once without taking one. A
//! connection whose client gives up while waiting did no protocol work, so its slot is given
//! back when no later slot is still held (and with it any given-up slots just before it): the
//! schedule shrinks to the last connection still waiting, a flood's abandoned connections leave
//! no backlog for the client's next real login, and slots still held stay an interval apart.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::network::client_of;

/// The longest a connection waits for its slot; one due later is dropped.
pub const MAX_WAIT: Duration = Duration::from_secs(2);

/// Clients remembered before the ones whose schedule is over are forgotten.
const SWEEP_AT: usize = 4096;

/// The pace of every client, shared by the listeners that use it.
#[derive(Debug, Clone)]
pub struct Pace {
    interval: Duration,
    burst: Duration,
    clients: Arc<Mutex<HashMap<IpAddr, Schedule>>>,
}

/// One client's schedule.
#[derive(Debug)]
struct Schedule {
    /// When the next connection is due, before the burst is taken off.
    due: Instant,
    /// Due times of slots given up while a later one was still held.
    given_up: BTreeSet<Instant>,
}

/// A slot taken: when the connection may go on, and its place in the schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slot {
    at: Instant,
    due: Instant,
}

/// What became of a connection that waited for its turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeTurn {
    /// Its turn came: go on.
    Go,
    /// Its turn would come too late; drop it.
    TooLate,
    /// Its client went away while it waited; its slot was given back.
    GaveUp,
}

impl Pace {
    /// `per_second` new connections a second per client (at least one), twice as many at once.
    pub fn new(per_second: u32) -> Self {
        let interval = Duration::from_secs(1) / per_second.max(1);
        Self {
            interval,
            // The first connection and `2 × rate - 1` more go at once.
            burst: interval * (per_second.max(1) * 2 - 1),
            clients: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Waits for `peer`'s next slot, or until `gone` resolves (its client went away: the slot is
    /// given back). [`HandshakeTurn::TooLate`] at once when the slot would come after `deadline` or more
    /// than [`MAX_WAIT`] from now.
    pub async fn wait(
        &self,
        peer: IpAddr,
        deadline: Instant,
        gone: impl Future<Output = ()>,
    ) -> HandshakeTurn {
        let now = Instant::now();
        let Some(slot) = self.take(peer, now, deadline.min(now + MAX_WAIT)) else {
            return HandshakeTurn::TooLate;
        };
        tokio::select! {
            () = tokio::time::sleep_until(slot.at) => HandshakeTurn::Go,
            () = gone => {
                self.give_back(peer, slot, Instant::now());
                HandshakeTurn::GaveUp
            }
        }
    }

    fn take(&self, peer: IpAddr, now: Instant, deadline: Instant) -> Option<Slot> {
        let client = client_of(peer);
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if clients.len() >= SWEEP_AT {
            clients.retain(|_, schedule| schedule.due > now);
        }
        let schedule = clients.entry(client).or_insert_with(|| Schedule {
            due: now,
            given_up: BTreeSet::new(),
        });
        let next = schedule.due.max(now);
        let at = next.checked_sub(self.burst).map_or(now, |at| at.max(now));
        if at > deadline {
            return None;
        }
        schedule.due = next + self.interval;
        Some(Slot {
            at,
            due: schedule.due,
        })
    }

    /// Gives `slot` back: the schedule moves back over it and over the given-up slots just
    /// before it, if it was the last one taken; otherwise it is remembered until it is.
    fn give_back(&self, peer: IpAddr, slot: Slot, now: Instant) {
        let client = client_of(peer);
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        let Some(schedule) = clients.get_mut(&client) else {
            return;
        };
        if slot.due != schedule.due {
            schedule.given_up.insert(slot.due);
            return;
        }
        schedule.due -= self.interval;
        while schedule.given_up.remove(&schedule.due) {
            schedule.due -= self.interval;
        }
        // Slots whose time is over are spent, given up or not.
        schedule.given_up.retain(|due| *due > now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    #[test]
    fn a_burst_goes_at_once_then_the_rate_holds_per_client() {
        let pace = Pace::new(10);
        let start = Instant::now();
        let far = start + Duration::from_secs(3600);
        let slot = |peer: &str, deadline| pace.take(ip(peer), start, deadline).map(|s| s.at);
        // 20 at once, then one every 100 ms.
        let slots: Vec<Instant> = (0..40).map(|_| slot("192.0.2.1", far).unwrap()).collect();
        assert!(slots[..20].iter().all(|&at| at == start));
        assert_eq!(slots[20] - start, Duration::from_millis(100));
        assert_eq!(slots[39] - start, Duration::from_millis(2000));
        // Another client is not slowed; one IPv6 /64 is one client.
        assert_eq!(slot("192.0.2.2", far), Some(start));
        for _ in 0..20 {
            slot("2001:db8::1", far).unwrap();
        }
        assert!(slot("2001:db8::2", far).unwrap() > start);
        // Past the deadline: refused, and that refusal takes no slot.
        let soon = start + Duration::from_millis(2050);
        assert_eq!(slot("192.0.2.1", soon), None);
        assert_eq!(
            slot("192.0.2.1", far),
            Some(start + Duration::from_millis(2100))
        );
        // Time passes: the schedule refills.
        let later = start + Duration::from_secs(10);
        assert_eq!(
            pace.take(ip("192.0.2.1"), later, far).map(|s| s.at),
            Some(later)
        );
    }

    #[test]
    fn slots_given_up_are_given_back_from_the_last_one_held() {
        let pace = Pace::new(10);
        let start = Instant::now();
        let far = start + Duration::from_secs(3600);
        let client = ip("192.0.2.1");
        let slots: Vec<Slot> = (0..30)
            .map(|_| pace.take(client, start, far).unwrap())
            .collect();
        let next = |pace: &Pace| pace.take(client, start, far).unwrap();
        // Slots 25 and 26 given up while 27..29 wait: nothing moves, a newcomer queues behind.
        pace.give_back(client, slots[25], start);
        pace.give_back(client, slots[26], start);
        let newcomer = next(&pace);
        assert_eq!(newcomer.at - start, Duration::from_millis(1100));
        // The newcomer and 29, 28, 27 give up: the schedule moves back over them and over the
        // given-up 26 and 25, to just after 24, the last slot still held.
        for slot in [newcomer, slots[29], slots[28], slots[27]] {
            pace.give_back(client, slot, start);
        }
        assert_eq!(next(&pace).at, slots[25].at);
        assert_eq!(next(&pace).at, slots[26].at);
    }
}
