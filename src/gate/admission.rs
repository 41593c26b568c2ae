//! Admission: what every listener asks the gate before a protocol sees a new connection. A
//! blocked client (see `failures`) is refused at once; connections not yet logged in are capped
//! per client (an IPv4 address or an IPv6 /64, see `network`) and in all, so one address that
//! opens a thousand connections and never logs in can't crowd out a partner from another; and
//! each such connection has a deadline to finish its login. The permit, [`Admission`], holds
//! the pre-login place until the login succeeds ([`Admission::logged_in`]) or the connection
//! ends (drop). Logged-in sessions are counted separately, by `sessions`. A listener whose
//! connections have no login of their own (HTTP) counts its open connections with the same
//! count, [`Connections`], under its own caps.

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

/// Places taken per client and in all: the one count behind every cap on connections, the
/// pre-login ones of FTP and SFTP ([`Admissions`]) and the open ones of HTTP ([`Connections`]).
#[derive(Debug, Default)]
struct Places {
    total: u32,
    per_client: HashMap<IpAddr, u32>,
}

impl Places {
    /// Takes a place for `client` unless it holds `per_client` already (`None`: no cap per
    /// client) or `total` are taken.
    fn take(
        &mut self,
        client: IpAddr,
        per_client: Option<u32>,
        total: u32,
    ) -> Result<(), AdmitRefusal> {
        let mine = self.per_client.get(&client).copied().unwrap_or(0);
        if per_client.is_some_and(|cap| mine >= cap) {
            return Err(AdmitRefusal::TooManyFromAddress);
        }
        if self.total >= total {
            return Err(AdmitRefusal::TooMany);
        }
        self.total += 1;
        self.per_client.insert(client, mine + 1);
        Ok(())
    }

    fn give_back(&mut self, client: IpAddr) {
        self.total = self.total.saturating_sub(1);
        if let Some(n) = self.per_client.get_mut(&client) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_client.remove(&client);
            }
        }
    }
}

/// A place held in a [`Places`] count, given back once, when released or dropped.
#[derive(Debug)]
struct Place {
    client: IpAddr,
    // `None` once the place is given back.
    places: Option<Arc<Mutex<Places>>>,
}

impl Place {
    fn release(&mut self) {
        if let Some(places) = self.places.take() {
            places
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .give_back(self.client);
        }
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        self.release();
    }
}

/// The counter of connections waiting to log in, shared by every listener.
#[derive(Debug, Clone)]
pub struct Admissions {
    policy: AdmissionPolicy,
    waiting: Arc<Mutex<Places>>,
}

/// One admitted connection's pre-login place and deadline. Released by
/// [`Admission::logged_in`] or when dropped.
#[derive(Debug)]
pub struct Admission {
    deadline: Instant,
    place: Place,
}

impl Admission {
    /// When the connection must have logged in; the frontend closes it then.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// The login succeeded: frees the pre-login place (the session limits count it from now).
    pub fn logged_in(mut self) {
        self.place.release();
    }
}

impl Admissions {
    /// An empty counter with `policy`.
    pub fn new(policy: AdmissionPolicy) -> Self {
        Self {
            policy,
            waiting: Arc::new(Mutex::new(Places::default())),
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
        self.waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take(
                client,
                Some(self.policy.max_unauthenticated_per_client),
                self.policy.max_unauthenticated,
            )?;
        Ok(Admission {
            deadline: Instant::now() + self.policy.login_timeout,
            place: Place {
                client,
                places: Some(Arc::clone(&self.waiting)),
            },
        })
    }

    /// Connections waiting to log in now, in all.
    pub fn waiting(&self) -> u32 {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner()).total
    }
}

/// The caps on a listener's open connections where a connection has no login of its own (HTTP:
/// every request carries its credentials), per client and in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionCaps {
    /// Open connections from every client together.
    pub max_connections: u32,
    /// Open connections from one client (an IPv4 address or an IPv6 /64).
    pub max_per_client: u32,
}

impl From<crate::config::HttpLimits> for ConnectionCaps {
    /// The caps of the HTTP listener.
    fn from(limits: crate::config::HttpLimits) -> Self {
        Self {
            max_connections: limits.max_connections,
            max_per_client: limits.max_connections_per_client,
        }
    }
}

/// The counter of a listener's open connections, under its [`ConnectionCaps`].
#[derive(Debug, Clone)]
pub struct Connections {
    caps: ConnectionCaps,
    open: Arc<Mutex<Places>>,
}

/// One open connection's place, given back when dropped (when the connection ends).
#[derive(Debug)]
pub struct ConnectionPlace {
    _place: Place,
}

impl Connections {
    /// An empty counter with `caps`.
    pub fn new(caps: ConnectionCaps) -> Self {
        Self {
            caps,
            open: Arc::new(Mutex::new(Places::default())),
        }
    }

    /// The caps in force.
    pub fn caps(&self) -> ConnectionCaps {
        self.caps
    }

    /// Takes a place for a connection from `peer`; `per_client` false exempts it from the cap
    /// per client (a trusted reverse proxy speaks for many clients), not from the cap in all.
    ///
    /// # Errors
    /// [`AdmitRefusal::TooManyFromAddress`] or [`AdmitRefusal::TooMany`] when a cap is reached.
    pub fn take(&self, peer: IpAddr, per_client: bool) -> Result<ConnectionPlace, AdmitRefusal> {
        let client = client_of(peer);
        self.open.lock().unwrap_or_else(|e| e.into_inner()).take(
            client,
            per_client.then_some(self.caps.max_per_client),
            self.caps.max_connections,
        )?;
        Ok(ConnectionPlace {
            _place: Place {
                client,
                places: Some(Arc::clone(&self.open)),
            },
        })
    }

    /// Connections open now, in all.
    pub fn open(&self) -> u32 {
        self.open.lock().unwrap_or_else(|e| e.into_inner()).total
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

    #[test]
    fn connections_are_capped_per_client_unless_exempt_and_in_all() {
        let connections = Connections::new(ConnectionCaps {
            max_connections: 4,
            max_per_client: 2,
        });
        let a1 = connections.take(ip("192.0.2.1"), true).unwrap();
        let _a2 = connections.take(ip("192.0.2.1"), true).unwrap();
        assert_eq!(
            connections.take(ip("192.0.2.1"), true).unwrap_err(),
            AdmitRefusal::TooManyFromAddress
        );
        // A trusted proxy is not held to the cap per client, only to the cap in all.
        let _p1 = connections.take(ip("192.0.2.9"), false).unwrap();
        let _p2 = connections.take(ip("192.0.2.9"), false).unwrap();
        assert_eq!(
            connections.take(ip("192.0.2.9"), false).unwrap_err(),
            AdmitRefusal::TooMany
        );
        assert_eq!(connections.open(), 4);
        drop(a1);
        assert_eq!(connections.open(), 3);
        assert!(connections.take(ip("192.0.2.1"), true).is_ok());
    }
}
