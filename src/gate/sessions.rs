//! Session limits: at most N sessions at once on the server and M per user, whatever the
//! protocol. A session holds a permit; dropping it frees the place. A permit also carries the
//! signal that ends the user's sessions (staff disabled, deleted or re-passworded the account).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use super::Refusal;

#[derive(Debug, Default)]
struct Counts {
    total: u32,
    per_user: HashMap<String, u32>,
    // One token per user with open sessions; cancelled to end them all.
    ends: HashMap<String, CancellationToken>,
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
    counts: Arc<Mutex<Counts>>,
    ended: CancellationToken,
}

impl SessionPermit {
    /// Cancelled when staff end the user's sessions; the frontend then closes the connection.
    pub fn ended(&self) -> CancellationToken {
        self.ended.clone()
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

    /// Takes a place for `user`.
    ///
    /// # Errors
    /// [`Refusal::TooManySessions`] when either limit is reached.
    pub fn acquire(&self, user: &str) -> Result<SessionPermit, Refusal> {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if counts.total >= self.max_total {
            return Err(Refusal::TooManySessions { per_user: false });
        }
        let mine = counts.per_user.get(user).copied().unwrap_or(0);
        if mine >= self.max_per_user {
            return Err(Refusal::TooManySessions { per_user: true });
        }
        counts.total += 1;
        counts.per_user.insert(user.to_string(), mine + 1);
        let ended = counts.ends.entry(user.to_string()).or_default().clone();
        Ok(SessionPermit {
            user: user.to_string(),
            counts: Arc::clone(&self.counts),
            ended,
        })
    }

    /// Ends every open session of `user`; returns how many there were.
    pub fn end_sessions(&self, user: &str) -> u32 {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(token) = counts.ends.remove(user) {
            token.cancel();
        }
        counts.per_user.get(user).copied().unwrap_or(0)
    }

    /// Sessions open now, in all.
    pub fn open(&self) -> u32 {
        self.counts.lock().unwrap_or_else(|e| e.into_inner()).total
    }
}

impl Drop for SessionPermit {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        counts.total = counts.total.saturating_sub(1);
        if let Some(n) = counts.per_user.get_mut(&self.user) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.per_user.remove(&self.user);
                counts.ends.remove(&self.user);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_in_all_and_per_user() {
        let limits = SessionLimits::new(3, 2);
        let a1 = limits.acquire("a").unwrap();
        let _a2 = limits.acquire("a").unwrap();
        assert!(matches!(
            limits.acquire("a"),
            Err(Refusal::TooManySessions { per_user: true })
        ));
        let _b1 = limits.acquire("b").unwrap();
        assert!(matches!(
            limits.acquire("c"),
            Err(Refusal::TooManySessions { per_user: false })
        ));
        drop(a1);
        assert_eq!(limits.open(), 2);
        let a3 = limits.acquire("a").unwrap();
        assert_eq!(limits.end_sessions("a"), 2);
        assert!(a3.ended().is_cancelled());
        // A session opened after the end is not ended with them.
        drop(a3);
        let a4 = limits.acquire("a").unwrap();
        assert!(!a4.ended().is_cancelled());
    }
}
