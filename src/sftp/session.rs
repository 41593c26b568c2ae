//! One SSH connection's handler (russh `server::Handler`): logins through the shared gate, the
//! session permit, and the channels. Only the `sftp` subsystem is served; shell, exec, pty, env,
//! X11, agent and port forwarding are refused with a reply, so no client waits for one.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use russh::keys::PublicKey;
use russh::server::{
    Auth, ChannelOpenHandle, Handler, Msg, PublicKeyOffer, Session, VerifiedPublicKey,
};
use russh::{Channel, ChannelId, ChannelOpenFailure, Disconnect, Pty};

use super::files::Files;
use super::policy::{login_methods, signature_allowed};
use super::request_loop;
use super::watchdog::Activity;
use crate::exchange::Core;
use crate::gate::{Admission, Refusal, Session as GateSession};
use crate::partner::{AccountRules, Partner};
use crate::users::{fingerprint_of_blob, Password, Protocol, User};

/// Session channels one connection may have open at once.
const MAX_CHANNELS: usize = 4;

/// The russh handler of one connection.
pub struct SshSession {
    peer: SocketAddr,
    core: Core,
    activity: Arc<Activity>,
    // The pre-login place, freed by a good login (or when the connection ends).
    admission: Option<Admission>,
    // Set once a login succeeded.
    user: Option<User>,
    // Held for the connection's life once logged in; `None` with `user` set means the session
    // limits refused it, and the connection is closed right after the login.
    session: Option<GateSession>,
    refusal: Option<Refusal>,
    channels: HashMap<ChannelId, Channel<Msg>>,
    sftp_channels: usize,
}

impl SshSession {
    /// The handler for a connection from `peer`, admitted by the gate with `admission`.
    pub fn new(
        peer: SocketAddr,
        core: Core,
        activity: Arc<Activity>,
        admission: Admission,
    ) -> Self {
        Self {
            peer,
            core,
            activity,
            admission: Some(admission),
            user: None,
            session: None,
            refusal: None,
            channels: HashMap::new(),
            sftp_channels: 0,
        }
    }

    /// Records a successful login (with the SSH key of fingerprint `key`, if any) and starts
    /// its session in the gate.
    fn logged_in(&mut self, user: User, key: Option<String>) -> Auth {
        if let Some(admission) = self.admission.take() {
            admission.logged_in();
        }
        match self
            .core
            .gate()
            .start_session(&user.name, Protocol::Sftp, key)
        {
            Ok(session) => {
                // Staff ending the session closes this connection.
                let ended = session.ended();
                let activity = Arc::clone(&self.activity);
                tokio::spawn(async move {
                    let closed = activity.kill_token();
                    tokio::select! {
                        () = ended.cancelled() => {
                            tracing::info!("SFTP session closed: staff changed the account");
                            activity.kill();
                        }
                        () = closed.cancelled() => {}
                    }
                });
                self.session = Some(session);
            }
            Err(refusal) => self.refusal = Some(refusal),
        }
        self.user = Some(user);
        Auth::Accept
    }

    /// Whether `key` is one of `name`'s keys (a probe: nothing is counted).
    async fn has_key(&self, name: &str, key: &PublicKey) -> bool {
        let Ok(blob) = key.to_bytes() else {
            return false;
        };
        let fingerprint = fingerprint_of_blob(&blob);
        match self.core.users().get(name).await {
            Ok(Some(user)) => user.keys.iter().any(|k| k.fingerprint == fingerprint),
            _ => false,
        }
    }
}

/// A refusal that keeps both methods open, so a client may try again (OpenSSH prompts three
/// times for a password; with russh's plain `reject` it would stop after one).
fn refuse() -> Auth {
    Auth::Reject {
        proceed_with_methods: Some(login_methods()),
        partial_success: false,
    }
}

impl Handler for SshSession {
    type Error = russh::Error;

    async fn auth_password(&mut self, user: &str, password: &str) -> Result<Auth, Self::Error> {
        let result = self
            .core
            .gate()
            .login_password(
                self.peer.ip(),
                user,
                Password::new(password),
                Protocol::Sftp,
            )
            .await;
        Ok(match result {
            Ok(user) => self.logged_in(user, None),
            Err(_) => refuse(),
        })
    }

    async fn auth_publickey_offered(
        &mut self,
        user: &str,
        offer: PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        if !signature_allowed(offer.algorithm) || self.core.gate().is_blocked(self.peer.ip()) {
            return Ok(refuse());
        }
        Ok(if self.has_key(user, offer.public_key).await {
            Auth::Accept
        } else {
            refuse()
        })
    }

    async fn auth_publickey(
        &mut self,
        user: &str,
        key: VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        if !signature_allowed(key.algorithm) {
            return Ok(refuse());
        }
        let Ok(blob) = key.public_key.to_bytes() else {
            return Ok(refuse());
        };
        Ok(
            match self
                .core
                .gate()
                .login_key(self.peer.ip(), user, &blob)
                .await
            {
                Ok(user) => self.logged_in(user, Some(fingerprint_of_blob(&blob))),
                Err(_) => refuse(),
            },
        )
    }

    async fn auth_succeeded(&mut self, session: &mut Session) -> Result<(), Self::Error> {
        if let Some(refusal) = &self.refusal {
            let name = self.user.as_ref().map_or("", |u| u.name.as_str());
            tracing::warn!(peer = %self.peer, user = name, reason = %refusal, "SFTP session refused");
            let text = match refusal {
                Refusal::TooManySessions { per_user: true } => "too many sessions for this user",
                Refusal::TooManySessions { per_user: false } => "too many sessions on this server",
                _ => "session refused",
            };
            session.disconnect(Disconnect::TooManyConnections, text, "en")?;
            return Ok(());
        }
        self.activity.logged_in();
        Ok(())
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        if self.session.is_none() || self.channels.len() + self.sftp_channels >= MAX_CHANNELS {
            reply
                .reject(ChannelOpenFailure::AdministrativelyProhibited)
                .await;
            return Ok(());
        }
        self.channels.insert(channel.id(), channel);
        reply.accept().await;
        Ok(())
    }

    async fn subsystem_request(
        &mut self,
        channel_id: ChannelId,
        name: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let channel = if name == "sftp" {
            self.channels.remove(&channel_id)
        } else {
            None
        };
        let (Some(channel), Some(user)) = (channel, self.user.as_ref()) else {
            return session.channel_failure(channel_id);
        };
        let partner = Partner {
            user: user.name.clone(),
            protocol: Protocol::Sftp,
            peer: Some(self.peer),
        };
        let files = match self
            .core
            .partners()
            .session(partner, AccountRules::of(user))
        {
            Ok(files) => Files::new(files, self.activity.clone()),
            Err(e) => {
                tracing::error!(user = %user.name, error = %e, "cannot open the user's home");
                return session.channel_failure(channel_id);
            }
        };
        session.channel_success(channel_id)?;
        self.sftp_channels += 1;
        self.activity.touch();
        tracing::debug!(user = %user.name, "SFTP subsystem started");
        self.core
            .tasks()
            .spawn(request_loop::serve(channel, files, self.activity.clone()));
        Ok(())
    }

    // The defaults of these answer nothing, so a client that asked for a reply would wait
    // forever: refuse each one explicitly. (Agent, X11 and port forwarding and the other channel
    // types are refused by russh's defaults.)
    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        tracing::info!(peer = %self.peer, "shell refused");
        session.channel_failure(channel)
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        _data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        tracing::info!(peer = %self.peer, "exec refused");
        session.channel_failure(channel)
    }

    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _term: &str,
        _col_width: u32,
        _row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        _modes: &[(Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)
    }

    async fn env_request(
        &mut self,
        channel: ChannelId,
        _variable_name: &str,
        _variable_value: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)
    }

    async fn x11_request(
        &mut self,
        channel: ChannelId,
        _single_connection: bool,
        _x11_auth_protocol: &str,
        _x11_auth_cookie: &str,
        _x11_screen_number: u32,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)
    }

    async fn channel_close(
        &mut self,
        channel: ChannelId,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.channels.remove(&channel);
        Ok(())
    }
}
