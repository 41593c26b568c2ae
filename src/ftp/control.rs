//! The end of one FTP control connection, decided by us rather than by libunftp: when the
//! server shuts down, the login deadline passes or staff end the session. libunftp owns the
//! socket, so a duplicate of it is kept to send a last `421` line and close it for sure. The
//! line is sent only while the control channel is plain: after `AUTH TLS` a line in clear would
//! be garbage to the client's TLS layer, so the connection is just closed. Whether TLS started
//! is noted by the connection's own TLS configuration, whose key log is told of every handshake
//! (and logs nothing).

use std::io::Write as _;
use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A duplicate of a control connection's socket, and whether TLS started on it.
#[derive(Debug)]
pub struct Control {
    socket: Option<std::net::TcpStream>,
    tls: Arc<AtomicBool>,
}

impl Control {
    /// Keeps a duplicate of `socket` (libunftp gets the original).
    pub fn new(socket: &std::net::TcpStream) -> Self {
        Self {
            socket: socket.try_clone().ok(),
            tls: Arc::new(AtomicBool::new(false)),
        }
    }

    /// `base`, for this connection only, with a key log that notes a TLS handshake.
    pub fn tls_config(&self, base: &rustls::ServerConfig) -> Arc<rustls::ServerConfig> {
        let mut config = base.clone();
        config.key_log = Arc::new(NoteHandshake(Arc::clone(&self.tls)));
        Arc::new(config)
    }

    /// Sends `reply` (a whole `421 ...` line) if the channel is plain, then closes the
    /// connection under libunftp. Call it once libunftp's control loop has been told to stop.
    pub fn close(&mut self, reply: &str) {
        let Some(mut socket) = self.socket.take() else {
            return;
        };
        if !self.tls.load(Ordering::Relaxed) {
            // Non-blocking, like the original: a client that stopped reading just misses it.
            let _ = socket.write_all(reply.as_bytes());
        }
        let _ = socket.shutdown(Shutdown::Both);
    }
}

/// rustls's key log for one connection: counts handshakes, keeps no secret.
#[derive(Debug)]
struct NoteHandshake(Arc<AtomicBool>);

impl rustls::KeyLog for NoteHandshake {
    fn log(&self, _label: &str, _client_random: &[u8], _secret: &[u8]) {
        self.0.store(true, Ordering::Relaxed);
    }

    fn will_log(&self, _label: &str) -> bool {
        self.0.store(true, Ordering::Relaxed);
        false
    }
}
