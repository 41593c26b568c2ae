//! Whether one FTP connection is moving a file right now: `put` and `get_into` hold a
//! [`Transferring`] guard while they run. Shutdown reads it, so an idle session ends at once and
//! a running transfer gets the grace period.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The transfers under way on one connection; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Activity {
    running: Arc<AtomicUsize>,
}

/// One transfer under way; counted until dropped.
#[derive(Debug)]
pub struct Transferring(Arc<AtomicUsize>);

impl Activity {
    /// Counts a transfer until the guard is dropped.
    pub fn transfer(&self) -> Transferring {
        self.running.fetch_add(1, Ordering::Relaxed);
        Transferring(Arc::clone(&self.running))
    }

    /// Whether a transfer is under way.
    pub fn is_transferring(&self) -> bool {
        self.running.load(Ordering::Relaxed) > 0
    }

    /// Waits until no transfer is under way.
    pub async fn quiet(&self) {
        while self.is_transferring() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Transferring {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
