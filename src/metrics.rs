//! The server's counters for `/metrics`: sessions by protocol, logins by result, bytes in and
//! out, inbox files by result, the inbox processing latency and the inbox queue depth, track &
//! trace requests by result and outgoing-file events. The frontends, the gate, the inbox, the
//! outbox and the track & trace API count into one shared [`Metrics`]; the backoffice renders
//! it in the Prometheus text format. Counters are per process (each node is scraped on its own).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::users::Protocol;

/// Upper bounds of the processing latency buckets, in seconds.
const LATENCY_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// How a login attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginResult {
    /// Let in.
    Ok,
    /// Refused: unknown user, wrong password or key, account or protocol not allowed.
    Failed,
    /// Refused without a check: the address is blocked.
    Blocked,
}

/// How an inbox file ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileResult {
    /// Committed and moved to `done/`.
    Accepted,
    /// Moved to `error/` with its report.
    Rejected,
}

/// How a track & trace request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackResult {
    /// Answered with the shipment.
    Answered,
    /// Refused (401): bad signature, stale time, unknown shipment or postcode.
    Refused,
    /// Refused without a check (429): the address is blocked.
    Blocked,
    /// A parameter is missing or malformed (400).
    BadRequest,
    /// The database failed (503).
    Unavailable,
}

const TRACK_RESULTS: [&str; 5] = [
    "answered",
    "refused",
    "blocked",
    "bad_request",
    "unavailable",
];

/// What happened to a published outgoing file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxEvent {
    /// Staff published it into a partner's `out/`.
    Published,
    /// The partner downloaded it whole.
    Downloaded,
    /// The partner moved it to `done/`.
    Done,
    /// The partner moved it to `error/` (staff should look).
    Error,
    /// The partner moved it somewhere else in its home.
    Elsewhere,
    /// The partner deleted it.
    Deleted,
    /// An upload or rename replaced it.
    Replaced,
}

const OUTBOX_EVENTS: [&str; 7] = [
    "published",
    "downloaded",
    "done",
    "error",
    "elsewhere",
    "deleted",
    "replaced",
];

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

/// Which listener a login came through: the protocols plus the backoffice.
const CHANNELS: [&str; 4] = ["ftp", "ftps", "sftp", "http"];

fn channel(protocol: Protocol) -> usize {
    match protocol {
        Protocol::Ftp => 0,
        Protocol::Ftps => 1,
        Protocol::Sftp => 2,
    }
}

#[derive(Debug, Default)]
struct Inner {
    sessions: [AtomicI64; 3],
    logins: [[AtomicU64; 3]; 4],
    bytes_in: [AtomicU64; 3],
    bytes_out: [AtomicU64; 3],
    files: [AtomicU64; 2],
    latency_buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_micros: AtomicU64,
    queue_depth: AtomicI64,
    tracking: [AtomicU64; TRACK_RESULTS.len()],
    outbox: [AtomicU64; OUTBOX_EVENTS.len()],
}

/// The shared counters; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Metrics(Arc<Inner>);

/// An open session, counted until dropped.
#[derive(Debug)]
pub struct SessionGauge {
    metrics: Metrics,
    protocol: Protocol,
}

impl Drop for SessionGauge {
    fn drop(&mut self) {
        self.metrics.0.sessions[channel(self.protocol)].fetch_sub(1, Ordering::Relaxed);
    }
}

impl Metrics {
    /// Counts a session of `protocol` as open until the returned gauge is dropped.
    pub fn session(&self, protocol: Protocol) -> SessionGauge {
        self.0.sessions[channel(protocol)].fetch_add(1, Ordering::Relaxed);
        SessionGauge {
            metrics: self.clone(),
            protocol,
        }
    }

    /// Counts a partner login attempt.
    pub fn login(&self, protocol: Protocol, result: LoginResult) {
        self.count_login(channel(protocol), result);
    }

    /// Counts a staff login attempt on the backoffice.
    pub fn staff_login(&self, result: LoginResult) {
        self.count_login(3, result);
    }

    fn count_login(&self, channel: usize, result: LoginResult) {
        let index = match result {
            LoginResult::Ok => 0,
            LoginResult::Failed => 1,
            LoginResult::Blocked => 2,
        };
        self.0.logins[channel][index].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts bytes received from a partner (uploads).
    pub fn bytes_in(&self, protocol: Protocol, bytes: u64) {
        self.0.bytes_in[channel(protocol)].fetch_add(bytes, Ordering::Relaxed);
    }

    /// Counts bytes sent to a partner (downloads).
    pub fn bytes_out(&self, protocol: Protocol, bytes: u64) {
        self.0.bytes_out[channel(protocol)].fetch_add(bytes, Ordering::Relaxed);
    }

    /// Counts an inbox file finished, with the time from ready to moved.
    pub fn file_processed(&self, result: FileResult, elapsed: Duration) {
        let index = match result {
            FileResult::Accepted => 0,
            FileResult::Rejected => 1,
        };
        self.0.files[index].fetch_add(1, Ordering::Relaxed);
        let seconds = elapsed.as_secs_f64();
        for (bound, bucket) in LATENCY_BUCKETS.iter().zip(&self.0.latency_buckets) {
            if seconds <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.0.latency_count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.0
            .latency_sum_micros
            .fetch_add(micros, Ordering::Relaxed);
    }

    /// Counts a track & trace request.
    pub fn tracking(&self, result: TrackResult) {
        self.0.tracking[result as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an event of a published outgoing file.
    pub fn outbox(&self, event: OutboxEvent) {
        self.0.outbox[event as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Sets the number of inbox paths waiting or being processed.
    pub fn set_queue_depth(&self, depth: usize) {
        self.0
            .queue_depth
            .store(i64::try_from(depth).unwrap_or(i64::MAX), Ordering::Relaxed);
    }

    /// The counters in the Prometheus text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let m = &self.0;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut out = String::with_capacity(4096);
        let _ = writeln!(
            out,
            "# HELP freightdrop_sessions Partner sessions open now, by protocol.\n\
             # TYPE freightdrop_sessions gauge"
        );
        for (i, name) in CHANNELS.iter().take(3).enumerate() {
            let open = m.sessions[i].load(Ordering::Relaxed).max(0);
            let _ = writeln!(out, "freightdrop_sessions{{protocol=\"{name}\"}} {open}");
        }
        let _ = writeln!(
            out,
            "# HELP freightdrop_logins_total Login attempts, by protocol (http: staff) and result.\n\
             # TYPE freightdrop_logins_total counter"
        );
        for (i, name) in CHANNELS.iter().enumerate() {
            for (j, result) in ["ok", "failed", "blocked"].iter().enumerate() {
                let _ = writeln!(
                    out,
                    "freightdrop_logins_total{{protocol=\"{name}\",result=\"{result}\"}} {}",
                    load(&m.logins[i][j])
                );
            }
        }
        for (metric, help, values) in [
            (
                "freightdrop_received_bytes_total",
                "Bytes uploaded by partners, by protocol.",
                &m.bytes_in,
            ),
            (
                "freightdrop_sent_bytes_total",
                "Bytes downloaded by partners, by protocol.",
                &m.bytes_out,
            ),
        ] {
            let _ = writeln!(out, "# HELP {metric} {help}\n# TYPE {metric} counter");
            for (i, name) in CHANNELS.iter().take(3).enumerate() {
                let _ = writeln!(out, "{metric}{{protocol=\"{name}\"}} {}", load(&values[i]));
            }
        }
        counters(
            &mut out,
            "freightdrop_inbox_files_total",
            "Inbox files processed by this node, by result.",
            ("result", &["accepted", "rejected"]),
            &m.files,
        );
        let _ = writeln!(
            out,
            "# HELP freightdrop_inbox_processing_seconds Time from a file ready in the inbox to \
             its move into done/ or error/.\n\
             # TYPE freightdrop_inbox_processing_seconds histogram"
        );
        for (bound, bucket) in LATENCY_BUCKETS.iter().zip(&m.latency_buckets) {
            let _ = writeln!(
                out,
                "freightdrop_inbox_processing_seconds_bucket{{le=\"{bound}\"}} {}",
                load(bucket)
            );
        }
        let count = load(&m.latency_count);
        let _ = writeln!(
            out,
            "freightdrop_inbox_processing_seconds_bucket{{le=\"+Inf\"}} {count}\n\
             freightdrop_inbox_processing_seconds_sum {}\n\
             freightdrop_inbox_processing_seconds_count {count}",
            load(&m.latency_sum_micros) as f64 / 1e6
        );
        let _ = writeln!(
            out,
            "# HELP freightdrop_inbox_queue_depth Inbox files waiting, settling or being processed.\n\
             # TYPE freightdrop_inbox_queue_depth gauge\n\
             freightdrop_inbox_queue_depth {}",
            m.queue_depth.load(Ordering::Relaxed).max(0)
        );
        counters(
            &mut out,
            "freightdrop_tracking_requests_total",
            "Track & trace requests, by result.",
            ("result", &TRACK_RESULTS),
            &m.tracking,
        );
        counters(
            &mut out,
            "freightdrop_outbox_events_total",
            "Outgoing files published, downloaded and moved or removed by partners, by event.",
            ("event", &OUTBOX_EVENTS),
            &m.outbox,
        );
        out
    }
}

/// Writes a counter with one label: its help and type lines, then one line per label value.
fn counters(
    out: &mut String,
    metric: &str,
    help: &str,
    (label, values): (&str, &[&str]),
    counts: &[AtomicU64],
) {
    let _ = writeln!(out, "# HELP {metric} {help}\n# TYPE {metric} counter");
    for (value, count) in values.iter().zip(counts) {
        let _ = writeln!(
            out,
            "{metric}{{{label}=\"{value}\"}} {}",
            count.load(Ordering::Relaxed)
        );
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
        metrics.bytes_in(Protocol::Ftp, 10);
        metrics.file_processed(FileResult::Accepted, Duration::from_millis(20));
        metrics.file_processed(FileResult::Rejected, Duration::from_secs(3));
        metrics.tracking(TrackResult::Blocked);
        metrics.outbox(OutboxEvent::Replaced);
        let text = metrics.render();
        assert!(text.contains("freightdrop_tracking_requests_total{result=\"blocked\"} 1"));
        assert!(text.contains("freightdrop_tracking_requests_total{result=\"answered\"} 0"));
        assert!(text.contains("freightdrop_outbox_events_total{event=\"replaced\"} 1"));
        assert!(text.contains("freightdrop_sessions{protocol=\"sftp\"} 1"));
        assert!(text.contains("freightdrop_logins_total{protocol=\"ftps\",result=\"failed\"} 1"));
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
