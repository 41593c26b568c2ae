//! File data between the disk and a data connection, pipelined: the disk side runs on the
//! blocking pool and the network side on the session's runtime, handing full buffers to each
//! other through small channels, so reading the next megabyte overlaps sending this one. A side
//! on which nothing moves for the idle timeout ends the transfer.

use std::io::{self, Read};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::partner::{FileError, Upload};

/// Size of one buffer handed between the two sides.
const CHUNK: usize = 1024 * 1024;
/// Buffers in flight between the two sides.
const DEPTH: usize = 3;

fn timed_out() -> io::Error {
    io::Error::from(io::ErrorKind::TimedOut)
}

/// Told each chunk that reached the client, so a transfer that fails halfway still counts what
/// it moved and only a whole one is a download.
pub type Tally<'a> = &'a (dyn Fn(u64) + Send + Sync);

/// Sends `file` (already positioned) to `output`, telling `tally` each chunk sent; returns the
/// bytes sent.
///
/// # Errors
/// A read or write failure, or `TimedOut` when the client takes nothing for `idle`.
pub async fn send<W>(
    mut file: std::fs::File,
    output: &mut W,
    idle: Duration,
    tally: Tally<'_>,
) -> io::Result<u64>
where
    W: AsyncWrite + Unpin + ?Sized,
{
    let (full_tx, mut full_rx) = mpsc::channel::<io::Result<Vec<u8>>>(DEPTH);
    let (empty_tx, mut empty_rx) = mpsc::channel::<Vec<u8>>(DEPTH);
    for _ in 0..DEPTH {
        let _ = empty_tx.try_send(vec![0u8; CHUNK]);
    }
    let reader = tokio::task::spawn_blocking(move || {
        while let Some(mut buffer) = empty_rx.blocking_recv() {
            buffer.resize(CHUNK, 0);
            let filled = match read_full(&mut file, &mut buffer) {
                Ok(n) => n,
                Err(e) => {
                    let _ = full_tx.blocking_send(Err(e));
                    return;
                }
            };
            if filled == 0 {
                return;
            }
            buffer.truncate(filled);
            if full_tx.blocking_send(Ok(buffer)).is_err() {
                return;
            }
        }
    });
    let mut sent = 0u64;
    let result = async {
        while let Some(chunk) = full_rx.recv().await {
            let chunk = chunk?;
            tokio::time::timeout(idle, output.write_all(&chunk))
                .await
                .map_err(|_| timed_out())??;
            sent += chunk.len() as u64;
            tally(chunk.len() as u64);
            // The reader may have stopped already; then the buffer is simply dropped.
            let _ = empty_tx.send(chunk).await;
        }
        tokio::time::timeout(idle, output.flush())
            .await
            .map_err(|_| timed_out())??;
        Ok(sent)
    }
    .await;
    drop(full_rx);
    drop(empty_tx);
    let _ = reader.await;
    result
}

/// Receives `input` until its end into `upload` (through [`Upload::append`], which checks the
/// user's limit and counts the bytes); returns the bytes received. The upload is not committed
/// here.
///
/// # Errors
/// The upload's refusal ([`FileError::TooLarge`], a disk error), or [`FileError::Io`] for a
/// failed or stalled connection (`TimedOut` after `idle` without a byte).
pub async fn receive<R>(
    input: &mut R,
    upload: Arc<Upload>,
    idle: Duration,
) -> Result<u64, FileError>
where
    R: AsyncRead + Unpin + ?Sized,
{
    let (full_tx, mut full_rx) = mpsc::channel::<Vec<u8>>(DEPTH);
    let (empty_tx, mut empty_rx) = mpsc::channel::<Vec<u8>>(DEPTH);
    for _ in 0..DEPTH {
        let _ = empty_tx.try_send(Vec::with_capacity(CHUNK));
    }
    let writer = tokio::task::spawn_blocking(move || -> Result<(), FileError> {
        while let Some(chunk) = full_rx.blocking_recv() {
            upload.append(&chunk)?;
            // The network side may be gone already; then the buffer is dropped.
            let _ = empty_tx.blocking_send(chunk);
        }
        Ok(())
    });
    let mut received = 0u64;
    let reading = async {
        loop {
            let Some(mut buffer) = empty_rx.recv().await else {
                // The writer stopped early: its own error says why.
                return Ok(received);
            };
            buffer.clear();
            let mut ended = false;
            while buffer.len() < CHUNK / 2 {
                let read = tokio::time::timeout(idle, input.read_buf(&mut buffer))
                    .await
                    .map_err(|_| timed_out())??;
                if read == 0 {
                    ended = true;
                    break;
                }
            }
            received += buffer.len() as u64;
            if !buffer.is_empty() && full_tx.send(buffer).await.is_err() {
                return Ok(received);
            }
            if ended {
                return Ok(received);
            }
        }
    }
    .await;
    drop(full_tx);
    let written = writer
        .await
        .map_err(|_| FileError::Io(io::Error::other("the disk writer stopped")))?;
    written?;
    reading.map_err(FileError::Io)
}

/// Reads until `buffer` is full or the file ends.
fn read_full(file: &mut std::fs::File, buffer: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match file.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    #[tokio::test]
    async fn send_moves_every_byte_and_tells_each_chunk() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("source");
        let data: Vec<u8> = (0..3_500_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&source, &data).unwrap();
        let mut sent = Vec::new();
        let counted = AtomicU64::new(0);
        let tally = |n| {
            counted.fetch_add(n, Ordering::Relaxed);
        };
        let n = send(
            std::fs::File::open(&source).unwrap(),
            &mut sent,
            Duration::from_secs(5),
            &tally,
        )
        .await
        .unwrap();
        assert_eq!(n as usize, data.len());
        assert_eq!(sent, data);
        assert_eq!(counted.load(Ordering::Relaxed), n);
    }

    #[tokio::test]
    async fn receive_moves_every_byte_into_the_upload() {
        let f = crate::partner::tests::fixture(None).await;
        let data: Vec<u8> = (0..3_500_000u32).map(|i| (i % 251) as u8).collect();
        let upload = Arc::new(
            f.files
                .begin_upload("/a.csv", crate::partner::UploadMode::New)
                .await
                .unwrap(),
        );
        let n = receive(&mut &data[..], Arc::clone(&upload), Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(n as usize, data.len());
        upload.commit().unwrap();
        assert_eq!(std::fs::read(f.home.join("a.csv")).unwrap(), data);
    }

    #[tokio::test]
    async fn receive_stops_at_the_limit() {
        let f = crate::partner::tests::fixture(Some(5_000)).await;
        let upload = Arc::new(
            f.files
                .begin_upload("/a.csv", crate::partner::UploadMode::New)
                .await
                .unwrap(),
        );
        let data = vec![1u8; 10_000];
        let result = receive(&mut &data[..], Arc::clone(&upload), Duration::from_secs(5)).await;
        assert!(matches!(result, Err(FileError::TooLarge)), "{result:?}");
        assert!(matches!(upload.commit(), Err(FileError::Incomplete)));
    }

    #[tokio::test]
    async fn a_stalled_sender_times_out() {
        let f = crate::partner::tests::fixture(None).await;
        let upload = Arc::new(
            f.files
                .begin_upload("/a.csv", crate::partner::UploadMode::New)
                .await
                .unwrap(),
        );
        let (mut client, mut server) = tokio::io::duplex(64);
        client.write_all(b"some").await.unwrap();
        let result = receive(&mut server, upload, Duration::from_millis(100)).await;
        assert!(
            matches!(&result, Err(FileError::Io(e)) if e.kind() == io::ErrorKind::TimedOut),
            "{result:?}"
        );
        drop(client);
    }
}
