//! A short-lived memory of successful password checks, so a partner's script that logs in every
//! few seconds doesn't pay a full argon2 hash each time (SFTPGo's "password caching" does the
//! same). Only successes are remembered, as a keyed SHA-256 of name and password under a random
//! key made per process; an entry is valid only while the stored hash is unchanged, so a new
//! password or a new hash invalidates it at once. Nothing here is ever written to disk.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::RngCore;
use sha2::{Digest, Sha256};

use super::password::Password;

/// How long a remembered success stays valid.
const TTL: Duration = Duration::from_secs(15 * 60);
/// The most users remembered at once.
const CAPACITY: usize = 10_000;

#[derive(Debug)]
struct Entry {
    stored_hash: String,
    proof: [u8; 32],
    at: Instant,
}

/// The cache, shared by clones of the store.
#[derive(Clone)]
pub struct LoginCache {
    key: Arc<[u8; 32]>,
    entries: Arc<Mutex<HashMap<String, Entry>>>,
}

impl std::fmt::Debug for LoginCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LoginCache")
    }
}

impl Default for LoginCache {
    fn default() -> Self {
        let mut key = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut key);
        Self {
            key: Arc::new(key),
            entries: Arc::new(Mutex::new(HashMap::new())),
        }
    }
}

impl LoginCache {
    fn proof(&self, name: &str, password: &Password) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(self.key.as_slice());
        hasher.update(name.as_bytes());
        hasher.update([0u8]);
        hasher.update(password.expose().as_bytes());
        hasher.finalize().into()
    }

    /// Whether `password` was accepted for `name` recently, against the same stored hash.
    pub fn recalls(&self, name: &str, stored_hash: &str, password: &Password) -> bool {
        let proof = self.proof(name, password);
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.get(name).is_some_and(|entry| {
            entry.stored_hash == stored_hash && entry.proof == proof && entry.at.elapsed() < TTL
        })
    }

    /// Remembers that `password` was accepted for `name` against `stored_hash`.
    pub fn remember(&self, name: &str, stored_hash: &str, password: &Password) {
        let proof = self.proof(name, password);
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= CAPACITY {
            entries.retain(|_, e| e.at.elapsed() < TTL);
            if entries.len() >= CAPACITY {
                entries.clear();
            }
        }
        entries.insert(
            name.to_string(),
            Entry {
                stored_hash: stored_hash.to_string(),
                proof,
                at: Instant::now(),
            },
        );
    }

    /// Forgets `name`, e.g. when its password changes or it is disabled.
    pub fn forget(&self, name: &str) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recalls_only_the_same_password_and_hash() {
        let cache = LoginCache::default();
        let pw = Password::new("right-password");
        assert!(!cache.recalls("alice", "$hash1", &pw));
        cache.remember("alice", "$hash1", &pw);
        assert!(cache.recalls("alice", "$hash1", &pw));
        assert!(!cache.recalls("alice", "$hash1", &Password::new("wrong-password")));
        assert!(
            !cache.recalls("alice", "$hash2", &pw),
            "a new hash invalidates"
        );
        assert!(!cache.recalls("bob", "$hash1", &pw));
        cache.forget("alice");
        assert!(!cache.recalls("alice", "$hash1", &pw));
    }
}
