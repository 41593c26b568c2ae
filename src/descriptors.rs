//! The process's open-files limit: raised at start from the soft to the hard limit, and shared
//! out between the listeners, so a flood of connections on one listener meets that listener's
//! caps long before the kernel's `EMFILE`, and the others keep descriptors to accept with
//! (issue 12, item 7). Knows the configuration's caps, not the listeners.

use std::os::fd::{AsRawFd, RawFd};

use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};

use crate::config::Config;

/// Descriptors a logged-in partner session may hold at once: its control connection, a
/// passive data listener, the data connection and the file it reads or writes.
pub const PER_SESSION: u64 = 4;

/// Raises `RLIMIT_NOFILE`'s soft limit to its hard limit and returns the limit in force
/// afterwards (`None` when unlimited). A refusal by the kernel keeps the old limit; the
/// figure returned is then the old soft limit.
pub fn raise_open_files() -> Option<u64> {
    let limit = getrlimit(Resource::Nofile);
    if limit.current == limit.maximum {
        return limit.current;
    }
    let raised = Rlimit {
        current: limit.maximum,
        maximum: limit.maximum,
    };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) => limit.maximum,
        Err(error) => {
            tracing::warn!(%error, "cannot raise the open-files limit");
            limit.current
        }
    }
}

/// The open-files limit in force now (`None` when unlimited).
pub fn open_files_limit() -> Option<u64> {
    getrlimit(Resource::Nofile).current
}

/// The descriptors the listeners' caps may take at most: each connection waiting to log in and
/// each HTTP connection one, each session [`PER_SESSION`].
pub fn demand(config: &Config) -> u64 {
    u64::from(config.admission.max_unauthenticated)
        + u64::from(config.max_sessions) * PER_SESSION
        + u64::from(config.http.max_connections)
}

/// Lowers the listeners' caps in `config` (connections waiting to log in, sessions, HTTP
/// connections, each in proportion and at least 1; the caps per address no higher than the
/// caps in all) until together they fit in `limit` less `--open-files-reserve`, and logs the
/// figures either way. `None` (unlimited) changes nothing.
pub fn fit(mut config: Config, limit: Option<u64>) -> Config {
    let reserve = u64::from(config.open_files_reserve);
    let Some(limit) = limit else {
        tracing::info!(reserve, "open-files limit: unlimited");
        return config;
    };
    let budget = limit.saturating_sub(reserve);
    let demand = demand(&config);
    if demand <= budget {
        tracing::info!(
            limit,
            reserve,
            listeners = demand,
            max_unauthenticated = config.admission.max_unauthenticated,
            max_sessions = config.max_sessions,
            http_max_connections = config.http.max_connections,
            "open-files limit"
        );
        return config;
    }
    let scale = |cap: u32| -> u32 {
        let scaled = u64::from(cap) * budget / demand;
        u32::try_from(scaled).unwrap_or(u32::MAX).max(1)
    };
    config.admission.max_unauthenticated = scale(config.admission.max_unauthenticated);
    config.max_sessions = scale(config.max_sessions);
    config.http.max_connections = scale(config.http.max_connections);
    let admission = &mut config.admission;
    admission.max_unauthenticated_per_client = admission
        .max_unauthenticated_per_client
        .min(admission.max_unauthenticated);
    config.max_sessions_per_user = config.max_sessions_per_user.min(config.max_sessions);
    config.http.max_connections_per_client = config
        .http
        .max_connections_per_client
        .min(config.http.max_connections);
    tracing::warn!(
        limit,
        reserve,
        wanted = demand,
        listeners = crate::descriptors::demand(&config),
        max_unauthenticated = config.admission.max_unauthenticated,
        max_sessions = config.max_sessions,
        http_max_connections = config.http.max_connections,
        "open-files limit too low for the configured caps; caps lowered to fit \
         (raise the hard limit, e.g. LimitNOFILE= in the systemd unit)"
    );
    config
}

/// How close to the open-files limit a listener may let the descriptor table get: a new
/// connection whose descriptor is numbered at or above the line is closed at once. The kernel
/// hands out the lowest free number, so a descriptor that high means every one below it is
/// open: the table is that full whatever the caps count.
#[derive(Debug, Clone, Copy)]
pub struct Headroom {
    // Invariant: below the limit by half the reserve; `None` when the limit is unlimited.
    line: Option<u64>,
}

impl Headroom {
    /// The line for the limit in force now, half of `reserve` below it (the other half is
    /// what lets the other listeners and the database go on meanwhile).
    pub fn now(reserve: u32) -> Self {
        Self {
            line: open_files_limit().map(|limit| limit.saturating_sub(u64::from(reserve / 2))),
        }
    }

    /// The number at which descriptors are refused, if any.
    pub fn line(&self) -> Option<u64> {
        self.line
    }

    /// Whether a new connection on `socket` leaves enough descriptors free.
    pub fn allows(&self, socket: &impl AsRawFd) -> bool {
        let fd: RawFd = socket.as_raw_fd();
        match (self.line, u64::try_from(fd)) {
            (Some(line), Ok(fd)) => fd < line,
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConfigArgs;

    #[test]
    fn soft_limit_ends_at_the_hard_limit() {
        let after = raise_open_files();
        let limit = getrlimit(Resource::Nofile);
        assert_eq!(limit.current, limit.maximum);
        assert_eq!(after, limit.current);
    }

    #[test]
    fn a_descriptor_at_or_above_the_line_is_refused() {
        let file = std::fs::File::open("/dev/null").expect("a descriptor");
        let fd = u64::try_from(file.as_raw_fd()).expect("a valid descriptor");
        assert!(Headroom { line: Some(fd + 1) }.allows(&file));
        assert!(!Headroom { line: Some(fd) }.allows(&file));
        assert!(Headroom { line: None }.allows(&file));
        let now = Headroom::now(128);
        assert_eq!(
            now.line(),
            open_files_limit().map(|limit| limit.saturating_sub(64))
        );
    }

    #[test]
    fn caps_are_lowered_to_fit_the_limit_less_the_reserve() {
        let config = Config::load(&ConfigArgs::default()).expect("the defaults");
        let wanted = demand(&config);
        let untouched = fit(config.clone(), Some(wanted + 128));
        assert_eq!(untouched.max_sessions, config.max_sessions);
        assert_eq!(untouched.http, config.http);

        let fitted = fit(config.clone(), Some(1024));
        assert!(demand(&fitted) <= 1024 - 128, "{}", demand(&fitted));
        assert!(fitted.http.max_connections < config.http.max_connections);
        assert!(fitted.http.max_connections_per_client <= fitted.http.max_connections);
        assert!(fitted.max_sessions >= 1 && fitted.admission.max_unauthenticated >= 1);
        assert!(
            fitted.admission.max_unauthenticated_per_client <= fitted.admission.max_unauthenticated
        );
        assert_eq!(fit(config.clone(), None).max_sessions, config.max_sessions);
    }
}
