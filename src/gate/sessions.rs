//! Session limits: at most N sessions at once on the server and M per user, whatever the
//! protocol. A session holds a permit; dropping it frees the place. A permit also carries the
//! signal that ends the session (staff disabled, deleted or re-passworded the account, removed
//! the key it logged in with or the protocol it uses); [`SessionLimits::end`] picks which of a
//! user's sessions to end by what each one recorded at its start.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use super::Refusal;
use crate::metrics::SessionGauge;
use crate::users::Protocol;

/// One logged-in session, from [`Gate::start_session`](super::Gate::start_session) until it
/// is dropped: its place under the limits, its count in `/metrics`, and the signal that ends it.
/// No frontend or storage back-end counts sessions itself.
#[derive(Debug)]
pub struct Session {
    permit: SessionPermit,
    protocol: Protocol,
    _gauge: SessionGauge,
}

impl Session {
    /// Cancelled when the session must end now (staff changed the account); the frontend then
    /// closes the connection.
    pub fn ended(&self) -> CancellationToken {
        self.permit.ended()
    }

    /// The user the session belongs to.
    pub fn user(&self) -> &str {
        self.permit.user()
    }

    /// The protocol the session logged in over.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }
}

/// Which of a user's open sessions [`SessionLimits::end`] ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// Every one (the account was disabled, removed or given a new password).
    All,
    /// Those over this protocol (the protocol was taken from the user, or TLS became required
    /// and the session is plain FTP).
    Protocol(Protocol),
    /// Those that logged in with the SSH key of this fingerprint (`SHA256:...`), which was
    /// removed.
    Key(String),
}

/// What the limits know of one open session.
#[derive(Debug)]
struct Open {
    id: u64,
    protocol: Protocol,
    key: Option<String>,
    end: CancellationToken,
}

impl Open {
    fn is(&self, which: &Ending) -> bool {
        match which {
            Ending::All => true,
            Ending::Protocol(protocol) => self.protocol == *protocol,
            Ending::Key(fingerprint) => self.key.as_deref() == Some(fingerprint.as_str()),
        }
    }
}

#[derive(Debug, Default)]
struct Counts {
    total: u32,
    next_id: u64,
    // The open sessions of each user with any.
    per_user: HashMap<String, Vec<Open>>,
}

/// The shared session counter.
#[derive(Debug, Clone)]
pub struct SessionLimits {
    max_total: u32,
    max_per_user: u32,
    counts: Arc<Mutex<Counts>>,
}

/// One open session's place; released when dropped.
#[derive(Debug)]
pub struct SessionPermit {
    user: String,
    id: u64,
    counts: Arc<Mutex<Counts>>,
    ended: CancellationToken,
}

impl SessionPermit {
    /// Cancelled when staff end this session; the frontend then closes the connection.
    pub fn ended(&self) -> CancellationToken {
        self.ended.clone()
    }

    /// The user the session belongs to.
    pub fn user(&self) -> &str {
        &self.user
    }
}

impl SessionLimits {
    /// Limits of `max_total` sessions and `max_per_user` for one user.
    pub fn new(max_total: u32, max_per_user: u32) -> Self {
        Self {
            max_total,
            max_per_user,
            counts: Arc::new(Mutex::new(Counts::default())),
        }
    }

    /// Takes a place for a session of `user` over `protocol`, logged in with the SSH key of
    /// fingerprint `key` if any.
    ///
    /// # Errors
    /// [`Refusal::TooManySessions`] when either limit is reached.
    pub fn acquire(
        &self,
        user: &str,
        protocol: Protocol,
        key: Option<String>,
    ) -> Result<SessionPermit, Refusal> {
        let mut counts = self.lock();
        if counts.total >= self.max_total {
            return Err(Refusal::TooManySessions { per_user: false });
        }
        let mine = counts.per_user.get(user).map_or(0, Vec::len);
        if mine >= self.max_per_user as usize {
            return Err(Refusal::TooManySessions { per_user: true });
        }
        counts.total += 1;
        counts.next_id += 1;
        let id = counts.next_id;
        let ended = CancellationToken::new();
        counts
            .per_user
            .entry(user.to_string())
            .or_default()
            .push(Open {
                id,
                protocol,
                key,
                end: ended.clone(),
            });
        Ok(SessionPermit {
            user: user.to_string(),
            id,
            counts: Arc::clone(&self.counts),
            ended,
        })
    }

    /// Ends the open sessions of `user` that `which` names; returns how many it ended. A
    /// session started afterwards is not ended.
    pub fn end(&self, user: &str, which: &Ending) -> u32 {
        let counts = self.lock();
        let Some(open) = counts.per_user.get(user) else {
            return 0;
        };
        let mut ended = 0;
        for session in open.iter().filter(|s| s.is(which)) {
            if !session.end.is_cancelled() {
                session.end.cancel();
                ended += 1;
            }
        }
        ended
    }

    /// Ends every open session of `user`; returns how many there were.
    pub fn end_sessions(&self, user: &str) -> u32 {
        self.end(user, &Ending::All)
    }

    /// Sessions open now, in all.
    pub fn open(&self) -> u32 {
        self.lock().total
    }

    /// Whether every place is taken.
    pub fn is_full(&self) -> bool {
        self.open() >= self.max_total
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Session {
    pub(super) fn new(permit: SessionPermit, protocol: Protocol, gauge: SessionGauge) -> Self {
        Self {
            permit,
            protocol,
            _gauge: gauge,
        }
    }
}

impl Drop for SessionPermit {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        counts.total = counts.total.saturating_sub(1);
        if let Some(open) = counts.per_user.get_mut(&self.user) {
            open.retain(|s| s.id != self.id);
            if open.is_empty() {
                counts.per_user.remove(&self.user);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn take(limits: &SessionLimits, user: &str) -> Result<SessionPermit, Refusal> {
        limits.acquire(user, Protocol::Ftp, None)
    }

    #[test]
    fn limits_in_all_and_per_user() {
        let limits = SessionLimits::new(3, 2);
        let a1 = take(&limits, "a").unwrap();
        let _a2 = take(&limits, "a").unwrap();
        assert!(matches!(
            take(&limits, "a"),
            Err(Refusal::TooManySessions { per_user: true })
        ));
        let _b1 = take(&limits, "b").unwrap();
        assert!(matches!(
            take(&limits, "c"),
            Err(Refusal::TooManySessions { per_user: false })
        ));
        drop(a1);
        assert_eq!(limits.open(), 2);
        let a3 = take(&limits, "a").unwrap();
        assert_eq!(limits.end_sessions("a"), 2);
        assert!(a3.ended().is_cancelled());
        assert!(!_b1.ended().is_cancelled());
        // A session opened after the end is not ended with them.
        drop(a3);
        let a4 = take(&limits, "a").unwrap();
        assert!(!a4.ended().is_cancelled());
    }

    #[test]
    fn ends_only_the_matching_sessions() {
        let limits = SessionLimits::new(10, 10);
        let plain = limits.acquire("a", Protocol::Ftp, None).unwrap();
        let tls = limits.acquire("a", Protocol::Ftps, None).unwrap();
        let by_key = limits
            .acquire("a", Protocol::Sftp, Some("SHA256:one".into()))
            .unwrap();
        let other_key = limits
            .acquire("a", Protocol::Sftp, Some("SHA256:two".into()))
            .unwrap();
        let someone_else = limits.acquire("b", Protocol::Ftp, None).unwrap();

        assert_eq!(limits.end("a", &Ending::Protocol(Protocol::Ftp)), 1);
        assert!(plain.ended().is_cancelled());
        assert!(!tls.ended().is_cancelled());
        assert!(!someone_else.ended().is_cancelled());

        assert_eq!(limits.end("a", &Ending::Key("SHA256:one".into())), 1);
        assert!(by_key.ended().is_cancelled());
        assert!(!other_key.ended().is_cancelled());

        // Already-ended sessions are not counted again.
        assert_eq!(limits.end("a", &Ending::All), 2);
        assert!(tls.ended().is_cancelled() && other_key.ended().is_cancelled());
        assert_eq!(limits.end("nobody", &Ending::All), 0);
        assert_eq!(limits.open(), 5);
        drop((plain, tls, by_key, other_key));
        assert_eq!(limits.open(), 1);
    }
}
