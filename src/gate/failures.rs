//! Failures per client: N failures within a window block the client for a while. The client
//! is an address (an IPv4 address or an IPv6 /64, see `network`) for failed logins, or any
//! other key, such as the API user whose well-signed track & trace requests keep missing.
//! Kept in memory, per process; a restart forgets them, which only gives an attacker a restart's
//! worth of extra tries.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::network::client_of;
use crate::config::LoginPolicy;

#[derive(Debug, Default)]
struct Record {
    failures: Vec<Instant>,
    blocked_until: Option<Instant>,
}

/// What failures are counted per.
pub trait FailureKey: Hash + Eq + Clone {
    /// The client this key counts as (an IPv6 address counts as its /64).
    fn client(self) -> Self;
}

impl FailureKey for IpAddr {
    fn client(self) -> Self {
        client_of(self)
    }
}

impl FailureKey for String {
    fn client(self) -> Self {
        self
    }
}

/// A failure counter per client `K`.
#[derive(Debug, Clone)]
pub struct Failures<K> {
    policy: LoginPolicy,
    records: Arc<Mutex<HashMap<K, Record>>>,
}

/// The failed-login counter per address, shared by every frontend.
pub type FailedLogins = Failures<IpAddr>;

impl<K: FailureKey> Failures<K> {
    /// An empty counter with `policy`.
    pub fn new(policy: LoginPolicy) -> Self {
        Self {
            policy,
            records: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Whether `peer` is blocked now.
    pub fn is_blocked(&self, peer: K) -> bool {
        let peer = peer.client();
        let now = Instant::now();
        let records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        records
            .get(&peer)
            .and_then(|r| r.blocked_until)
            .is_some_and(|until| until > now)
    }

    /// Records a failure from `peer`; returns whether this one blocked it.
    pub fn record(&self, peer: K) -> bool {
        let peer = peer.client();
        let now = Instant::now();
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        // Keep the map from growing without bound under a spray of addresses.
        if records.len() > 100_000 {
            records.retain(|_, r| {
                r.blocked_until.is_some_and(|u| u > now)
                    || r.failures
                        .iter()
                        .any(|t| now.duration_since(*t) < self.policy.window)
            });
        }
        let record = records.entry(peer).or_default();
        record
            .failures
            .retain(|t| now.duration_since(*t) < self.policy.window);
        record.failures.push(now);
        if record.failures.len() >= self.policy.max_failures as usize {
            record.failures.clear();
            record.blocked_until = Some(now + self.policy.block_for);
            true
        } else {
            false
        }
    }

    /// Forgets the failures of `peer` after a successful login.
    pub fn forgive(&self, peer: K) {
        let peer = peer.client();
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(record) = records.get(&peer) {
            if record.blocked_until.is_none() {
                records.remove(&peer);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn policy(max: u32, window_ms: u64, block_ms: u64) -> LoginPolicy {
        LoginPolicy {
            max_failures: max,
            window: Duration::from_millis(window_ms),
            block_for: Duration::from_millis(block_ms),
        }
    }

    #[test]
    fn blocks_after_the_nth_failure_and_unblocks_later() {
        let failures = FailedLogins::new(policy(3, 60_000, 50));
        let peer: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        assert!(!failures.record(peer));
        assert!(!failures.record(peer));
        assert!(!failures.is_blocked(peer));
        assert!(failures.record(peer));
        assert!(failures.is_blocked(peer));
        assert!(!failures.is_blocked(other));
        std::thread::sleep(Duration::from_millis(80));
        assert!(!failures.is_blocked(peer));
    }

    #[test]
    fn old_failures_fall_out_of_the_window() {
        let failures = FailedLogins::new(policy(2, 30, 60_000));
        let peer: IpAddr = "::1".parse().unwrap();
        assert!(!failures.record(peer));
        std::thread::sleep(Duration::from_millis(50));
        assert!(!failures.record(peer));
        assert!(!failures.is_blocked(peer));
    }

    #[test]
    fn one_ipv6_network_is_one_client() {
        let failures = FailedLogins::new(policy(2, 60_000, 60_000));
        let first: IpAddr = "2001:db8:0:7::1".parse().unwrap();
        let made_up: IpAddr = "2001:db8:0:7:dead:beef:0:2".parse().unwrap();
        let elsewhere: IpAddr = "2001:db8:0:8::1".parse().unwrap();
        assert!(!failures.record(first));
        assert!(
            failures.record(made_up),
            "a new address in the /64 is no fresh start"
        );
        assert!(failures.is_blocked(first));
        assert!(!failures.is_blocked(elsewhere));
    }

    #[test]
    fn any_key_can_be_counted() {
        let misses: Failures<String> = Failures::new(policy(2, 60_000, 60_000));
        assert!(!misses.record("shop-api".to_owned()));
        assert!(misses.record("shop-api".to_owned()));
        assert!(misses.is_blocked("shop-api".to_owned()));
        assert!(!misses.is_blocked("other-api".to_owned()));
    }

    #[test]
    fn success_forgives_but_does_not_lift_a_block() {
        let failures = FailedLogins::new(policy(2, 60_000, 60_000));
        let peer: IpAddr = "192.0.2.9".parse().unwrap();
        failures.record(peer);
        failures.forgive(peer);
        assert!(!failures.record(peer));
        assert!(failures.record(peer));
        failures.forgive(peer);
        assert!(failures.is_blocked(peer));
    }
}
