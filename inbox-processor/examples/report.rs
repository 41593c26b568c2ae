//! Prints the parse result or rejection report of files: `cargo run --example report -- FILE...`.
//! CSV files are streamed from disk with `parse_csv_reader`, the others read whole.

use inbox_processor::parse::{self, Format};

fn main() {
    for path in std::env::args().skip(1) {
        let format = match Format::from_name(&path, None) {
            Ok(Some(format)) => format,
            Ok(None) => {
                println!("{path}: temporary name, not parsed");
                continue;
            }
            Err(err) => {
                println!("{path}: {err}");
                continue;
            }
        };
        println!("== {path}");
        let result = if format == Format::Csv {
            match std::fs::File::open(&path) {
                Ok(file) => match parse::parse_csv_reader(file) {
                    Ok(parsed) => Ok(parsed),
                    Err(parse::ReadError::Rejected(rejected)) => Err(rejected),
                    Err(parse::ReadError::Io(err)) => {
                        println!("{err}");
                        continue;
                    }
                },
                Err(err) => {
                    println!("{err}");
                    continue;
                }
            }
        } else {
            match std::fs::read(&path) {
                Ok(bytes) => parse::parse(format, &bytes),
                Err(err) => {
                    println!("{err}");
                    continue;
                }
            }
        };
        match result {
            Ok(parsed) => {
                println!(
                    "accepted: {} orders, {} status updates",
                    parsed.orders.len(),
                    parsed.status_updates.len()
                );
                for warning in &parsed.warnings {
                    println!("warning: {warning}");
                }
            }
            Err(rejected) => println!("{}", rejected.report()),
        }
    }
}
