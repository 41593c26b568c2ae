//! Pacing of new connections per client (an IPv4 address or an IPv6 /64, see `network`): at most
//! `rate` a second, `2 × rate` at once, each connection past that waiting for its turn before any
//! protocol work. The caps of `admission` bound how many may wait; this bounds how fast one client
//! can make the server do the expensive first step again and again (an SSH key exchange: a flood
//! of them, ssh-audit's DHEat, made 10,606 a second before).
//!
//! The schedule is a generic cell rate: each client has the time its next connection is due; a
//! connection takes the slot `max(now, due - burst)` and moves the due time on by one interval.
//! A connection that gives up while waiting keeps its slot spent, so a flood paces itself; one
//! whose slot is more than [`MAX_WAIT`] away is dropped at once without taking one, so a flood
//! builds no backlog that would keep the client's next real login waiting long after it.

use std::collections::HashMap;
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
    due: Arc<Mutex<HashMap<IpAddr, Instant>>>,
}

impl Pace {
    /// `per_second` new connections a second per client (at least one), twice as many at once.
    pub fn new(per_second: u32) -> Self {
        let interval = Duration::from_secs(1) / per_second.max(1);
        Self {
            interval,
            // The first connection and `2 × rate - 1` more go at once.
            burst: interval * (per_second.max(1) * 2 - 1),
            due: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// When the next connection from `peer` may go on (now, or later when it comes too fast);
    /// `None` when that would be after `deadline`, and the connection should be dropped. The
    /// slot counts as taken either way but the last.
    pub fn slot(&self, peer: IpAddr, deadline: Instant) -> Option<Instant> {
        self.slot_at(peer, Instant::now(), deadline)
    }

    fn slot_at(&self, peer: IpAddr, now: Instant, deadline: Instant) -> Option<Instant> {
        let client = client_of(peer);
        let mut due = self.due.lock().unwrap_or_else(|e| e.into_inner());
        if due.len() >= SWEEP_AT {
            due.retain(|_, at| *at > now);
        }
        let next = due.get(&client).copied().unwrap_or(now).max(now);
        let at = next.checked_sub(self.burst).map_or(now, |at| at.max(now));
        if at > deadline {
            return None;
        }
        due.insert(client, next + self.interval);
        Some(at)
    }

    /// Waits for `peer`'s next slot; `false` when it would come after `deadline` or more than
    /// [`MAX_WAIT`] from now.
    pub async fn wait(&self, peer: IpAddr, deadline: Instant) -> bool {
        match self.slot(peer, deadline.min(Instant::now() + MAX_WAIT)) {
            Some(at) => {
                tokio::time::sleep_until(at).await;
                true
            }
            None => false,
        }
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
        let slot = |peer: &str, deadline| pace.slot_at(ip(peer), start, deadline);
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
        assert_eq!(pace.slot_at(ip("192.0.2.1"), later, far), Some(later));
    }
}
