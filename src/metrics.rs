//! The server's counters for `/metrics`: sessions by protocol, logins by result, bytes in and
//! out, inbox files by result, the inbox processing latency and the inbox queue depth, track &
//! trace requests by result and outgoing-file events. The frontends, the gate, the inbox, the
//! outbox and the track & trace API count into one shared [`Metrics`]; the backoffice renders
//! it in the Prometheus text format. Counters are per process (each node is scraped on its own).
//!
//! The metrics are `prometheus-client` families registered once in [`Metrics::new`]; their
//! labels are the enums below, each of whose values is named once, in [`label_values!`]. A new
//! metric is one field, one registration and one counting method.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::{prometheus_text, EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::users::Protocol;

/// The `Content-Type` of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// Upper bounds of the processing latency buckets, in seconds.
const LATENCY_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Declares a label's enum with the text of each value, the list of all values (every
/// combination is rendered from the start, at 0) and its encoding as a label value.
macro_rules! label_values {
    ($(#[$meta:meta])* $vis:vis enum $name:ident {
        $($(#[$variant_meta:meta])* $variant:ident => $text:literal,)*
    }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name {
            $($(#[$variant_meta])* $variant,)*
        }

        impl $name {
            /// Every value, in the order they are declared.
            const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The value as the label shows it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }
        }

        impl EncodeLabelValue for $name {
            fn encode(
                &self,
                encoder: &mut prometheus_client::encoding::LabelValueEncoder<'_>,
            ) -> Result<(), std::fmt::Error> {
                std::fmt::Write::write_str(encoder, self.as_str())
            }
        }
    };
}

label_values! {
    /// How a login attempt ended.
    pub enum LoginResult {
        /// Let in.
        Ok => "ok",
        /// Refused: unknown user, wrong password or key, account or protocol not allowed.
        Failed => "failed",
        /// Refused without a check: the address is blocked.
        Blocked => "blocked",
    }
}

label_values! {
    /// How an inbox file ended.
    pub enum FileResult {
        /// Committed and moved to `done/`.
        Accepted => "accepted",
        /// Moved to `error/` with its report.
        Rejected => "rejected",
    }
}

label_values! {
    /// How a track & trace request ended.
    pub enum TrackResult {
        /// Answered with the shipment.
        Answered => "answered",
        /// Refused (401): bad signature, stale time, unknown shipment or postcode.
        Refused => "refused",
        /// Refused without a check (429): the address is blocked.
        Blocked => "blocked",
        /// A parameter is missing or malformed (400).
        BadRequest => "bad_request",
        /// The database failed (503).
        Unavailable => "unavailable",
    }
}

label_values! {
    /// How an FTPS data connection's TLS handshake went.
    pub enum DataHandshake {
        /// A new TLS session: the full handshake.
        Full => "full",
        /// An earlier session resumed (the control connection's, or a data connection's).
        Resumed => "resumed",
    }
}

label_values! {
    /// What happened to a published outgoing file.
    pub enum OutboxEvent {
        /// Staff published it into a partner's `out/`.
        Published => "published",
        /// The partner downloaded it whole.
        Downloaded => "downloaded",
        /// The partner moved it to `done/`.
        Done => "done",
        /// The partner moved it to `error/` (staff should look).
        Error => "error",
        /// The partner moved it somewhere else in its home.
        Elsewhere => "elsewhere",
        /// The partner deleted it.
        Deleted => "deleted",
        /// An upload or rename replaced it.
        Replaced => "replaced",
    }
}

label_values! {
    /// What the mail channel answered a recipient of a message (LMTP: each recipient; SMTP: each
    /// accepted recipient once the message is read, or the message once when refused whole).
    pub enum MailResult {
        /// Its attachments are in the account's inbox (250).
        Delivered => "delivered",
        /// Delivered before (same Message-ID and attachments): 250, nothing stored.
        Duplicate => "duplicate",
        /// Refused at RCPT: address, account, customer or format.
        Recipient => "refused_recipient",
        /// Refused at RCPT: the envelope sender is not on the account's list.
        Sender => "refused_sender",
        /// Refused after DATA: no DKIM or SPF pass from the site's MTA.
        Unauthenticated => "refused_unauthenticated",
        /// Refused after DATA: not MIME, no attachment, too many, too large.
        Content => "refused_content",
        /// Answered 4xx (disk, database): the sender tries again.
        Deferred => "deferred",
    }
}

label_values! {
    /// What became of an error reply of the mail channel.
    pub enum ReplyResult {
        /// Queued to be sent.
        Queued => "queued",
        /// Not queued: the message asked for none (RFC 3834: null or daemon sender,
        /// Auto-Submitted, Precedence, List-* headers).
        Suppressed => "suppressed",
        /// Not sent: over the sender's hourly cap.
        Capped => "capped",
        /// Taken by the relay.
        Sent => "sent",
        /// Not taken by the relay this time; tried again later.
        Deferred => "deferred",
        /// Given up: the relay refused it for good, or it waited too long.
        Failed => "failed",
    }
}

label_values! {
    /// Which listener a session or login came through: the partner protocols, plus the
    /// backoffice for staff logins.
    enum Channel {
        Ftp => "ftp",
        Ftps => "ftps",
        Sftp => "sftp",
        Mail => "mail",
        Http => "http",
    }
}

impl OutboxEvent {
    /// The event of a file leaving `out/` as the outbox records it (`done`, `error`,
    /// `elsewhere`, `deleted`, `replaced`).
    pub fn closed(how: &str) -> Option<OutboxEvent> {
        Some(match how {
            "done" => OutboxEvent::Done,
            "error" => OutboxEvent::Error,
            "elsewhere" => OutboxEvent::Elsewhere,
            "deleted" => OutboxEvent::Deleted,
            "replaced" => OutboxEvent::Replaced,
            _ => return None,
        })
    }
}

impl From<Protocol> for Channel {
    fn from(protocol: Protocol) -> Channel {
        match protocol {
            Protocol::Ftp => Channel::Ftp,
            Protocol::Ftps => Channel::Ftps,
            Protocol::Sftp => Channel::Sftp,
            Protocol::Mail => Channel::Mail,
        }
    }
}

/// The partner protocols' channels (sessions and bytes have no `http`).
const PROTOCOLS: [Channel; 3] = [Channel::Ftp, Channel::Ftps, Channel::Sftp];

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ByProtocol {
    protocol: Channel,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ByLogin {
    protocol: Channel,
    result: LoginResult,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ByFile {
    result: FileResult,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ByTrack {
    result: TrackResult,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ByEvent {
    event: OutboxEvent,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ByHandshake {
    handshake: DataHandshake,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ByReply {
    result: ReplyResult,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ByMail {
    result: MailResult,
}

#[derive(Debug)]
struct Inner {
    registry: Registry,
    sessions: Family<ByProtocol, Gauge>,
    logins: Family<ByLogin, Counter>,
    bytes_in: Family<ByProtocol, Counter>,
    bytes_out: Family<ByProtocol, Counter>,
    files: Family<ByFile, Counter>,
    latency: Histogram,
    queue_depth: Gauge,
    tracking: Family<ByTrack, Counter>,
    outbox: Family<ByEvent, Counter>,
    data_handshakes: Family<ByHandshake, Counter>,
    replies: Family<ByReply, Counter>,
    mail: Family<ByMail, Counter>,
    mail_attachments: Counter,
}

/// The shared counters; cheap to clone.
#[derive(Debug, Clone)]
pub struct Metrics(Arc<Inner>);

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

/// An open session, counted until dropped.
#[derive(Debug)]
pub struct SessionGauge {
    metrics: Metrics,
    protocol: Protocol,
}

impl Drop for SessionGauge {
    fn drop(&mut self) {
        self.metrics.sessions(self.protocol).dec();
    }
}

impl Metrics {
    /// Registers every metric, with every combination of its labels at 0.
    pub fn new() -> Metrics {
        let mut inner = Inner {
            registry: Registry::default(),
            sessions: Family::default(),
            logins: Family::default(),
            bytes_in: Family::default(),
            bytes_out: Family::default(),
            files: Family::default(),
            latency: Histogram::new(LATENCY_BUCKETS),
            queue_depth: Gauge::default(),
            tracking: Family::default(),
            outbox: Family::default(),
            data_handshakes: Family::default(),
            replies: Family::default(),
            mail: Family::default(),
            mail_attachments: Counter::default(),
        };
        for protocol in PROTOCOLS {
            let labels = ByProtocol { protocol };
            drop(inner.sessions.get_or_create(&labels));
            drop(inner.bytes_in.get_or_create(&labels));
            drop(inner.bytes_out.get_or_create(&labels));
        }
        for &protocol in Channel::ALL {
            for &result in LoginResult::ALL {
                drop(inner.logins.get_or_create(&ByLogin { protocol, result }));
            }
        }
        for &result in FileResult::ALL {
            drop(inner.files.get_or_create(&ByFile { result }));
        }
        for &result in TrackResult::ALL {
            drop(inner.tracking.get_or_create(&ByTrack { result }));
        }
        for &event in OutboxEvent::ALL {
            drop(inner.outbox.get_or_create(&ByEvent { event }));
        }
        for &handshake in DataHandshake::ALL {
            drop(
                inner
                    .data_handshakes
                    .get_or_create(&ByHandshake { handshake }),
            );
        }
        for &result in MailResult::ALL {
            drop(inner.mail.get_or_create(&ByMail { result }));
        }
        for &result in ReplyResult::ALL {
            drop(inner.replies.get_or_create(&ByReply { result }));
        }
        let registry = &mut inner.registry;
        registry.register(
            "freightdrop_sessions",
            "Partner sessions open now, by protocol",
            inner.sessions.clone(),
        );
        registry.register(
            "freightdrop_logins",
            "Login attempts, by protocol (http: staff) and result",
            inner.logins.clone(),
        );
        registry.register(
            "freightdrop_received_bytes",
            "Bytes uploaded by partners, by protocol",
            inner.bytes_in.clone(),
        );
        registry.register(
            "freightdrop_sent_bytes",
            "Bytes downloaded by partners, by protocol",
            inner.bytes_out.clone(),
        );
        registry.register(
            "freightdrop_inbox_files",
            "Inbox files processed by this node, by result",
            inner.files.clone(),
        );
        registry.register(
            "freightdrop_inbox_processing_seconds",
            "Time from a file ready in the inbox to its move into done/ or error/",
            inner.latency.clone(),
        );
        registry.register(
            "freightdrop_inbox_queue_depth",
            "Inbox files waiting, settling or being processed",
            inner.queue_depth.clone(),
        );
        registry.register(
            "freightdrop_tracking_requests",
            "Track & trace requests, by result",
            inner.tracking.clone(),
        );
        registry.register(
            "freightdrop_outbox_events",
            "Outgoing files published, downloaded and moved or removed by partners, by event",
            inner.outbox.clone(),
        );
        registry.register(
            "freightdrop_ftps_data_handshakes",
            "TLS handshakes of FTPS data connections, full or resuming a session",
            inner.data_handshakes.clone(),
        );
        registry.register(
            "freightdrop_mail_replies",
            "Error replies of the mail channel, by result (counted by the node that did it)",
            inner.replies.clone(),
        );
        registry.register(
            "freightdrop_mail_messages",
            "Mail recipients answered by the mail channel, by result",
            inner.mail.clone(),
        );
        registry.register(
            "freightdrop_mail_attachments",
            "Attachments the mail channel put into inboxes",
            inner.mail_attachments.clone(),
        );
        Metrics(Arc::new(inner))
    }

    /// Counts `recipients` answered with `result` by the mail channel.
    pub fn mail(&self, result: MailResult, recipients: usize) {
        self.0
            .mail
            .get_or_create(&ByMail { result })
            .inc_by(u64::try_from(recipients).unwrap_or(u64::MAX));
    }

    /// Counts attachments put into an inbox by the mail channel.
    pub fn mail_attachments(&self, files: usize) {
        self.0
            .mail_attachments
            .inc_by(u64::try_from(files).unwrap_or(u64::MAX));
    }

    /// Counts what became of an error reply.
    pub fn mail_reply(&self, result: ReplyResult) {
        self.0.replies.get_or_create(&ByReply { result }).inc();
    }

    fn sessions(&self, protocol: Protocol) -> Gauge {
        self.0.sessions.get_or_create_owned(&ByProtocol {
            protocol: protocol.into(),
        })
    }

    /// Counts a session of `protocol` as open until the returned gauge is dropped.
    pub fn session(&self, protocol: Protocol) -> SessionGauge {
        self.sessions(protocol).inc();
        SessionGauge {
            metrics: self.clone(),
            protocol,
        }
    }

    /// Counts a partner login attempt.
    pub fn login(&self, protocol: Protocol, result: LoginResult) {
        self.count_login(protocol.into(), result);
    }

    /// Counts a staff login attempt on the backoffice.
    pub fn staff_login(&self, result: LoginResult) {
        self.count_login(Channel::Http, result);
    }

    fn count_login(&self, protocol: Channel, result: LoginResult) {
        self.0
            .logins
            .get_or_create(&ByLogin { protocol, result })
            .inc();
    }

    /// Counts bytes received from a partner (uploads).
    pub fn bytes_in(&self, protocol: Protocol, bytes: u64) {
        self.0
            .bytes_in
            .get_or_create(&ByProtocol {
                protocol: protocol.into(),
            })
            .inc_by(bytes);
    }

    /// Counts bytes sent to a partner (downloads).
    pub fn bytes_out(&self, protocol: Protocol, bytes: u64) {
        self.0
            .bytes_out
            .get_or_create(&ByProtocol {
                protocol: protocol.into(),
            })
            .inc_by(bytes);
    }

    /// Counts an inbox file finished, with the time from ready to moved.
    pub fn file_processed(&self, result: FileResult, elapsed: Duration) {
        self.0.files.get_or_create(&ByFile { result }).inc();
        self.0.latency.observe(elapsed.as_secs_f64());
    }

    /// Counts a track & trace request.
    pub fn tracking(&self, result: TrackResult) {
        self.0.tracking.get_or_create(&ByTrack { result }).inc();
    }

    /// Counts an event of a published outgoing file.
    pub fn outbox(&self, event: OutboxEvent) {
        self.0.outbox.get_or_create(&ByEvent { event }).inc();
    }

    /// Counts an FTPS data connection's TLS handshake.
    pub fn data_handshake(&self, handshake: DataHandshake) {
        self.0
            .data_handshakes
            .get_or_create(&ByHandshake { handshake })
            .inc();
    }

    /// Sets the number of inbox paths waiting or being processed.
    pub fn set_queue_depth(&self, depth: usize) {
        self.0
            .queue_depth
            .set(i64::try_from(depth).unwrap_or(i64::MAX));
    }

    /// The metrics in the Prometheus text exposition format (version 0.0.4, [`CONTENT_TYPE`]).
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        if let Err(error) = prometheus_text::encode(&mut out, &self.0.registry) {
            tracing::warn!(%error, "metrics could not be rendered");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts_and_a_cumulative_histogram() {
        let metrics = Metrics::default();
        let gauge = metrics.session(Protocol::Sftp);
        metrics.login(Protocol::Ftps, LoginResult::Failed);
        metrics.staff_login(LoginResult::Ok);
        metrics.bytes_in(Protocol::Ftp, 10);
        metrics.file_processed(FileResult::Accepted, Duration::from_millis(20));
        metrics.file_processed(FileResult::Rejected, Duration::from_secs(3));
        metrics.tracking(TrackResult::Blocked);
        metrics.outbox(OutboxEvent::Replaced);
        metrics.mail_reply(ReplyResult::Sent);
        let text = metrics.render();
        assert!(text.contains("freightdrop_mail_replies_total{result=\"sent\"} 1"));
        assert!(text.contains("freightdrop_mail_replies_total{result=\"failed\"} 0"));
        assert!(text.contains("freightdrop_tracking_requests_total{result=\"blocked\"} 1"));
        assert!(text.contains("freightdrop_tracking_requests_total{result=\"answered\"} 0"));
        assert!(text.contains("freightdrop_outbox_events_total{event=\"replaced\"} 1"));
        assert!(text.contains("freightdrop_sessions{protocol=\"sftp\"} 1"));
        assert!(text.contains("freightdrop_logins_total{protocol=\"ftps\",result=\"failed\"} 1"));
        assert!(text.contains("freightdrop_logins_total{protocol=\"http\",result=\"ok\"} 1"));
        assert!(text.contains("freightdrop_logins_total{protocol=\"sftp\",result=\"blocked\"} 0"));
        assert!(text.contains("# TYPE freightdrop_logins_total counter"));
        assert!(text.contains("# TYPE freightdrop_inbox_processing_seconds histogram"));
        assert!(text.contains("freightdrop_received_bytes_total{protocol=\"ftp\"} 10"));
        assert!(text.contains("freightdrop_inbox_processing_seconds_bucket{le=\"0.025\"} 1"));
        assert!(text.contains("freightdrop_inbox_processing_seconds_bucket{le=\"5\"} 2"));
        assert!(text.contains("freightdrop_inbox_processing_seconds_count 2"));
        drop(gauge);
        assert!(metrics
            .render()
            .contains("freightdrop_sessions{protocol=\"sftp\"} 0"));
    }
}
