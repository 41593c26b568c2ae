//! Turns for login checks per client (an IPv4 address or an IPv6 /64, see `network`): at most a
//! few checks from one client run at a time, the rest wait. Without this a client could send many attempts at once and have them
//! all checked before the first failure counts against its address, or spend the server's
//! memory on parallel password hashes.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::network::client_of;

/// Checks from one address that run at the same time.
const PER_ADDRESS: usize = 2;

type Map = Arc<Mutex<HashMap<IpAddr, Arc<Semaphore>>>>;

/// The turn-taking of every address.
#[derive(Debug, Clone, Default)]
pub struct CheckTurns {
    map: Map,
}

/// One check in progress for an address; frees its place when dropped.
#[derive(Debug)]
pub struct Turn {
    peer: IpAddr,
    _permit: OwnedSemaphorePermit,
    map: Map,
}

impl Drop for Turn {
    fn drop(&mut self) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        // Forget the address's semaphore once nobody else holds or waits on it.
        if map
            .get(&self.peer)
            .is_some_and(|s| Arc::strong_count(s) == 1)
        {
            map.remove(&self.peer);
        }
    }
}

impl CheckTurns {
    /// Waits for one of `peer`'s places.
    pub async fn take(&self, peer: IpAddr) -> Option<Turn> {
        let peer = client_of(peer);
        let semaphore = {
            let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
            Arc::clone(
                map.entry(peer)
                    .or_insert_with(|| Arc::new(Semaphore::new(PER_ADDRESS))),
            )
        };
        let permit = semaphore.acquire_owned().await.ok()?;
        Some(Turn {
            peer,
            _permit: permit,
            map: Arc::clone(&self.map),
        })
    }
}
