//! FTP logins: libunftp's authenticator and user-detail hooks, answered by the shared gate.
//! A login over a plain control channel counts as protocol `ftp`, one after AUTH TLS as `ftps`,
//! so a TLS-required user is refused before it can send a byte of data in clear.

use std::fmt;
use std::path::PathBuf;

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
    /// The user's home folder (opened as a jail by the storage back-end).
    pub home: PathBuf,
}

impl fmt::Display for FtpUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl UserDetail for FtpUser {}

/// Checks USER/PASS against the gate.
#[derive(Debug)]
pub struct FtpAuthenticator {
    gate: Gate,
}

impl FtpAuthenticator {
    /// An authenticator over `gate`.
    pub fn new(gate: Gate) -> Self {
        Self { gate }
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
            Ok(user) => Ok(Principal {
                username: user.name,
            }),
            Err(_) => Err(AuthenticationError::BadPassword),
        }
    }
}

/// Turns an authenticated name into the session's [`FtpUser`].
#[derive(Debug)]
pub struct FtpUserProvider {
    gate: Gate,
}

impl FtpUserProvider {
    /// A provider reading from the gate's user store.
    pub fn new(gate: Gate) -> Self {
        Self { gate }
    }
}

#[async_trait]
impl UserDetailProvider for FtpUserProvider {
    type User = FtpUser;

    async fn provide_user_detail(&self, principal: &Principal) -> Result<FtpUser, UserDetailError> {
        let users = self.gate.users();
        match users.get(&principal.username).await {
            Ok(Some(user)) => Ok(FtpUser {
                home: users.tree().path_of(&user.name),
                name: user.name,
                max_upload_bytes: user.max_upload_bytes,
            }),
            Ok(None) => Err(UserDetailError::UserNotFound {
                username: principal.username.clone(),
            }),
            Err(e) => Err(UserDetailError::Generic(e.to_string())),
        }
    }
}
