//! Passwords: the secret type that never shows its content, argon2id hashing to PHC strings,
//! verification that costs the same whether or not the user exists, and generated passwords.
//! Hashing is CPU-heavy, so every call here runs on tokio's blocking pool, never on the async
//! worker threads.

use std::fmt;
use std::sync::OnceLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::Rng;

/// A password as typed by a person or sent by a client. It has no `Debug` or `Display` that shows
/// its content, so it can't end up in a log line by accident.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// Wraps a password.
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    /// The password itself, for the hasher and for showing a generated one to the operator once.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Makes a random password of 20 letters and digits (about 115 bits), without the
    /// look-alike characters `0O1lI`, so it can be read aloud or typed from a screen.
    pub fn generate() -> Self {
        const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
        let mut rng = rand::thread_rng();
        let text = (0..20)
            .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
            .collect();
        Self(text)
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// Why a password can't be set.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// Shorter than the minimum.
    #[error("the password is too short: at least {min} characters")]
    TooShort {
        /// The minimum length.
        min: usize,
    },
    /// Longer than the maximum, which bounds the hashing work a client can cause.
    #[error("the password is too long: at most {max} characters")]
    TooLong {
        /// The maximum length.
        max: usize,
    },
    /// Holds a control character, which no client sends reliably.
    #[error("the password holds a control character")]
    ControlCharacter,
    /// The hasher failed (it should not).
    #[error("the password could not be hashed")]
    Hash,
}

/// The shortest password accepted when one is set.
pub const MIN_LENGTH: usize = 8;
/// The longest password accepted, when set or offered at login.
pub const MAX_LENGTH: usize = 256;

/// The argon2id parameters: OWASP's recommended 19 MiB, 2 passes, 1 lane.
fn hasher() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Checks that a new password may be set.
///
/// # Errors
/// [`PasswordError`] saying what is wrong with it.
pub fn check_strength(password: &Password) -> Result<(), PasswordError> {
    let count = password.expose().chars().count();
    if count < MIN_LENGTH {
        return Err(PasswordError::TooShort { min: MIN_LENGTH });
    }
    if count > MAX_LENGTH {
        return Err(PasswordError::TooLong { max: MAX_LENGTH });
    }
    if password.expose().chars().any(char::is_control) {
        return Err(PasswordError::ControlCharacter);
    }
    Ok(())
}

/// Waits for one of the process's hashing places: each argon2 run takes 19 MiB and a core for
/// tens of milliseconds, so a flood of logins (partners, staff, any frontend) queues here instead
/// of filling memory with parallel hashes.
async fn hashing_slot() -> Option<tokio::sync::SemaphorePermit<'static>> {
    static SLOTS: OnceLock<tokio::sync::Semaphore> = OnceLock::new();
    let slots = SLOTS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        tokio::sync::Semaphore::new(cores * 2)
    });
    slots.acquire().await.ok()
}

/// Hashes a password into an argon2id PHC string with a fresh salt, off the async threads.
///
/// # Errors
/// [`PasswordError::Hash`] if the hasher or the blocking pool fails.
pub async fn hash(password: Password) -> Result<String, PasswordError> {
    let _slot = hashing_slot().await;
    tokio::task::spawn_blocking(move || hash_blocking(&password))
        .await
        .map_err(|_| PasswordError::Hash)?
}

fn hash_blocking(password: &Password) -> Result<String, PasswordError> {
    let salt = SaltString::generate(&mut OsRng);
    hasher()
        .hash_password(password.expose().as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|_| PasswordError::Hash)
}

/// Checks `password` against a stored PHC string, off the async threads. With `None` (no such
/// user, or one that can't log in) the same work is done against a dummy hash and the answer is
/// `false`, so the time taken does not tell whether a name exists.
pub async fn verify(password: Password, stored: Option<String>) -> bool {
    let _slot = hashing_slot().await;
    tokio::task::spawn_blocking(move || verify_blocking(&password, stored.as_deref()))
        .await
        .unwrap_or(false)
}

fn verify_blocking(password: &Password, stored: Option<&str>) -> bool {
    // Over-long offers are cut to the maximum before hashing: they still cost one full hash, and
    // can never match, since no stored password is that long.
    let offered = truncate(password.expose(), MAX_LENGTH + 1);
    let (phc, real) = match stored {
        Some(phc) => (phc, true),
        None => (dummy_hash(), false),
    };
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let matches = hasher()
        .verify_password(offered.as_bytes(), &parsed)
        .is_ok();
    real && matches && offered.chars().count() <= MAX_LENGTH
}

fn truncate(text: &str, max_chars: usize) -> &str {
    match text.char_indices().nth(max_chars) {
        Some((index, _)) => &text[..index],
        None => text,
    }
}

/// A hash of a random password, made once per process, with the same parameters as real ones.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        hash_blocking(&Password::generate()).unwrap_or_else(|_| {
            // A fixed, valid argon2id PHC string with the same cost parameters.
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$2Fj1rCBBZkWIXSv7TkC1lWR0w0oJxJ6kX1qkqJxjUXg"
                .to_string()
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_is_argon2id_phc_and_verifies() {
        let phc = hash(Password::new("correct horse")).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(!phc.contains("correct horse"));
        assert!(verify(Password::new("correct horse"), Some(phc.clone())).await);
        assert!(!verify(Password::new("wrong horse"), Some(phc)).await);
    }

    #[tokio::test]
    async fn unknown_user_never_verifies() {
        assert!(!verify(Password::new("anything"), None).await);
    }

    #[test]
    fn debug_hides_the_secret() {
        assert_eq!(format!("{:?}", Password::new("s3cret")), "Password(***)");
    }

    #[test]
    fn generated_passwords_are_strong_and_differ() {
        let a = Password::generate();
        let b = Password::generate();
        assert_eq!(a.expose().len(), 20);
        assert_ne!(a.expose(), b.expose());
        check_strength(&a).unwrap();
    }

    #[test]
    fn strength_rules() {
        assert!(check_strength(&Password::new("short")).is_err());
        assert!(check_strength(&Password::new("tab\tinside!")).is_err());
        assert!(check_strength(&Password::new("x".repeat(300))).is_err());
        check_strength(&Password::new("long enough")).unwrap();
    }
}
