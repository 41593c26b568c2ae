//! Fuzzes the CSV parser, both from memory and as a stream: it must answer, never panic, and
//! both ways must agree.
#![no_main]

use inbox_processor::parse::{self, Format};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let whole = parse::parse(Format::Csv, data);
    let streamed = parse::parse_csv_reader(data);
    assert_eq!(whole.is_ok(), streamed.is_ok());
});
