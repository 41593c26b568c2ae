//! FTP logins: libunftp's authenticator and user-detail hooks, answered by the shared gate.
//! A login over a plain control channel counts as protocol `ftp`, one after AUTH TLS as `ftps`,
//! so a TLS-required user is refused before it can send a byte of data in clear.

use std::fmt;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use unftp_core::auth::{
    AuthenticationError, Authenticator, ChannelEncryptionState, Credentials, Principal, UserDetail,
    UserDetailError, UserDetailProvider,
};

use crate::gate::Gate;
use crate::users::{Password, Protocol};

/// The logged-in partner as libunftp carries it through a session.
#[derive(Debug, Clone)]
pub struct FtpUser {
    /// Login name.
    pub name: String,
    /// Largest upload allowed, in bytes.
    pub max_upload_bytes: Option<u64>,
    /// `ftps` when the login came over a TLS control channel, else `ftp`.
    pub protocol: Protocol,
}

impl fmt::Display for FtpUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl UserDetail for FtpUser {}

/// The protocol of one connection's successful login, handed from the authenticator to the
/// user provider (both are made per connection).
pub type LoginProtocol = Arc<Mutex<Option<Protocol>>>;

/// Checks USER/PASS against the gate.
#[derive(Debug)]
pub struct FtpAuthenticator {
    gate: Gate,
    login: LoginProtocol,
}

impl FtpAuthenticator {
    /// An authenticator over `gate` that notes the protocol of a good login in `login`.
    pub fn new(gate: Gate, login: LoginProtocol) -> Self {
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
                *self.login.lock().unwrap_or_else(|e| e.into_inner()) = Some(protocol);
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
    login: LoginProtocol,
}

impl FtpUserProvider {
    /// A provider reading from the gate's user store, with the protocol the authenticator
    /// noted.
    pub fn new(gate: Gate, login: LoginProtocol) -> Self {
        Self { gate, login }
    }
}

#[async_trait]
impl UserDetailProvider for FtpUserProvider {
    type User = FtpUser;

    async fn provide_user_detail(&self, principal: &Principal) -> Result<FtpUser, UserDetailError> {
        let users = self.gate.users();
        match users.get(&principal.username).await {
            Ok(Some(user)) => Ok(FtpUser {
                name: user.name,
                max_upload_bytes: user.max_upload_bytes,
                protocol: self
                    .login
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .unwrap_or(Protocol::Ftp),
            }),
            Ok(None) => Err(UserDetailError::UserNotFound {
                username: principal.username.clone(),
            }),
            Err(e) => Err(UserDetailError::Generic(e.to_string())),
        }
    }
}
