//! Log set-up: human-readable or JSON lines on standard error, filtered by `RUST_LOG` (default
//! `info`, with libunftp's own chatter at `warn`, since its spans carry whole session structures,
//! and rustls at `error`, since it warns of every client that sends an IP address as SNI).
//! The human format writes ANSI colours only when standard error is a terminal, so a log file or
//! a pipe holds plain text. Secrets never reach this layer: they have no printable form.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// The filter used when `RUST_LOG` is not set.
pub const DEFAULT_FILTER: &str = "info,libunftp=warn,rustls=error";

/// Installs the global subscriber once; later calls do nothing.
pub fn init(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
