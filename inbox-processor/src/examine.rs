//! Reading one claimed file and deciding on it: the parser for its name, the size limit, the
//! parse itself off the async threads (streamed for CSV, hashed on the way), the time limit,
//! a parser panic, and the tenancy rule. The answer is a [`Verdict`]: the values to store, or
//! the report of a rejection. A file that is too big, too slow or crashes its parser is a
//! rejection with the reason, like a malformed one, so it never stalls the queue.
//!
//! This module reads an already-open file; it never names a path, touches the database or
//! moves a file.

use std::fs::File;
use std::io::{self, Read, Seek};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::ledger::Counts;

use crate::parse::{
    self, Batch, CsvStream, Format, Location, Parsed, Problem, ReadError, Rejected, StreamEnd,
};

/// Called with the number of bytes read so far (for a progress display).
pub type Progress = Arc<dyn Fn(u64) + Send + Sync>;

/// The limits a file is read under.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Files bigger than this are rejected unread.
    pub max_bytes: u64,
    /// Reading and parsing one file may take this long.
    pub timeout: Duration,
}

/// What became of a file's content.
#[derive(Debug)]
pub enum Verdict {
    /// The file is accepted: store these values.
    Accepted {
        /// The values.
        parsed: Parsed,
        /// The content's SHA-256, hex.
        sha256: String,
        /// The parser used.
        format: Format,
    },
    /// The file is rejected whole.
    Rejected {
        /// The plain-text report, every problem found.
        report: String,
        /// The content's SHA-256, hex, when it was read whole.
        sha256: Option<String>,
        /// The parser used, if one was picked.
        format: Option<Format>,
    },
}

/// Reads and judges `file`, named `name` in the inbox of a user whose orders belong to
/// `customer` and whose files are all of `format_override`, if set.
///
/// # Errors
/// [`io::Error`] when the file could not be read (not the file's fault: try again later).
pub async fn examine(
    file: File,
    name: &str,
    customer: &str,
    format_override: Option<&str>,
    limits: Limits,
    progress: Option<Progress>,
) -> io::Result<Verdict> {
    let max_memory = parse::DEFAULT_MAX_MEMORY;
    examine_within(
        file,
        name,
        customer,
        format_override,
        limits,
        max_memory,
        progress,
    )
    .await
}

/// [`examine`] with a bound on the memory of the parse of a file read whole (XML, spreadsheets,
/// small CSV and TTM files): see [`parse::parse_bounded`]. A file over it is rejected with the
/// reason.
///
/// # Errors
/// [`io::Error`] when the file could not be read (not the file's fault: try again later).
pub async fn examine_within(
    file: File,
    name: &str,
    customer: &str,
    format_override: Option<&str>,
    limits: Limits,
    max_memory: u64,
    progress: Option<Progress>,
) -> io::Result<Verdict> {
    let format = match Format::from_name(name, format_override) {
        Ok(Some(format)) => format,
        Ok(None) => {
            return Ok(rejected(
                format!("{name:?} is a temporary upload name"),
                None,
            ))
        }
        Err(e) => return Ok(rejected(e.to_string(), None)),
    };
    let max_bytes = limits.max_bytes;
    let bounds = (max_bytes, max_memory);
    let read = move |file, cancel| read_and_parse(file, format, bounds, cancel, progress);
    let (result, sha256) = match read_limited(file, format, &limits, read).await? {
        Ok(outcome) => outcome,
        Err(verdict) => return Ok(verdict),
    };
    match result {
        Ok(parsed) => match check_tenancy(&parsed, customer) {
            Ok(()) => Ok(Verdict::Accepted {
                parsed,
                sha256,
                format,
            }),
            Err(rejection) => Ok(Verdict::Rejected {
                report: rejection.report(),
                sha256: Some(sha256),
                format: Some(format),
            }),
        },
        Err(rejection) => Ok(Verdict::Rejected {
            report: rejection.report(),
            sha256: Some(sha256),
            format: Some(format),
        }),
    }
}

/// A rejection for one reason about the whole file.
fn rejected(reason: String, format: Option<Format>) -> Verdict {
    let rejection = Rejected {
        problems: vec![Problem {
            location: Location::File,
            field: None,
            value: None,
            reason,
        }],
        more: 0,
    };
    Verdict::Rejected {
        report: rejection.report(),
        sha256: None,
        format,
    }
}

/// Orders belong to the uploading user's customer: a `customerID` naming another customer is a
/// problem, once per foreign customer, naming a few of its shipments.
fn check_tenancy(parsed: &Parsed, customer: &str) -> Result<(), Rejected> {
    let mut tenancy = Tenancy::new(customer);
    tenancy.orders(&parsed.orders);
    tenancy.updates(&parsed.status_updates);
    tenancy.finish()
}

/// The tenancy rule over values seen a batch at a time.
struct Tenancy<'a> {
    customer: &'a str,
    /// Each foreign customer with the first few of its shipments and how many there are.
    foreign: Vec<(String, Vec<String>, usize)>,
}

impl<'a> Tenancy<'a> {
    fn new(customer: &'a str) -> Self {
        Tenancy {
            customer,
            foreign: Vec::new(),
        }
    }

    fn entry(&mut self, id: &str) -> &mut (String, Vec<String>, usize) {
        let at = match self.foreign.iter().position(|(c, _, _)| c == id) {
            Some(at) => at,
            None => {
                self.foreign.push((id.to_owned(), Vec::new(), 0));
                self.foreign.len() - 1
            }
        };
        &mut self.foreign[at]
    }

    fn orders(&mut self, orders: &[crate::model::Order]) {
        for order in orders {
            if order.customer_id != self.customer {
                let entry = self.entry(&order.customer_id);
                for s in &order.shipments {
                    if entry.1.len() < 5 {
                        entry.1.push(s.shipment_id.clone());
                    }
                    entry.2 += 1;
                }
            }
        }
    }

    fn updates(&mut self, updates: &[crate::model::StatusUpdate]) {
        for update in updates {
            if let Some(id) = update.customer_id.as_deref() {
                if id != self.customer {
                    self.entry(id);
                }
            }
        }
    }

    fn is_clean(&self) -> bool {
        self.foreign.is_empty()
    }

    fn finish(self) -> Result<(), Rejected> {
        let customer = self.customer;
        let problems: Vec<Problem> = self
            .foreign
            .into_iter()
            .map(|(id, shown, count)| {
                let mut reason = format!(
                    "this account may only send data for customer {customer:?}, not for {id:?}"
                );
                if !shown.is_empty() {
                    reason.push_str(&format!(" (shipments {}", shown.join(", ")));
                    if count > shown.len() {
                        reason.push_str(&format!(" and {} more", count - shown.len()));
                    }
                    reason.push(')');
                }
                Problem {
                    location: Location::File,
                    field: Some("customerID".to_owned()),
                    value: Some(id),
                    reason,
                }
            })
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Rejected { problems, more: 0 })
        }
    }
}

/// Runs `read` on `file` on the blocking pool within the limits: `Err` with the verdict when
/// the file is too big, takes too long (`read` is then told to stop through its flag) or the
/// reader panics.
///
/// # Errors
/// [`io::Error`] when the file could not be read (not the file's fault: try again later).
async fn read_limited<T: Send + 'static>(
    file: File,
    format: Format,
    limits: &Limits,
    read: impl FnOnce(File, Arc<AtomicBool>) -> io::Result<T> + Send + 'static,
) -> io::Result<Result<T, Verdict>> {
    let size = file.metadata()?.len();
    if size > limits.max_bytes {
        return Ok(Err(rejected(
            format!(
                "the file is {size} bytes, more than the limit of {} bytes; split it into \
                 smaller files",
                limits.max_bytes
            ),
            Some(format),
        )));
    }
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&cancel);
    let job =
        tokio::task::spawn_blocking(move || catch_unwind(AssertUnwindSafe(|| read(file, flag))));
    match tokio::time::timeout(limits.timeout, job).await {
        Err(_elapsed) => {
            // The reader and the in-memory parsers check the flag and stop soon; the result is
            // dropped.
            cancel.store(true, Ordering::Relaxed);
            Ok(Err(rejected(
                format!(
                    "reading the file took longer than the limit of {}; split it into smaller \
                     files",
                    spoken(limits.timeout)
                ),
                Some(format),
            )))
        }
        Ok(Err(_)) | Ok(Ok(Err(_))) => Ok(Err(rejected(
            "the file could not be processed: the reader failed unexpectedly (an internal \
             error, reported to the operator); send the file again or contact support"
                .to_owned(),
            Some(format),
        ))),
        Ok(Ok(Ok(outcome))) => outcome.map(Ok),
    }
}

/// A time limit as a report says it: `300 seconds`, or `250 ms` below a second.
fn spoken(limit: Duration) -> String {
    if limit.subsec_millis() == 0 && limit.as_secs() > 0 {
        format!("{} seconds", limit.as_secs())
    } else {
        format!("{} ms", limit.as_millis())
    }
}

/// Rows (or blocks) per batch of a streamed file.
const STREAM_ROWS: usize = 10_000;

/// Reads and judges a CSV or TTM `file` in batches, sending each batch to `batches` while the file is
/// clean so far; the caller stores them in one transaction and keeps them only if the verdict
/// is [`Verdict::Accepted`] (whose `parsed` then holds only the warnings). Also returns the
/// counts of what the batches held (status updates not counted). Limits and the tenancy rule apply as in [`examine`].
///
/// # Errors
/// [`io::Error`] when the file could not be read (not the file's fault: try again later).
pub async fn examine_stream(
    file: File,
    format: Format,
    customer: &str,
    limits: Limits,
    progress: Option<Progress>,
    batches: tokio::sync::mpsc::Sender<Batch>,
) -> io::Result<(Verdict, Counts)> {
    let customer = customer.to_owned();
    let read = move |file, cancel: Arc<AtomicBool>| {
        stream_file(file, format, &customer, &cancel, progress, &batches)
    };
    let (result, sha256) = match read_limited(file, format, &limits, read).await? {
        Ok(outcome) => outcome,
        Err(verdict) => return Ok((verdict, Counts::default())),
    };
    Ok(match result {
        Ok(end) => (
            Verdict::Accepted {
                parsed: Parsed {
                    orders: Vec::new(),
                    status_updates: Vec::new(),
                    warnings: end.warnings,
                },
                sha256,
                format,
            },
            Counts {
                orders: end.orders,
                shipments: end.shipments,
                goods_lines: end.goods_lines,
                status_updates: 0,
            },
        ),
        Err(rejection) => (
            Verdict::Rejected {
                report: rejection.report(),
                sha256: Some(sha256),
                format: Some(format),
            },
            Counts::default(),
        ),
    })
}

/// The blocking part of [`examine_stream`]: both readings, the hash and the tenancy rule.
fn stream_file(
    file: File,
    format: Format,
    customer: &str,
    cancel: &AtomicBool,
    progress: Option<Progress>,
    batches: &tokio::sync::mpsc::Sender<Batch>,
) -> io::Result<(Result<StreamEnd, Rejected>, String)> {
    let mut again = file.try_clone()?;
    let mut reader = HashingReader {
        inner: file,
        hasher: Sha256::new(),
        read: 0,
        cancel,
        progress,
    };
    let mut tenancy = Tenancy::new(customer);
    // The receiver is gone only when the transaction failed; the file is still read to its end.
    let send = |batch: Batch, tenancy: &mut Tenancy<'_>| {
        tenancy.orders(&batch.orders);
        tenancy.updates(&batch.status_updates);
        if tenancy.is_clean() {
            let _ = batches.blocking_send(batch);
        }
    };
    let Some(mut stream) = CsvStream::of(format) else {
        return Err(io::Error::other(format!("{format} files are not streamed")));
    };
    stream.read(&mut reader, STREAM_ROWS, |batch| send(batch, &mut tenancy))?;
    io::copy(&mut reader, &mut io::sink())?;
    let digest = reader.hasher.finalize();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    if stream.needs_second_reading() && !cancel.load(Ordering::Relaxed) {
        again.seek(io::SeekFrom::Start(0))?;
        let batch = stream.read_again(io::BufReader::new(again))?;
        if !stream.has_problems() && !batch.is_empty() {
            send(batch, &mut tenancy);
        }
    }
    let result = match stream.finish() {
        Ok(end) => tenancy.finish().map(|()| end),
        Err(rejection) => Err(rejection),
    };
    Ok((result, hex))
}

type ParseOutcome = (Result<Parsed, Rejected>, String);

/// Reads the whole file once, hashing it, and parses it: CSV streamed, the others in memory.
fn read_and_parse(
    file: File,
    format: Format,
    (max_bytes, max_memory): (u64, u64),
    cancel: Arc<AtomicBool>,
    progress: Option<Progress>,
) -> io::Result<ParseOutcome> {
    let size = file.metadata()?.len().min(max_bytes);
    let mut reader = HashingReader {
        inner: file,
        hasher: Sha256::new(),
        read: 0,
        cancel: &cancel,
        progress,
    };
    let result = match format {
        Format::Csv => match parse::parse_csv_reader(&mut reader) {
            Ok(parsed) => Ok(parsed),
            Err(ReadError::Rejected(rejection)) => Err(rejection),
            Err(ReadError::Io(e)) => return Err(e),
        },
        _ => {
            // Reserved once: a growing buffer would hold up to twice the file while it moves.
            let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
            (&mut reader).take(max_bytes).read_to_end(&mut bytes)?;
            parse::parse_bounded(format, &bytes, Arc::clone(&cancel), max_memory)
        }
    };
    // The parser may stop early (a rejected CSV); the hash covers the whole file.
    io::copy(&mut reader, &mut io::sink())?;
    let digest = reader.hasher.finalize();
    let hex = digest.iter().map(|b| format!("{b:02x}")).collect();
    Ok((result, hex))
}

/// A reader that hashes what passes through, reports progress and stops when cancelled.
struct HashingReader<'a> {
    inner: File,
    hasher: Sha256,
    read: u64,
    cancel: &'a AtomicBool,
    progress: Option<Progress>,
}

impl Read for HashingReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.cancel.load(Ordering::Relaxed) {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "time limit reached",
            ));
        }
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.read += n as u64;
        if let Some(progress) = &self.progress {
            progress(self.read);
        }
        Ok(n)
    }
}
