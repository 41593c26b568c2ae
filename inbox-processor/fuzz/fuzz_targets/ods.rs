//! Fuzzes the .ods parser: any bytes must give orders or a rejection, never a panic or an
//! allocation beyond the limits.
#![no_main]

use inbox_processor::parse::{self, Format};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = parse::parse(Format::Ods, data);
});
