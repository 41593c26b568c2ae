//! One SMTP or LMTP conversation (RFC 5321, RFC 2033) over any byte stream. Commands are read
//! and parsed by `smtp-proto` (pipelined input is fine), the message text is received and
//! dot-unstuffed by its `DataReceiver`; this file decides the replies. SIZE is advertised and
//! enforced (at MAIL FROM when the client declares it, and while the text arrives), recipients
//! per message are capped, each recipient is routed at RCPT, and after the final dot every
//! accepted recipient gets its attachments delivered, and their origin recorded for the error
//! replies (`replies`), before the reply: one reply in SMTP, one per accepted recipient in
//! LMTP. STARTTLS (RFC 3207) is offered on TCP: the conversation ends with [`End::StartTls`],
//! the listener wraps the stream, and the conversation starts over from EHLO on it; whatever
//! the client sent after STARTTLS in the clear is dropped.

use std::net::SocketAddr;

use smtp_proto::request::receiver::{DataReceiver, RequestReceiver};
use smtp_proto::{Error as ProtoError, Request};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

use super::attachments::{self, Mail, MimeError};
use super::authres;
use super::dedupe::{self, Claimed, MessageKey};
use super::delivery::{self, Route, RouteError};
use crate::exchange::Core;
use crate::metrics::MailResult;
use crate::partner::FileError;
use crate::replies::Origin;

/// The dialect spoken on a listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SMTP: EHLO/HELO, one reply after the message.
    Smtp,
    /// LMTP: LHLO, one reply per accepted recipient after the message.
    Lmtp,
}

/// How a conversation ended.
#[derive(Debug, PartialEq, Eq)]
pub enum End {
    /// The client quit or went away, or the server closed it.
    Closed,
    /// The client asked for TLS and was told to go ahead: the stream is to be wrapped.
    StartTls,
}

/// A reply: code, enhanced status code and text.
struct Reply(u16, &'static str, String);

impl Reply {
    fn new(code: u16, status: &'static str, text: impl Into<String>) -> Self {
        Self(code, status, text.into())
    }

    fn line(&self) -> String {
        format!("{} {} {}\r\n", self.0, self.1, self.2)
    }
}

/// Where the conversation is.
enum Phase {
    /// Reading commands.
    Commands,
    /// Receiving the message text; `over` once it passed the size limit (the rest is discarded).
    Data { receiver: DataReceiver, over: bool },
}

/// One conversation's state.
pub struct Conversation {
    core: Core,
    dialect: Dialect,
    peer: Option<SocketAddr>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    secure: bool,
    hostname: String,
    greeted: bool,
    sender: Option<String>,
    routes: Vec<Route>,
    text: Vec<u8>,
}

impl Conversation {
    /// A conversation with the client at `peer` (none over a unix socket), offering STARTTLS
    /// when `tls` is given.
    pub fn new(
        core: Core,
        dialect: Dialect,
        peer: Option<SocketAddr>,
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) -> Self {
        let hostname = core
            .config()
            .mail
            .domains
            .first()
            .cloned()
            .unwrap_or_else(|| "freightdrop".to_owned());
        Self {
            core,
            dialect,
            peer,
            tls,
            secure: false,
            hostname,
            greeted: false,
            sender: None,
            routes: Vec::new(),
            text: Vec::new(),
        }
    }

    /// The acceptor that wraps the stream after STARTTLS, if TLS is offered.
    pub fn tls(&self) -> Option<&tokio_rustls::TlsAcceptor> {
        self.tls.as_ref()
    }

    /// The stream is now TLS: the client starts over with EHLO (RFC 3207), and STARTTLS is no
    /// longer offered.
    pub fn secured(&mut self) {
        self.reset();
        self.greeted = false;
        self.secure = true;
    }

    /// Runs the conversation on `stream` until the client quits, goes idle past the idle
    /// timeout, the server shuts down between messages, or the client starts TLS. Greets the
    /// client first unless the stream was just secured.
    ///
    /// # Errors
    /// The stream's error.
    pub async fn run<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        stream: &mut S,
    ) -> std::io::Result<End> {
        let idle = self.core.config().idle_timeout;
        let kind = match self.dialect {
            Dialect::Smtp => "ESMTP",
            Dialect::Lmtp => "LMTP",
        };
        if !self.secure {
            let greeting = format!("220 {} freightdrop {kind} ready\r\n", self.hostname);
            stream.write_all(greeting.as_bytes()).await?;
        }
        let mut requests = RequestReceiver::default();
        let mut phase = Phase::Commands;
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            let shutdown = self.core.shutdown().clone();
            let read = tokio::select! {
                read = tokio::time::timeout(idle, stream.read(&mut chunk)) => read,
                () = shutdown.cancelled(), if matches!(phase, Phase::Commands) => {
                    let line = format!("421 4.3.2 {} shutting down\r\n", self.hostname);
                    stream.write_all(line.as_bytes()).await?;
                    return Ok(End::Closed);
                }
            };
            let n = match read {
                Ok(read) => read?,
                Err(_) => {
                    let line = format!("421 4.4.2 {} idle too long\r\n", self.hostname);
                    stream.write_all(line.as_bytes()).await?;
                    return Ok(End::Closed);
                }
            };
            if n == 0 {
                return Ok(End::Closed);
            }
            let mut bytes = chunk[..n].iter();
            let mut out = String::new();
            loop {
                match &mut phase {
                    Phase::Commands => {
                        let request = match requests.ingest(&mut bytes) {
                            Ok(request) => Ok(owned(request)),
                            Err(ProtoError::NeedsMoreData { .. }) => break,
                            Err(e) => Err(e),
                        };
                        let step = match request {
                            Ok(request) => self.command(request).await,
                            Err(e) => Step::Reply(protocol_error(&e)),
                        };
                        match step {
                            Step::Reply(reply) => out.push_str(&reply.line()),
                            Step::Raw(text) => out.push_str(&text),
                            Step::Data => {
                                out.push_str("354 end the message with <CRLF>.<CRLF>\r\n");
                                self.text.clear();
                                phase = Phase::Data {
                                    receiver: DataReceiver::new(),
                                    over: false,
                                };
                            }
                            Step::StartTls => {
                                out.push_str("220 2.0.0 ready to start TLS\r\n");
                                stream.write_all(out.as_bytes()).await?;
                                return Ok(End::StartTls);
                            }
                            Step::Quit => {
                                out.push_str(&format!("221 2.0.0 {} closing\r\n", self.hostname));
                                stream.write_all(out.as_bytes()).await?;
                                return Ok(End::Closed);
                            }
                        }
                    }
                    Phase::Data { receiver, over } => {
                        let mut discard = Vec::new();
                        let sink = if *over { &mut discard } else { &mut self.text };
                        let done = receiver.ingest(&mut bytes, sink);
                        let limit = self.core.config().mail.max_size;
                        if !*over && self.text.len() as u64 > limit {
                            *over = true;
                            self.text = Vec::new();
                        }
                        if !done {
                            break;
                        }
                        let too_big = *over;
                        phase = Phase::Commands;
                        // Replies so far go out first: the delivery may take a while.
                        stream.write_all(out.as_bytes()).await?;
                        out.clear();
                        if too_big {
                            let reply = Reply::new(
                                552,
                                "5.3.4",
                                format!("message larger than the limit of {limit} bytes"),
                            );
                            // LMTP answers each recipient, SMTP the message.
                            let recipients = self.routes.len();
                            self.core.metrics().mail(MailResult::Content, recipients);
                            out.push_str(&self.each(recipients, &reply));
                        } else {
                            out.push_str(&self.message().await);
                        }
                        self.reset();
                    }
                }
                if bytes.as_slice().is_empty() {
                    break;
                }
            }
            if !out.is_empty() {
                stream.write_all(out.as_bytes()).await?;
            }
        }
    }

    /// The answer to one command.
    async fn command(&mut self, request: Request<String>) -> Step {
        let settings = self.core.config().clone();
        let config = &settings.mail;
        match request {
            Request::Ehlo { .. } | Request::Helo { .. } if self.dialect == Dialect::Lmtp => {
                Step::Reply(Reply::new(500, "5.5.1", "this is LMTP; say LHLO"))
            }
            Request::Lhlo { .. } if self.dialect == Dialect::Smtp => {
                Step::Reply(Reply::new(500, "5.5.1", "this is SMTP; say EHLO"))
            }
            Request::Helo { .. } => {
                self.reset();
                self.greeted = true;
                Step::Reply(Reply::new(250, "2.0.0", self.hostname.clone()))
            }
            Request::Ehlo { .. } | Request::Lhlo { .. } => {
                self.reset();
                self.greeted = true;
                let starttls = if self.tls.is_some() && !self.secure {
                    "250-STARTTLS\r\n"
                } else {
                    ""
                };
                Step::Raw(format!(
                    "250-{}\r\n250-PIPELINING\r\n250-SIZE {}\r\n250-8BITMIME\r\n{starttls}250 ENHANCEDSTATUSCODES\r\n",
                    self.hostname, config.max_size
                ))
            }
            Request::StartTls if self.tls.is_none() || self.secure => {
                Step::Reply(Reply::new(502, "5.5.1", "STARTTLS not offered here"))
            }
            Request::StartTls => Step::StartTls,
            Request::Mail { .. } if !self.greeted => {
                Step::Reply(Reply::new(503, "5.5.1", "say hello first"))
            }
            Request::Mail { .. } if self.sender.is_some() => {
                Step::Reply(Reply::new(503, "5.5.1", "a message is already started"))
            }
            Request::Mail { from } => {
                if from.size as u64 > config.max_size {
                    self.core.metrics().mail(MailResult::Content, 1);
                    return Step::Reply(Reply::new(
                        552,
                        "5.3.4",
                        format!("message larger than the limit of {} bytes", config.max_size),
                    ));
                }
                self.sender = Some(from.address);
                Step::Reply(Reply::new(250, "2.1.0", "sender ok"))
            }
            Request::Rcpt { .. } if self.sender.is_none() => {
                Step::Reply(Reply::new(503, "5.5.1", "MAIL FROM first"))
            }
            Request::Rcpt { .. } if self.routes.len() >= config.max_recipients => {
                Step::Reply(Reply::new(452, "4.5.3", "too many recipients"))
            }
            Request::Rcpt { to } => {
                let sender = self.sender.as_deref().unwrap_or("");
                match delivery::route(self.core.users(), config, sender, &to.address).await {
                    Ok(route) => {
                        self.routes.push(route);
                        Step::Reply(Reply::new(250, "2.1.5", "recipient ok"))
                    }
                    Err(e) => {
                        tracing::warn!(peer = ?self.peer, sender = %sender, recipient = %to.address, reason = %e, "mail recipient refused");
                        self.core.metrics().mail(
                            match e {
                                RouteError::NoSenders | RouteError::Sender => MailResult::Sender,
                                RouteError::Unavailable => MailResult::Deferred,
                                _ => MailResult::Recipient,
                            },
                            1,
                        );
                        let (code, status) = e.code();
                        Step::Reply(Reply::new(code, status, e.to_string()))
                    }
                }
            }
            Request::Data if self.routes.is_empty() => {
                Step::Reply(Reply::new(554, "5.5.1", "no valid recipients"))
            }
            Request::Data => Step::Data,
            Request::Rset => {
                self.reset();
                Step::Reply(Reply::new(250, "2.0.0", "reset"))
            }
            Request::Noop { .. } => Step::Reply(Reply::new(250, "2.0.0", "ok")),
            Request::Quit => Step::Quit,
            Request::Vrfy { .. } => {
                Step::Reply(Reply::new(252, "2.5.0", "cannot verify; send the message"))
            }
            _ => Step::Reply(Reply::new(502, "5.5.1", "command not implemented")),
        }
    }

    /// Delivers the received message to every accepted recipient; returns the reply lines.
    async fn message(&mut self) -> String {
        let text = std::mem::take(&mut self.text);
        let max = self.core.config().mail.max_attachments;
        let read = tokio::task::spawn_blocking(move || attachments::read(&text, max)).await;
        let replies = self.routes.len();
        let mail = match read {
            Ok(Ok(mail)) => mail,
            Ok(Err(e)) => {
                tracing::warn!(peer = ?self.peer, reason = %e, "mail refused");
                self.core.metrics().mail(MailResult::Content, replies);
                return self.each(replies, &mime_reply(&e));
            }
            Err(e) => {
                tracing::error!(error = %e, "reading a mail failed");
                self.core.metrics().mail(MailResult::Deferred, replies);
                return self.each(
                    replies,
                    &Reply::new(451, "4.3.0", "local error; try again later"),
                );
            }
        };
        if let Some(id) = &self.core.config().mail.trusted_authserv_id {
            if !authres::passes(&mail.authentication_results, id) {
                tracing::warn!(
                    peer = ?self.peer,
                    sender = self.sender.as_deref().unwrap_or(""),
                    authserv_id = %id,
                    message_id = mail.message_id.as_deref().unwrap_or(""),
                    "mail refused: no dkim=pass or spf=pass from the trusted Authentication-Results"
                );
                self.core
                    .metrics()
                    .mail(MailResult::Unauthenticated, replies);
                let reply = Reply::new(
                    550,
                    "5.7.1",
                    "sender not authenticated: no DKIM or SPF pass from this site's MTA",
                );
                return self.each(replies, &reply);
            }
        }
        let mut lines = Vec::with_capacity(replies);
        for route in &self.routes {
            let (result, reply) = self.deliver(route, &mail).await;
            self.core.metrics().mail(result, 1);
            lines.push(reply);
        }
        match self.dialect {
            Dialect::Lmtp => lines.iter().map(Reply::line).collect(),
            // One reply for all: the worst of them (a temporary failure first, so the message
            // is tried again).
            Dialect::Smtp => lines
                .iter()
                .max_by_key(|r| match r.0 {
                    400..=499 => 2,
                    500..=599 => 1,
                    _ => 0,
                })
                .map(Reply::line)
                .unwrap_or_default(),
        }
    }

    /// Delivers `mail` to `route`'s account, once: a message the account received before is
    /// answered 250 and not stored again; a new one is recorded once its attachments are
    /// durable, before the 250.
    async fn deliver(&self, route: &Route, mail: &Mail) -> (MailResult, Reply) {
        let sender = self.sender.as_deref().unwrap_or("");
        let key = MessageKey::of(mail, sender);
        let db = self.core.users().db();
        let claim = match dedupe::claim(db, &route.user.name, key).await {
            Ok(Claimed::New(claim)) => claim,
            Ok(Claimed::Duplicate {
                names,
                delivered_at,
            }) => {
                tracing::info!(
                    peer = ?self.peer,
                    user = %route.user.name,
                    recipient = %route.address,
                    sender = %sender,
                    message_id = mail.message_id.as_deref().unwrap_or(""),
                    files = %names.join(","),
                    delivered_at,
                    "mail duplicate: delivered before, nothing stored"
                );
                return (
                    MailResult::Duplicate,
                    Reply::new(250, "2.0.0", "already received; not stored again"),
                );
            }
            Err(e) => {
                tracing::error!(peer = ?self.peer, user = %route.user.name, error = %e, "mail delivery failed: the delivery record could not be read or written");
                return (
                    MailResult::Deferred,
                    Reply::new(451, "4.3.0", "local error; try again later"),
                );
            }
        };
        let delivered =
            delivery::deliver(self.core.partners(), route, self.peer, &mail.attachments).await;
        let delivered = match delivered {
            // Where the files came from is durable before the 250, for the error replies.
            Ok(files) => self
                .core
                .replies()
                .record(
                    &route.user.name,
                    &origin(self.sender.as_deref(), mail),
                    &files,
                )
                .await
                .map(|()| files.into_iter().map(|f| f.name).collect::<Vec<_>>())
                .map_err(|e| FileError::Io(std::io::Error::other(e))),
            Err(e) => Err(e),
        };
        match delivered {
            Ok(names) => {
                if let Err(e) = claim.delivered(db, &names).await {
                    tracing::error!(peer = ?self.peer, user = %route.user.name, files = %names.join(","), error = %e, "mail delivery failed: stored, but not recorded; the sender will send it again");
                    return (
                        MailResult::Deferred,
                        Reply::new(451, "4.3.0", "local error; try again later"),
                    );
                }
                tracing::info!(
                    peer = ?self.peer,
                    user = %route.user.name,
                    recipient = %route.address,
                    sender = %sender,
                    tls = self.secure,
                    message_id = mail.message_id.as_deref().unwrap_or(""),
                    files = %names.join(","),
                    "mail delivered"
                );
                self.core.metrics().mail_attachments(names.len());
                (
                    MailResult::Delivered,
                    Reply::new(250, "2.0.0", format!("{} file(s) received", names.len())),
                )
            }
            Err(e) => {
                drop(claim);
                tracing::error!(peer = ?self.peer, user = %route.user.name, error = %e, detail = ?e, "mail delivery failed");
                match e {
                    FileError::TooLarge => (
                        MailResult::Content,
                        Reply::new(552, "5.3.4", "file too large for this account"),
                    ),
                    _ => (
                        MailResult::Deferred,
                        Reply::new(451, "4.3.0", "local error; try again later"),
                    ),
                }
            }
        }
    }

    /// `reply` once in SMTP, once per recipient in LMTP.
    fn each(&self, recipients: usize, reply: &Reply) -> String {
        match self.dialect {
            Dialect::Smtp => reply.line(),
            Dialect::Lmtp => reply.line().repeat(recipients),
        }
    }

    fn reset(&mut self) {
        self.sender = None;
        self.routes.clear();
        self.text = Vec::new();
    }
}

/// What the conversation does after a command.
enum Step {
    Reply(Reply),
    /// A multi-line reply, already formatted.
    Raw(String),
    /// Start receiving the message text.
    Data,
    /// Go ahead with TLS.
    StartTls,
    Quit,
}

fn owned(request: Request<std::borrow::Cow<'_, str>>) -> Request<String> {
    match request {
        Request::Ehlo { host } => Request::Ehlo {
            host: host.into_owned(),
        },
        Request::Lhlo { host } => Request::Lhlo {
            host: host.into_owned(),
        },
        Request::Helo { host } => Request::Helo {
            host: host.into_owned(),
        },
        Request::Mail { from } => Request::Mail {
            from: from.into_owned(),
        },
        Request::Rcpt { to } => Request::Rcpt {
            to: to.into_owned(),
        },
        Request::Data => Request::Data,
        Request::Rset => Request::Rset,
        Request::Quit => Request::Quit,
        Request::StartTls => Request::StartTls,
        Request::Noop { .. } => Request::Noop {
            value: String::new(),
        },
        Request::Vrfy { .. } => Request::Vrfy {
            value: String::new(),
        },
        // Everything else is answered "not implemented"; its arguments are not needed.
        _ => Request::Expn {
            value: String::new(),
        },
    }
}

/// What the replies need to know of a message: its envelope sender and its headers.
fn origin(sender: Option<&str>, mail: &Mail) -> Origin {
    Origin {
        sender: sender.unwrap_or("").to_owned(),
        message_id: mail.message_id.clone(),
        subject: mail.subject.clone(),
        references: mail.references.clone(),
        auto_submitted: mail.auto_submitted.clone(),
        precedence: mail.precedence.clone(),
        list_header: mail.list_header,
    }
}

fn protocol_error(e: &ProtoError) -> Reply {
    match e {
        ProtoError::UnknownCommand => Reply::new(500, "5.5.1", "command unrecognized"),
        ProtoError::InvalidSenderAddress => Reply::new(501, "5.1.7", "bad sender address"),
        ProtoError::InvalidRecipientAddress => Reply::new(501, "5.1.3", "bad recipient address"),
        ProtoError::SyntaxError { syntax } => Reply::new(501, "5.5.2", format!("syntax: {syntax}")),
        ProtoError::InvalidParameter { param } => {
            Reply::new(501, "5.5.4", format!("invalid parameter {param}"))
        }
        ProtoError::UnsupportedParameter { .. } => {
            Reply::new(504, "5.5.4", "unsupported parameter")
        }
        ProtoError::ResponseTooLong => Reply::new(500, "5.5.6", "line too long"),
        _ => Reply::new(500, "5.5.2", "syntax error"),
    }
}

fn mime_reply(e: &MimeError) -> Reply {
    match e {
        MimeError::NoAttachment | MimeError::Malformed => Reply::new(554, "5.6.0", e.to_string()),
        MimeError::TooMany { .. } => Reply::new(552, "5.3.4", e.to_string()),
    }
}
