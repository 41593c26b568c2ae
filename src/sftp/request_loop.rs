//! The SFTP request loop of one channel. russh-sftp's own loop answers one request at a time and
//! deadlocks under paramiko's prefetching `get` (russh blocks delivering channel data while the
//! loop waits for window to write a response). This loop never lets the reader wait on the
//! response path:
//!
//! - the reader frames packets and queues them (bounded only by a byte budget that only a client
//!   flooding requests without reading answers can reach);
//! - the dispatcher runs requests concurrently: one at a time per handle, in order (reads and
//!   writes of one file stay ordered), while path operations are barriers that run alone, after
//!   everything before them is answered;
//! - the writer sends responses window-aware and tells the dispatcher, so a handle's next request
//!   starts only once the previous answer is on the wire; at the end it sends exit-status, EOF
//!   and CLOSE, which clients such as sshj wait for.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use bytes::{Buf as _, BufMut as _, Bytes, BytesMut};
use russh::server::Msg;
use russh::{Channel, ChannelMsg, ChannelReadHalf, ChannelWriteHalf};
use russh_sftp::protocol::{Packet, Status, StatusCode};
use russh_sftp::server::{Handler, StatusReply};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

use super::files::MAX_PACKET_LEN;
use super::watchdog::Activity;

/// Request bytes queued but not yet answered, per channel.
const MAX_QUEUED_BYTES: u32 = 64 * 1024 * 1024;
/// Requests running at once, per channel.
const MAX_RUNNING: usize = 64;

#[derive(Clone, PartialEq, Eq, Hash, Debug)]
enum Lane {
    Handle(String),
    Barrier,
}

struct Job {
    id: u32,
    packet: Option<Packet>,
    lane: Lane,
    permit: OwnedSemaphorePermit,
}

struct Response {
    bytes: Bytes,
    lane: Lane,
    _permit: OwnedSemaphorePermit,
}

fn lane_of(packet: Option<&Packet>) -> Lane {
    match packet {
        Some(Packet::Read(p)) => Lane::Handle(p.handle.clone()),
        Some(Packet::Write(p)) => Lane::Handle(p.handle.clone()),
        Some(Packet::Close(p)) => Lane::Handle(p.handle.clone()),
        Some(Packet::Fstat(p)) => Lane::Handle(p.handle.clone()),
        Some(Packet::FSetStat(p)) => Lane::Handle(p.handle.clone()),
        Some(Packet::ReadDir(p)) => Lane::Handle(p.handle.clone()),
        _ => Lane::Barrier,
    }
}

/// Serves SFTP on `channel` with `handler` until the client ends the channel or the connection
/// is killed.
pub async fn serve<H>(channel: Channel<Msg>, handler: H, activity: Arc<Activity>)
where
    H: Handler<Error = StatusReply> + Clone + Send + Sync + 'static,
{
    let (read_half, write_half) = channel.split();
    let (job_tx, job_rx) = mpsc::unbounded_channel();
    let (response_tx, response_rx) = mpsc::unbounded_channel();
    let (done_tx, done_rx) = mpsc::unbounded_channel();
    let budget = Arc::new(Semaphore::new(MAX_QUEUED_BYTES as usize));
    let reader = tokio::spawn(read_requests(read_half, job_tx, budget, activity.clone()));
    let writer = tokio::spawn(write_responses(
        write_half,
        response_rx,
        done_tx,
        activity.clone(),
    ));
    let kill = activity.kill_token();
    tokio::select! {
        () = async {
            dispatch(job_rx, response_tx, done_rx, handler).await;
            let _ = writer.await;
        } => {}
        // Killed: dropping the halves (and the handler, whose uploads discard their partials)
        // releases everything.
        () = kill.cancelled() => {}
    }
    reader.abort();
}

/// Reads the channel, frames SFTP packets and queues them; `None` marks the end.
async fn read_requests(
    mut rx: ChannelReadHalf,
    jobs: mpsc::UnboundedSender<Option<Job>>,
    budget: Arc<Semaphore>,
    activity: Arc<Activity>,
) {
    let mut buf = BytesMut::new();
    loop {
        match rx.wait().await {
            Some(ChannelMsg::Data { data }) => {
                buf.extend_from_slice(&data);
                while buf.len() >= 4 {
                    let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
                    if len == 0 || len > MAX_PACKET_LEN {
                        tracing::warn!(len, "SFTP packet length out of bounds; ending the session");
                        let _ = jobs.send(None);
                        return;
                    }
                    let total = 4 + len as usize;
                    if buf.len() < total {
                        break;
                    }
                    let Ok(permit) = budget.clone().acquire_many_owned(len).await else {
                        return;
                    };
                    buf.advance(4);
                    let mut body = buf.split_to(len as usize).freeze();
                    let id = match body.get(1..5) {
                        Some(&[a, b, c, d]) => u32::from_be_bytes([a, b, c, d]),
                        _ => 0,
                    };
                    // An undecodable packet is answered BadMessage with its own id, so the
                    // client isn't left waiting.
                    let packet = Packet::try_from(&mut body).ok();
                    let lane = lane_of(packet.as_ref());
                    activity.request_received();
                    let job = Job {
                        id,
                        packet,
                        lane,
                        permit,
                    };
                    if jobs.send(Some(job)).is_err() {
                        return;
                    }
                }
            }
            Some(ChannelMsg::Eof | ChannelMsg::Close) | None => {
                let _ = jobs.send(None);
                return;
            }
            Some(_) => {}
        }
    }
}

/// Sends responses in the order they complete, then ends the channel.
async fn write_responses(
    tx: ChannelWriteHalf<Msg>,
    mut responses: mpsc::UnboundedReceiver<Response>,
    done: mpsc::UnboundedSender<Lane>,
    activity: Arc<Activity>,
) {
    while let Some(response) = responses.recv().await {
        let sent = tx.data_bytes(response.bytes).await;
        activity.response_sent();
        if sent.is_err() {
            break;
        }
        let _ = done.send(response.lane);
    }
    let _ = tx.exit_status(0).await;
    let _ = tx.eof().await;
    let _ = tx.close().await;
}

/// Schedules queued requests under the ordering rules and runs them on handler clones.
async fn dispatch<H>(
    mut jobs: mpsc::UnboundedReceiver<Option<Job>>,
    responses: mpsc::UnboundedSender<Response>,
    mut done: mpsc::UnboundedReceiver<Lane>,
    handler: H,
) where
    H: Handler<Error = StatusReply> + Clone + Send + Sync + 'static,
{
    let mut queue: VecDeque<Job> = VecDeque::new();
    // A key present means that handle has a request running; the deque holds its next ones.
    let mut lanes: HashMap<String, VecDeque<Job>> = HashMap::new();
    let mut running = 0usize;
    let mut lane_queued = 0usize;
    let mut barrier = false;
    let mut ended = false;

    let start = |job: Job, running: &mut usize| {
        *running += 1;
        let handler = handler.clone();
        let responses = responses.clone();
        tokio::spawn(async move {
            let answer = match job.packet {
                Some(packet) => process(handler, packet).await,
                None => Packet::error(job.id, StatusCode::BadMessage),
            };
            let bytes = encode(answer, job.id);
            let _ = responses.send(Response {
                bytes,
                lane: job.lane,
                _permit: job.permit,
            });
        });
    };

    loop {
        while !barrier && running < MAX_RUNNING {
            let Some(lane) = queue.front().map(|job| job.lane.clone()) else {
                break;
            };
            match lane {
                Lane::Barrier => {
                    if running > 0 || lane_queued > 0 {
                        break;
                    }
                    let Some(job) = queue.pop_front() else { break };
                    barrier = true;
                    start(job, &mut running);
                }
                Lane::Handle(handle) => {
                    let Some(job) = queue.pop_front() else { break };
                    if let Some(waiting) = lanes.get_mut(&handle) {
                        waiting.push_back(job);
                        lane_queued += 1;
                    } else {
                        lanes.insert(handle, VecDeque::new());
                        start(job, &mut running);
                    }
                }
            }
        }
        if ended && queue.is_empty() && running == 0 && lane_queued == 0 {
            break;
        }
        tokio::select! {
            job = jobs.recv(), if !ended => match job {
                Some(Some(job)) => queue.push_back(job),
                Some(None) | None => ended = true,
            },
            Some(lane) = done.recv() => {
                running = running.saturating_sub(1);
                match lane {
                    Lane::Barrier => barrier = false,
                    Lane::Handle(handle) => {
                        match lanes.get_mut(&handle).and_then(VecDeque::pop_front) {
                            Some(job) => {
                                lane_queued = lane_queued.saturating_sub(1);
                                start(job, &mut running);
                            }
                            None => {
                                lanes.remove(&handle);
                            }
                        }
                    }
                }
            }
            // The writer is gone (the channel closed under us): nothing more can be answered.
            else => break,
        }
    }
}

/// Encodes a response; if that fails, a plain Failure status for the same request.
fn encode(packet: Packet, id: u32) -> Bytes {
    Bytes::try_from(packet).unwrap_or_else(|_| failure_status(id))
}

/// SSH_FXP_STATUS(Failure) for `id`, encoded by hand so it can't fail.
fn failure_status(id: u32) -> Bytes {
    const FXP_STATUS: u8 = 101;
    let message = b"Failure";
    let language = b"en";
    let body_len = 1 + 4 + 4 + 4 + message.len() + 4 + language.len();
    let mut out = BytesMut::with_capacity(4 + body_len);
    out.put_u32(body_len as u32);
    out.put_u8(FXP_STATUS);
    out.put_u32(id);
    out.put_u32(StatusCode::Failure as u32);
    out.put_u32(message.len() as u32);
    out.put_slice(message);
    out.put_u32(language.len() as u32);
    out.put_slice(language);
    out.freeze()
}

/// Runs one request on the handler, as russh-sftp's own (private) dispatcher does.
async fn process<H>(mut h: H, packet: Packet) -> Packet
where
    H: Handler<Error = StatusReply>,
{
    let id = packet.get_request_id();
    let status = |e: StatusReply| {
        Packet::Status(Status {
            id,
            status_code: e.status_code,
            error_message: e
                .error_message
                .unwrap_or_else(|| super::status::text_of(e.status_code).to_string()),
            language_tag: e.language_tag.unwrap_or_else(|| "en".to_string()),
        })
    };
    macro_rules! call {
        ($e:expr) => {
            match $e.await {
                Ok(answer) => answer.into(),
                Err(e) => status(e),
            }
        };
    }
    match packet {
        Packet::Init(p) => call!(h.init(p.version, p.extensions)),
        Packet::Open(p) => call!(h.open(p.id, p.filename, p.pflags, p.attrs)),
        Packet::Close(p) => call!(h.close(p.id, p.handle)),
        Packet::Read(p) => call!(h.read(p.id, p.handle, p.offset, p.len)),
        Packet::Write(p) => call!(h.write(p.id, p.handle, p.offset, p.data)),
        Packet::Lstat(p) => call!(h.lstat(p.id, p.path)),
        Packet::Fstat(p) => call!(h.fstat(p.id, p.handle)),
        Packet::SetStat(p) => call!(h.setstat(p.id, p.path, p.attrs)),
        Packet::FSetStat(p) => call!(h.fsetstat(p.id, p.handle, p.attrs)),
        Packet::OpenDir(p) => call!(h.opendir(p.id, p.path)),
        Packet::ReadDir(p) => call!(h.readdir(p.id, p.handle)),
        Packet::Remove(p) => call!(h.remove(p.id, p.filename)),
        Packet::MkDir(p) => call!(h.mkdir(p.id, p.path, p.attrs)),
        Packet::RmDir(p) => call!(h.rmdir(p.id, p.path)),
        Packet::RealPath(p) => call!(h.realpath(p.id, p.path)),
        Packet::Stat(p) => call!(h.stat(p.id, p.path)),
        Packet::Rename(p) => call!(h.rename(p.id, p.oldpath, p.newpath)),
        Packet::ReadLink(p) => call!(h.readlink(p.id, p.path)),
        Packet::Symlink(p) => call!(h.symlink(p.id, p.linkpath, p.targetpath)),
        Packet::Extended(p) => call!(h.extended(p.id, p.request, p.data)),
        _ => Packet::error(id, StatusCode::BadMessage),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fallback_status_decodes() {
        let mut bytes = failure_status(7);
        bytes.advance(4);
        match Packet::try_from(&mut bytes) {
            Ok(Packet::Status(s)) => {
                assert_eq!(s.id, 7);
                assert_eq!(s.status_code, StatusCode::Failure);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
