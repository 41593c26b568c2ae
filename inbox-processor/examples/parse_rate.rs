//! The raw CSV parse rate, the ceiling of the inbox's commit rate: streams a CSV file through
//! `CsvStream` in batches as the inbox does (no database; batches are dropped) and prints
//! `rows`, `seconds` and `rows_per_sec`.
//! Used by `bench/inbox.sh`: `cargo run --release --example parse_rate -- FILE.csv`.

use std::io::BufRead;
use std::time::Instant;

use inbox_processor::parse;

// The same allocator as the server binary, so the rate is the one the server reaches.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    inbox_processor::memory::keep_freed_memory();
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: parse_rate FILE.csv");
        return std::process::ExitCode::from(2);
    };
    let rows = match std::fs::File::open(&path) {
        Ok(file) => std::io::BufReader::new(file)
            .lines()
            .count()
            .saturating_sub(1),
        Err(e) => {
            eprintln!("{path}: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    let started = Instant::now();
    let mut shipments = 0usize;
    let mut stream = parse::CsvStream::new();
    let read = std::fs::File::open(&path).and_then(|file| {
        stream.read(std::io::BufReader::new(file), 10_000, |batch| {
            shipments += batch.shipments();
        })
    });
    if let Err(e) = read {
        eprintln!("{path}: {e}");
        return std::process::ExitCode::from(1);
    }
    let result = stream.finish();
    let seconds = started.elapsed().as_secs_f64();
    match result {
        Ok(_) => {
            println!(
                "rows={rows} shipments={shipments} seconds={seconds:.3} rows_per_sec={:.0}",
                rows as f64 / seconds
            );
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{path}: {e}");
            std::process::ExitCode::from(1)
        }
    }
}
