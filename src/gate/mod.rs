//! The gate every partner passes: admission of a new connection (`admission`: blocked clients,
//! caps on connections not yet logged in, the login deadline), login by password or key against
//! the user store, the delay on a refusal, per-address blocking after repeated failures, the
//! pace of new SSH handshakes per client (`pace`), and the session limits. FTP and SFTP share one gate, so an address can't try five passwords on each,
//! and a user's sessions count together whatever the protocol.

mod admission;
mod failures;
mod network;
mod pace;
mod sessions;
mod turns;

use std::net::{IpAddr, SocketAddr};

use std::time::Duration;

pub use admission::{
    Admission, AdmissionPolicy, Admissions, AdmitRefusal, ConnectionCaps, ConnectionPlace,
    Connections,
};
pub use failures::{FailedLogins, Failures};
pub use pace::{HandshakeTurn, Pace};
pub use sessions::{Ending, Session, SessionLimits, SessionPermit};
pub use turns::{CheckTurns, Turn};

use crate::config::LoginPolicy;
use crate::metrics::{LoginResult, Metrics};
use crate::users::{AuthError, Denial, Password, Protocol, User, UserStore};

/// Why the gate did not let a client in. Frontends map each to their protocol's reply and never
/// send the detail.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// Too many recent failures from this address.
    #[error("address blocked after repeated failed logins")]
    Blocked,
    /// The store refused the credentials or the account.
    #[error("login refused: {}", .0.as_str())]
    Denied(Denial),
    /// The session limit, in all or for this user, is reached.
    #[error("too many sessions {}", if *.per_user { "for this user" } else { "on this server" })]
    TooManySessions {
        /// Whether it is the user's own limit.
        per_user: bool,
    },
    /// The store could not be asked.
    #[error("user store unavailable")]
    Unavailable,
}

/// Which door a login comes through, for the log and the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    /// A partner over FTP, FTPS or SFTP.
    Partner(Protocol),
    /// Staff signing in to the backoffice (`http` in the metrics).
    Staff,
}

impl Door {
    /// The name in the log and the metrics: the protocol, or `http` for staff.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Partner(protocol) => protocol.as_str(),
            Self::Staff => "http",
        }
    }
}

/// The shared login and session gate.
#[derive(Debug, Clone)]
pub struct Gate {
    users: UserStore,
    failures: FailedLogins,
    sessions: SessionLimits,
    refusal_delay: Duration,
    turns: CheckTurns,
    metrics: Metrics,
    admissions: Admissions,
    http: Connections,
    handshakes: Pace,
}

impl Gate {
    /// A gate over `users` with the configured policy and limits.
    pub fn new(users: UserStore, policy: LoginPolicy, max_sessions: u32, per_user: u32) -> Self {
        Self {
            users,
            failures: FailedLogins::new(policy),
            sessions: SessionLimits::new(max_sessions, per_user),
            refusal_delay: Duration::from_millis(500),
            turns: CheckTurns::default(),
            metrics: Metrics::default(),
            admissions: Admissions::new(AdmissionPolicy::default()),
            http: Connections::new(ConnectionCaps::from(crate::config::HttpLimits::default())),
            handshakes: Pace::new(AdmissionPolicy::default().ssh_handshakes_per_second),
        }
    }

    /// Counts logins into `metrics`.
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Sets how long a refused login waits before it is answered (tests shorten it).
    pub fn with_refusal_delay(mut self, delay: Duration) -> Self {
        self.refusal_delay = delay;
        self
    }

    /// The user store behind the gate.
    pub fn users(&self) -> &UserStore {
        &self.users
    }

    /// The session limits.
    pub fn sessions(&self) -> &SessionLimits {
        &self.sessions
    }

    /// Whether `peer` is blocked now.
    pub fn is_blocked(&self, peer: IpAddr) -> bool {
        self.failures.is_blocked(peer)
    }

    /// Checks a password login from `peer`.
    ///
    /// # Errors
    /// A [`Refusal`], answered only after the refusal delay.
    pub async fn login_password(
        &self,
        peer: IpAddr,
        name: &str,
        password: Password,
        protocol: Protocol,
    ) -> Result<User, Refusal> {
        let attempt = self.users.authenticate(name, password, protocol);
        self.check(peer, name, protocol, attempt).await
    }

    /// Checks a public-key login from `peer` (the signature was verified by the SSH layer).
    ///
    /// # Errors
    /// A [`Refusal`], answered only after the refusal delay.
    pub async fn login_key(
        &self,
        peer: IpAddr,
        name: &str,
        key_blob: &[u8],
    ) -> Result<User, Refusal> {
        let attempt = self.users.authenticate_key(name, key_blob);
        self.check(peer, name, Protocol::Sftp, attempt).await
    }

    /// Runs one login attempt for `peer` in its turn, unless the address is blocked.
    async fn check(
        &self,
        peer: IpAddr,
        name: &str,
        protocol: Protocol,
        attempt: impl std::future::Future<Output = Result<User, AuthError>>,
    ) -> Result<User, Refusal> {
        self.attempt(peer, name, Door::Partner(protocol), attempt)
            .await
    }

    /// The login sequence every door uses: `peer`'s attempts take turns; a blocked address is
    /// refused without checking anything; then `credentials` is checked, a refusal recorded
    /// against the address (blocking it after repeated failures) and answered only after the
    /// refusal delay; a success forgives the address. Counted in the metrics under `door`.
    ///
    /// # Errors
    /// [`Refusal::Blocked`], [`Refusal::Denied`] or [`Refusal::Unavailable`].
    pub async fn attempt<T>(
        &self,
        peer: IpAddr,
        name: &str,
        door: Door,
        credentials: impl std::future::Future<Output = Result<T, AuthError>>,
    ) -> Result<T, Refusal> {
        let _turn = self.turns.take(peer).await;
        // A password typed into the name field must not reach the log.
        let name = crate::users::check_name(name).map_or("(not a valid name)", |()| name);
        if self.failures.is_blocked(peer) {
            tracing::warn!(%peer, user = name, protocol = %door.as_str(), "login refused: address blocked");
            self.count(door, LoginResult::Blocked);
            tokio::time::sleep(self.refusal_delay).await;
            return Err(Refusal::Blocked);
        }
        let result = credentials.await;
        self.settle(peer, name, door, result).await
    }

    fn count(&self, door: Door, result: LoginResult) {
        match door {
            Door::Partner(protocol) => self.metrics.login(protocol, result),
            Door::Staff => self.metrics.staff_login(result),
        }
    }

    async fn settle<T>(
        &self,
        peer: IpAddr,
        name: &str,
        door: Door,
        result: Result<T, AuthError>,
    ) -> Result<T, Refusal> {
        let protocol = door.as_str();
        match result {
            Ok(user) => {
                self.failures.forgive(peer);
                self.count(door, LoginResult::Ok);
                tracing::info!(%peer, user = name, protocol = %protocol, "login");
                Ok(user)
            }
            Err(AuthError::Denied(denial)) => {
                let blocked = self.failures.record(peer);
                self.count(door, LoginResult::Failed);
                tracing::warn!(%peer, user = name, protocol = %protocol, reason = denial.as_str(), "login refused");
                if blocked {
                    tracing::warn!(%peer, "address blocked after repeated failed logins");
                }
                tokio::time::sleep(self.refusal_delay).await;
                Err(Refusal::Denied(denial))
            }
            Err(AuthError::Store(e)) => {
                tracing::error!(%peer, user = name, error = %e, "login failed: user store unavailable");
                Err(Refusal::Unavailable)
            }
        }
    }
}

impl Gate {
    /// Sets the caps on connections not yet logged in, and their login deadline.
    pub fn with_admission(mut self, policy: AdmissionPolicy) -> Self {
        self.admissions = Admissions::new(policy);
        self.handshakes = Pace::new(policy.ssh_handshakes_per_second);
        self
    }

    /// Waits until an admitted SSH connection from `peer` may start its handshake: at once,
    /// unless its client starts them faster than `--ssh-handshakes-per-second`. `false` when its
    /// turn would come only after `deadline` (its login deadline) or more than two seconds from
    /// now: the connection is dropped. `gone` resolves when the connection's client goes away
    /// while it waits: its turn is given back to its next connection.
    pub async fn handshake_turn(
        &self,
        peer: IpAddr,
        deadline: tokio::time::Instant,
        gone: impl std::future::Future<Output = ()>,
    ) -> HandshakeTurn {
        self.handshakes.wait(peer, deadline, gone).await
    }

    /// Admits a new connection from `peer`, before any protocol work: a blocked client is
    /// refused, and so is one over the caps on connections not yet logged in (per client and
    /// in all) or any connection while every session place is taken. The [`Admission`] holds
    /// the pre-login place and the login deadline.
    ///
    /// # Errors
    /// An [`AdmitRefusal`], to be answered at once.
    pub fn admit(&self, peer: SocketAddr) -> Result<Admission, AdmitRefusal> {
        if self.failures.is_blocked(peer.ip()) {
            return Err(AdmitRefusal::Blocked);
        }
        if self.sessions.is_full() {
            return Err(AdmitRefusal::TooMany);
        }
        self.admissions.take(peer.ip())
    }

    /// The counter of connections waiting to log in.
    pub fn admissions(&self) -> &Admissions {
        &self.admissions
    }

    /// Sets the caps on open HTTP connections.
    pub fn with_http_caps(mut self, caps: ConnectionCaps) -> Self {
        self.http = Connections::new(caps);
        self
    }

    /// Admits a new HTTP connection from `peer`, before hyper reads a byte of it: one over the
    /// caps on open HTTP connections, per client (unless `per_client` is false: a trusted
    /// reverse proxy) and in all, is refused. A blocked address is not refused here: its
    /// requests get their answer from the route (staff sign-in says it is blocked), and track &
    /// trace and `/healthz` don't take logins. The [`ConnectionPlace`] is held until the
    /// connection ends.
    ///
    /// # Errors
    /// [`AdmitRefusal::TooManyFromAddress`] or [`AdmitRefusal::TooMany`].
    pub fn admit_http(
        &self,
        peer: SocketAddr,
        per_client: bool,
    ) -> Result<ConnectionPlace, AdmitRefusal> {
        self.http.take(peer.ip(), per_client)
    }

    /// The counter of open HTTP connections.
    pub fn http_connections(&self) -> &Connections {
        &self.http
    }

    /// Starts a session of `user` over `protocol` once its login succeeded; `key` is the
    /// fingerprint (`SHA256:...`) of the SSH key it logged in with, if any. The session counts
    /// against the limits and in `/metrics` until it is dropped, and carries the signal that
    /// ends it ([`SessionLimits::end`]).
    ///
    /// # Errors
    /// [`Refusal::TooManySessions`].
    pub fn start_session(
        &self,
        user: &str,
        protocol: Protocol,
        key: Option<String>,
    ) -> Result<Session, Refusal> {
        let permit = self.sessions.acquire(user, protocol, key)?;
        Ok(Session::new(
            permit,
            protocol,
            self.metrics.session(protocol),
        ))
    }
}
