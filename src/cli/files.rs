//! `freightdrop files [--user NAME] [--state STATE] [--limit N] [--json]`: lists the inbox
//! ledger, newest first: which files came in, what they turned into and where they are now.

use clap::Args;
use inbox_processor::filing::{DONE, ERROR};
use inbox_processor::{FileRow, FileState, Ledger, ListFilter};

use super::Failure;
use crate::users::UserStore;

/// Arguments of `files`.
#[derive(Debug, Args)]
pub(crate) struct FilesArgs {
    /// Only this user's files.
    #[arg(long)]
    user: Option<String>,
    /// Only files in this state: processing, done, error or vanished.
    #[arg(long)]
    state: Option<String>,
    /// At most this many files.
    #[arg(long, default_value_t = 100)]
    limit: u32,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

pub(crate) async fn run(args: FilesArgs, store: &UserStore) -> Result<(), Failure> {
    let state = match args.state.as_deref() {
        Some(text) => Some(FileState::parse(&text.to_ascii_lowercase()).ok_or_else(|| {
            Failure::usage(format!(
                "unknown state {text:?}: use processing, done, error or vanished"
            ))
        })?),
        None => None,
    };
    let ledger = Ledger::new(store.db().pool().clone());
    let rows = ledger
        .list(&ListFilter {
            user: args.user,
            state,
            limit: Some(args.limit),
            ..ListFilter::default()
        })
        .await
        .map_err(|e| Failure::failed(e.to_string()))?;
    if args.json {
        let text = serde_json::to_string_pretty(&rows)
            .map_err(|e| Failure::failed(format!("cannot write JSON: {e}")))?;
        println!("{text}");
        return Ok(());
    }
    println!(
        "{:>6} {:<16} {:<30} {:<10} {:<19} {:<36} SUMMARY",
        "ID", "USER", "FILE", "STATE", "RECEIVED (UTC)", "NOW IN"
    );
    for row in &rows {
        println!(
            "{:>6} {:<16} {:<30} {:<10} {:<19} {:<36} {}",
            row.id,
            row.user,
            row.name,
            row.state.as_str(),
            time(row.received_at),
            place(row),
            summary(row)
        );
    }
    Ok(())
}

fn time(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

/// Where the file is now, as far as the ledger knows.
fn place(row: &FileRow) -> String {
    if row.closed_at.is_none() {
        return "inbox".to_owned();
    }
    match (&row.placed_name, &row.note, row.state) {
        (Some(name), None, FileState::Done) => format!("{DONE}/{name}"),
        (Some(name), None, FileState::Error) => format!("{ERROR}/{name}"),
        _ => "-".to_owned(),
    }
}

fn summary(row: &FileRow) -> String {
    let text = match row.state {
        FileState::Done => {
            let c = row.counts.clone().unwrap_or_default();
            format!(
                "{} orders, {} shipments, {} goods lines, {} new status events",
                c.orders, c.shipments, c.goods_lines, c.status_updates
            )
        }
        FileState::Error => row
            .report
            .as_deref()
            .and_then(|r| r.lines().nth(1).or_else(|| r.lines().next()))
            .unwrap_or("")
            .to_owned(),
        FileState::Processing => format!("attempt {}", row.attempts),
        FileState::Vanished => "left the inbox before it was processed".to_owned(),
    };
    match &row.note {
        Some(note) => format!("{text} ({note})"),
        None => text,
    }
}
