//! Helpers shared by the parser tests: loading fixtures and looking at results.
#![allow(dead_code)]

use std::path::PathBuf;

use inbox_processor::parse::{self, Format, Location, Parsed, Problem, Rejected};

/// The bytes of `tests/fixtures/<dir>/<name>`.
pub fn fixture(dir: &str, name: &str) -> Vec<u8> {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "fixtures", dir, name]
        .iter()
        .collect();
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Parses a fixture, picking the format from its name.
pub fn parse_fixture(dir: &str, name: &str) -> Result<Parsed, Rejected> {
    let format = Format::from_name(name, None)
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("{name} is a temporary name"));
    parse::parse(format, &fixture(dir, name))
}

/// A fixture that must parse.
pub fn accepted(dir: &str, name: &str) -> Parsed {
    match parse_fixture(dir, name) {
        Ok(parsed) => parsed,
        Err(rejected) => panic!("{dir}/{name} was rejected:\n{}", rejected.report()),
    }
}

/// A fixture that must be rejected.
pub fn rejected(dir: &str, name: &str) -> Rejected {
    match parse_fixture(dir, name) {
        Ok(parsed) => panic!("{dir}/{name} was accepted: {parsed:#?}"),
        Err(rejected) => rejected,
    }
}

/// Bytes that must be rejected.
pub fn rejected_bytes(format: Format, bytes: &[u8]) -> Rejected {
    match parse::parse(format, bytes) {
        Ok(parsed) => panic!("accepted: {parsed:#?}"),
        Err(rejected) => rejected,
    }
}

/// Each problem as (location, field) for compact assertions.
pub fn places(rejected: &Rejected) -> Vec<(Location, Option<&str>)> {
    rejected
        .problems
        .iter()
        .map(|p| (p.location, p.field.as_deref()))
        .collect()
}

/// The problem at `location` about `field`, which must exist.
pub fn problem<'a>(rejected: &'a Rejected, location: Location, field: Option<&str>) -> &'a Problem {
    rejected
        .problems
        .iter()
        .find(|p| p.location == location && p.field.as_deref() == field)
        .unwrap_or_else(|| {
            panic!(
                "no problem at {location} for {field:?} in:\n{}",
                rejected.report()
            )
        })
}

/// A date.
pub fn date(y: i32, m: u32, d: u32) -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap_or_else(|| panic!("bad test date"))
}

/// A time.
pub fn time(h: u32, m: u32) -> chrono::NaiveTime {
    chrono::NaiveTime::from_hms_opt(h, m, 0).unwrap_or_else(|| panic!("bad test time"))
}

/// A decimal.
pub fn dec(s: &str) -> Option<inbox_processor::model::Decimal> {
    Some(inbox_processor::model::Decimal::parse(s).unwrap_or_else(|e| panic!("{e}")))
}
