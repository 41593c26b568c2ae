//! `freightdrop import FILE --user NAME [--dry-run]`: runs the inbox pipeline on one file, as if
//! the user had uploaded it, and prints what it did.
//!
//! The file is copied into the user's inbox under its own name (written aside and linked into
//! place, never over an existing file) and processed there, so it ends in `done/` or `error/`
//! like any upload and the ledger records it. A file that already is in that user's inbox is
//! processed in place. Should a running server take the file first, the command waits for it
//! and reports its result. `--dry-run` only reads and judges the file: nothing is stored or
//! moved. Exit code 1 when the file is rejected.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use inbox_processor::examine::{self, Verdict};
use inbox_processor::filing::{DONE, ERROR, REPORT_SUFFIX};
use inbox_processor::parse::is_temporary_name;
use inbox_processor::{FileRow, FileState, Outcome, Progress, Settings, Uploader};

use crate::staging::{Placement, StagedFile};

use super::Failure;
use crate::users::UserStore;

/// Files from this size on get a progress line on standard error.
const PROGRESS_FROM: u64 = 8 * 1024 * 1024;

/// Arguments of `import`.
#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    /// The file to import (its name picks the parser, unless the user has a format set).
    file: PathBuf,
    /// The user whose upload it stands for; its customer owns the orders.
    #[arg(long)]
    user: String,
    /// Only read and check the file: store nothing, move nothing.
    #[arg(long)]
    dry_run: bool,
}

pub(crate) async fn run(
    args: ImportArgs,
    store: &UserStore,
    settings: Settings,
) -> Result<(), Failure> {
    let user = store
        .require(&args.user)
        .await
        .map_err(|e| Failure::failed(e.to_string()))?;
    let uploader = Uploader {
        user: user.name.clone(),
        customer: user.customer.clone(),
        format: user.format.clone(),
    };
    let name = args
        .file
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| Failure::usage(format!("{} is not a file name", args.file.display())))?
        .to_owned();
    if is_temporary_name(&name) {
        return Err(Failure::usage(format!(
            "{name:?} is a temporary or hidden name, which the inbox never processes; rename it"
        )));
    }
    let size = std::fs::metadata(&args.file)
        .map_err(|e| Failure::failed(format!("cannot read {}: {e}", args.file.display())))?
        .len();
    let progress = progress_line(size);
    if args.dry_run {
        return dry_run(&args.file, &name, &uploader, progress, settings).await;
    }
    let inbox = store.tree().path_of(&user.name);
    let pipeline = crate::inbox::pipeline(store.db(), store.tree().dir(), settings);
    let before = pipeline.ledger().last_id().await.map_err(failed)?;
    copy_into_inbox(&args.file, &inbox, &name)?;
    let outcome = pipeline
        .process(&uploader, &name, progress)
        .await
        .map_err(failed)?;
    let row = match outcome {
        Outcome::Finished(row) => *row,
        Outcome::Busy { .. } => {
            eprintln!("import: a running server took the file; waiting for its result");
            wait_for_other(&pipeline, &uploader.user, &name, before).await?
        }
        Outcome::Skipped => {
            let taken = pipeline
                .ledger()
                .latest_after(&uploader.user, &name, before)
                .await
                .map_err(failed)?;
            if taken.is_none() {
                return Err(Failure::failed(format!(
                    "{name} left the inbox before it could be processed"
                )));
            }
            wait_for_other(&pipeline, &uploader.user, &name, before).await?
        }
    };
    print_row(&row);
    if row.state == FileState::Error {
        return Err(Failure::failed(
            "the file was rejected; see the report above",
        ));
    }
    Ok(())
}

async fn dry_run(
    path: &Path,
    name: &str,
    uploader: &Uploader,
    progress: Option<Progress>,
    settings: Settings,
) -> Result<(), Failure> {
    let file = std::fs::File::open(path)
        .map_err(|e| Failure::failed(format!("cannot read {}: {e}", path.display())))?;
    let limits = settings.limits;
    let verdict = examine::examine(
        file,
        name,
        &uploader.customer,
        uploader.format.as_deref(),
        limits,
        progress,
    )
    .await
    .map_err(|e| Failure::failed(format!("cannot read {}: {e}", path.display())))?;
    println!("{name}: dry run, nothing stored or moved");
    match verdict {
        Verdict::Accepted { parsed, format, .. } => {
            let shipments: usize = parsed.orders.iter().map(|o| o.shipments.len()).sum();
            let goods: usize = parsed
                .orders
                .iter()
                .flat_map(|o| &o.shipments)
                .map(|s| s.goods.len())
                .sum();
            println!("  would be accepted as {format}");
            println!(
                "  {} orders, {shipments} shipments, {goods} goods lines, {} status updates",
                parsed.orders.len(),
                parsed.status_updates.len()
            );
            for warning in &parsed.warnings {
                println!("  warning: {warning}");
            }
            Ok(())
        }
        Verdict::Rejected { report, .. } => {
            println!("  would be rejected");
            for line in report.lines() {
                println!("  {line}");
            }
            Err(Failure::failed(
                "the file would be rejected; see the report above",
            ))
        }
    }
}

/// Puts a copy of `source` in the inbox as `name`: staged under a hidden name, synced, then put
/// in place without replacing an existing file. A file that already is that inbox file stays.
fn copy_into_inbox(source: &Path, inbox: &Path, name: &str) -> Result<(), Failure> {
    let target = inbox.join(name);
    let same = match (source.canonicalize(), target.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if same {
        return Ok(());
    }
    let copied = StagedFile::create(&target, 0o600)
        .and_then(|staged| {
            std::io::copy(&mut std::fs::File::open(source)?, &mut staged.file())?;
            staged.place(Placement::NoReplace)
        })
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                Failure::failed(format!(
                    "a file named {name} is already in the inbox {}; import that one or rename \
                     yours",
                    inbox.display()
                ))
            } else {
                Failure::failed(format!("cannot copy into {}: {e}", inbox.display()))
            }
        });
    copied
}

/// Waits for another process to finish the file and returns its ledger row.
async fn wait_for_other(
    pipeline: &inbox_processor::Pipeline,
    user: &str,
    name: &str,
    after: i64,
) -> Result<FileRow, Failure> {
    let deadline = Instant::now() + Duration::from_secs(3600);
    loop {
        let row = pipeline
            .ledger()
            .latest_after(user, name, after)
            .await
            .map_err(failed)?;
        if let Some(row) = row.filter(|r| r.closed_at.is_some()) {
            return Ok(row);
        }
        if Instant::now() > deadline {
            return Err(Failure::failed(
                "gave up waiting for the server to finish the file",
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn print_row(row: &FileRow) {
    let folder = if row.state == FileState::Error {
        ERROR
    } else {
        DONE
    };
    match row.state {
        FileState::Done => {
            println!(
                "{}: accepted as {}",
                row.name,
                row.format.as_deref().unwrap_or("?")
            );
            let c = row.counts.clone().unwrap_or_default();
            println!(
                "  {} orders, {} shipments, {} goods lines, {} new status events",
                c.orders, c.shipments, c.goods_lines, c.status_updates
            );
        }
        FileState::Error => println!("{}: rejected", row.name),
        other => println!("{}: {}", row.name, other.as_str()),
    }
    if let Some(placed) = &row.placed_name {
        if row.note.is_none() {
            println!("  moved to {folder}/{placed}");
            if row.state == FileState::Error {
                println!("  report in {folder}/{placed}{REPORT_SUFFIX}");
            }
        }
    }
    if let Some(note) = &row.note {
        println!("  note: {note}");
    }
    if let Some(report) = &row.report {
        let label = if row.state == FileState::Done {
            "warning: "
        } else {
            ""
        };
        for line in report.lines() {
            println!("  {label}{line}");
        }
    }
}

/// A progress line on standard error for big files: percent of bytes read.
fn progress_line(size: u64) -> Option<Progress> {
    if size < PROGRESS_FROM {
        return None;
    }
    let shown = Arc::new(AtomicU64::new(u64::MAX));
    Some(Arc::new(move |read: u64| {
        let percent = (read.saturating_mul(100) / size.max(1)).min(100);
        if shown.swap(percent, Ordering::Relaxed) != percent {
            let mut err = std::io::stderr().lock();
            let _ = write!(
                err,
                "\rimport: reading {percent:>3}% ({} of {} MiB)",
                read >> 20,
                size >> 20
            );
            if percent == 100 {
                let _ = writeln!(err);
            }
            let _ = err.flush();
        }
    }))
}

fn failed(e: impl std::fmt::Display) -> Failure {
    Failure::failed(e.to_string())
}
