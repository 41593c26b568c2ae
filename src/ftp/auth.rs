//! FTP logins: libunftp's authenticator and user-detail hooks, answered by the shared gate.
//! A login over a plain control channel counts as protocol `ftp`, one after AUTH TLS as `ftps`,
//! so a TLS-required user is refused before it can send a byte of data in clear, and once logged
//! in (over TLS) must keep the data channel protected (see [`Login::data_protection_required`]).
//! A good login frees the connection's pre-login place and starts its session in the gate; the
//! session travels with the [`FtpUser`] libunftp keeps for the connection's life.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use unftp_core::auth::{
    AuthenticationError, Authenticator, ChannelEncryptionState, Credentials, Principal, UserDetail,
    UserDetailError, UserDetailProvider,
};

use tokio_util::sync::CancellationToken;

use crate::gate::{Admission, Gate, Session};
use crate::users::{InboxFtpPlain, Password, Protocol, User};

/// The logged-in partner as libunftp carries it through a session.
#[derive(Debug, Clone)]
pub struct FtpUser {
    /// Login name.
    pub name: String,
    /// Largest upload allowed, in bytes.
    pub max_upload_bytes: Option<u64>,
    /// The account's plain-FTP inbox policy; `None` follows the server's default.
    pub inbox_ftp_plain: Option<InboxFtpPlain>,
    /// `ftps` when the login came over a TLS control channel, else `ftp`.
    pub protocol: Protocol,
    /// The session in the gate: its place under the limits, its gauge and its end signal,
    /// held as long as libunftp holds the user.
    pub _session: Arc<Session>,
}

impl fmt::Display for FtpUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl UserDetail for FtpUser {}

/// One connection's login, shared by its authenticator, its user provider (libunftp makes both
/// per connection) and the connection's task: the admission (its pre-login place, freed by a
/// good login), the protocol of a good login, handed from the authenticator to the provider, and
/// the started session's end signal, for the task.
#[derive(Debug)]
pub struct Login {
    admission: Mutex<Option<Admission>>,
    deadline: tokio::time::Instant,
    protocol: Mutex<Option<Protocol>>,
    protected_data: AtomicBool,
    ended: Mutex<Option<CancellationToken>>,
    started: tokio::sync::Notify,
}

impl Login {
    /// A connection's login state, before any login, holding its `admission`.
    pub fn new(admission: Admission) -> Arc<Self> {
        Arc::new(Self {
            deadline: admission.deadline(),
            admission: Mutex::new(Some(admission)),
            protocol: Mutex::new(None),
            protected_data: AtomicBool::new(false),
            ended: Mutex::new(None),
            started: tokio::sync::Notify::new(),
        })
    }

    /// When the connection must have logged in.
    pub fn deadline(&self) -> tokio::time::Instant {
        self.deadline
    }

    /// Whether a login succeeded on this connection.
    pub fn is_logged_in(&self) -> bool {
        self.protocol
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }

    /// Whether the logged-in user must keep FTP data channels protected (`PROT P`): a
    /// TLS-required user, or one allowed FTPS but not plain FTP. libunftp (our patch) then
    /// refuses `PROT C` and every data connection or transfer command in clear.
    pub fn data_protection_required(&self) -> bool {
        self.protected_data.load(Ordering::Acquire)
    }

    /// A good login of `user` over `protocol`: notes it and frees the pre-login place.
    fn logged_in(&self, user: &User, protocol: Protocol) {
        let protected = user.require_tls || !user.protocols.allows(Protocol::Ftp);
        self.protected_data.store(protected, Ordering::Release);
        *self.protocol.lock().unwrap_or_else(|e| e.into_inner()) = Some(protocol);
        let admission = self
            .admission
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(admission) = admission {
            admission.logged_in();
        }
    }

    fn protocol(&self) -> Protocol {
        self.protocol
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .unwrap_or(Protocol::Ftp)
    }

    fn started(&self, session: &Session) {
        *self.ended.lock().unwrap_or_else(|e| e.into_inner()) = Some(session.ended());
        self.started.notify_one();
    }

    /// Resolves when the started session is ended by staff; never before a login.
    pub async fn ended(&self) {
        loop {
            let token = self.ended.lock().unwrap_or_else(|e| e.into_inner()).clone();
            match token {
                Some(token) => return token.cancelled().await,
                None => self.started.notified().await,
            }
        }
    }
}

/// Checks USER/PASS against the gate.
#[derive(Debug)]
pub struct FtpAuthenticator {
    gate: Gate,
    login: Arc<Login>,
}

impl FtpAuthenticator {
    /// An authenticator over `gate` that notes the protocol of a good login in `login`.
    pub fn new(gate: Gate, login: Arc<Login>) -> Self {
        Self { gate, login }
    }
}

#[async_trait]
impl Authenticator for FtpAuthenticator {
    async fn authenticate(
        &self,
        username: &str,
        creds: &Credentials,
    ) -> Result<Principal, AuthenticationError> {
        let protocol = match creds.command_channel_security {
            ChannelEncryptionState::Tls => Protocol::Ftps,
            ChannelEncryptionState::Plaintext => Protocol::Ftp,
        };
        let password = Password::new(creds.password.clone().unwrap_or_default());
        match self
            .gate
            .login_password(creds.source_ip, username, password, protocol)
            .await
        {
            Ok(user) => {
                self.login.logged_in(&user, protocol);
                Ok(Principal {
                    username: user.name,
                })
            }
            Err(_) => Err(AuthenticationError::BadPassword),
        }
    }
}

/// Turns an authenticated name into the session's [`FtpUser`].
#[derive(Debug)]
pub struct FtpUserProvider {
    gate: Gate,
    login: Arc<Login>,
}

impl FtpUserProvider {
    /// A provider reading from the gate's user store, with the protocol the authenticator
    /// noted; it starts the session in the gate.
    pub fn new(gate: Gate, login: Arc<Login>) -> Self {
        Self { gate, login }
    }
}

#[async_trait]
impl UserDetailProvider for FtpUserProvider {
    type User = FtpUser;

    async fn provide_user_detail(&self, principal: &Principal) -> Result<FtpUser, UserDetailError> {
        let users = self.gate.users();
        let user = match users.get(&principal.username).await {
            Ok(Some(user)) => user,
            Ok(None) => {
                return Err(UserDetailError::UserNotFound {
                    username: principal.username.clone(),
                })
            }
            Err(e) => return Err(UserDetailError::Generic(e.to_string())),
        };
        let protocol = self.login.protocol();
        let session = match self.gate.start_session(&user.name, protocol, None) {
            Ok(session) => session,
            Err(refusal) => {
                tracing::warn!(user = %user.name, reason = %refusal, "FTP session refused");
                return Err(UserDetailError::Generic(refusal.to_string()));
            }
        };
        self.login.started(&session);
        Ok(FtpUser {
            name: user.name,
            max_upload_bytes: user.max_upload_bytes,
            inbox_ftp_plain: user.inbox_ftp_plain,
            protocol,
            _session: Arc::new(session),
        })
    }
}
