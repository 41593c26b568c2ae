//! Admission: what every listener asks the gate before a protocol sees a new connection. A
//! blocked client (see `failures`) is refused at once; connections not yet logged in are capped
//! per client (an IPv4 address or an IPv6 /64, see `network`) and in all, so one address that
//! opens a thousand connections and never logs in can't crowd out a partner from another; and
//! each such connection has a deadline to finish its login. The permit, [`Admission`], holds
//! the pre-login place until the login succeeds ([`Admission::logged_in`]) or the connection
//! ends (drop). Logged-in sessions are counted separately, by `sessions`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use tokio::time::Instant;

use super::network::client_of;
pub use crate::config::AdmissionPolicy;

/// Why a new connection was not admitted. Frontends answer before any protocol work (FTP with
/// a 421, SFTP by closing) and never send the detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AdmitRefusal {
    /// Too many recent failed logins from this client.
    #[error("address blocked after repeated failed logins")]
    Blocked,
    /// Too many connections from this client are not yet logged in.
    #[error("too many connections from this address waiting to log in")]
    TooManyFromAddress,
    /// Too many connections in all are not yet logged in, or every session place is taken.
    #[error("too many connections on this server")]
    TooMany,
}

#[derive(Debug, Default)]
struct Waiting {
    total: u32,
    per_client: HashMap<IpAddr, u32>,
}

/// The counter of connections waiting to log in, shared by every listener.
#[derive(Debug, Clone)]
pub struct Admissions {
    policy: AdmissionPolicy,
    waiting: Arc<Mutex<Waiting>>,
}

/// One admitted connection's pre-login place and deadline. Released by
/// [`Admission::logged_in`] or when dropped.
#[derive(Debug)]
pub struct Admission {
    client: IpAddr,
    deadline: Instant,
    // `None` once the place is freed.
    waiting: Option<Arc<Mutex<Waiting>>>,
}

impl Admission {
    /// When the connection must have logged in; the frontend closes it then.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// The login succeeded: frees the pre-login place (the session limits count it from now).
    pub fn logged_in(mut self) {
        self.release();
    }

    fn release(&mut self) {
        let Some(waiting) = self.waiting.take() else {
            return;
        };
        let mut waiting = waiting.lock().unwrap_or_else(|e| e.into_inner());
        waiting.total = waiting.total.saturating_sub(1);
        if let Some(n) = waiting.per_client.get_mut(&self.client) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                waiting.per_client.remove(&self.client);
            }
        }
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.release();
    }
}

impl Admissions {
    /// An empty counter with `policy`.
    pub fn new(policy: AdmissionPolicy) -> Self {
        Self {
            policy,
            waiting: Arc::new(Mutex::new(Waiting::default())),
        }
    }

    /// The policy in force.
    pub fn policy(&self) -> AdmissionPolicy {
        self.policy
    }

    /// Takes a pre-login place for a connection from `peer`.
    ///
    /// # Errors
    /// [`AdmitRefusal::TooManyFromAddress`] or [`AdmitRefusal::TooMany`] when a cap is reached.
    pub fn take(&self, peer: IpAddr) -> Result<Admission, AdmitRefusal> {
        let client = client_of(peer);
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        let mine = waiting.per_client.get(&client).copied().unwrap_or(0);
        if mine >= self.policy.max_unauthenticated_per_client {
            return Err(AdmitRefusal::TooManyFromAddress);
        }
        if waiting.total >= self.policy.max_unauthenticated {
            return Err(AdmitRefusal::TooMany);
        }
        waiting.total += 1;
        waiting.per_client.insert(client, mine + 1);
        Ok(Admission {
            client,
            deadline: Instant::now() + self.policy.login_timeout,
            waiting: Some(Arc::clone(&self.waiting)),
        })
    }

    /// Connections waiting to log in now, in all.
    pub fn waiting(&self) -> u32 {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner()).total
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    fn admissions(total: u32, per_client: u32) -> Admissions {
        Admissions::new(AdmissionPolicy {
            max_unauthenticated: total,
            max_unauthenticated_per_client: per_client,
            login_timeout: Duration::from_secs(30),
            ssh_handshakes_per_second: 10,
        })
    }

    #[tokio::test]
    async fn caps_per_client_and_in_all() {
        let admissions = admissions(5, 2);
        let a1 = admissions.take(ip("192.0.2.1")).unwrap();
        let _a2 = admissions.take(ip("192.0.2.1")).unwrap();
        assert_eq!(
            admissions.take(ip("192.0.2.1")).unwrap_err(),
            AdmitRefusal::TooManyFromAddress
        );
        let _b = admissions.take(ip("192.0.2.2")).unwrap();
        // One IPv6 /64 is one client.
        let _c1 = admissions.take(ip("2001:db8:0:1::1")).unwrap();
        let _c2 = admissions.take(ip("2001:db8:0:1::2")).unwrap();
        assert_eq!(
            admissions.take(ip("2001:db8:0:1::3")).unwrap_err(),
            AdmitRefusal::TooManyFromAddress
        );
        assert_eq!(
            admissions.take(ip("192.0.2.3")).unwrap_err(),
            AdmitRefusal::TooMany
        );
        // A login frees the place; so does the end of the connection.
        a1.logged_in();
        assert_eq!(admissions.waiting(), 4);
        let a3 = admissions.take(ip("192.0.2.1")).unwrap();
        drop(a3);
        drop(_b);
        assert_eq!(admissions.waiting(), 3);
        assert!(admissions.take(ip("192.0.2.3")).is_ok());
    }
}
