//! The time the stores write: Unix seconds, as every table of this crate keeps its times.

/// Now, in Unix seconds.
pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}
