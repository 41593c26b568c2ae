//! In-memory parsers stop when asked (the inbox's time limit ran out): the file is rejected
//! saying so, and a good file parses the same with a flag that is never set.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::fixture;
use inbox_processor::parse::{self, Format, Location};

const STOPPED: &str = "reading the file was stopped before its end";

/// An XML file of `n` shipments, big enough that parsing it takes a while.
fn big_xml(n: usize) -> Vec<u8> {
    let mut xml = String::from("<orders><order><customerID>1234</customerID><shipments>");
    for i in 0..n {
        xml.push_str(&format!(
            "<shipment><shipmentID>S{i}</shipmentID><deliveryName>Philips</deliveryName>\
             <goods><good><quantity>1</quantity></good></goods></shipment>"
        ));
    }
    xml.push_str("</shipments></order></orders>");
    xml.into_bytes()
}

fn stopped_problem(result: Result<parse::Parsed, parse::Rejected>) {
    let Err(rejected) = result else {
        panic!("a stopped parse must not be accepted");
    };
    assert!(
        rejected
            .problems
            .iter()
            .any(|p| p.location == Location::File && p.reason == STOPPED),
        "{}",
        rejected.report()
    );
}

#[test]
fn every_in_memory_format_stops_when_the_flag_is_set() {
    let files: [(Format, Vec<u8>); 5] = [
        (Format::Xml, fixture("xml", "orders.xml")),
        (Format::Ttm, fixture("ttm", "orders.ttm")),
        (Format::Xlsx, fixture("xlsx", "orders.xlsx")),
        (Format::Xls, fixture("xls", "orders.xls")),
        (Format::Ods, fixture("ods", "orders.ods")),
    ];
    for (format, bytes) in files {
        let flag = Arc::new(AtomicBool::new(false));
        assert!(
            parse::parse_until(format, &bytes, Arc::clone(&flag)).is_ok(),
            "{format:?}: a flag never set changes nothing"
        );
        flag.store(true, Ordering::Relaxed);
        stopped_problem(parse::parse_until(format, &bytes, flag));
    }
}

#[test]
fn a_long_xml_parse_stops_midway() {
    let bytes = big_xml(300_000);
    let flag = Arc::new(AtomicBool::new(false));
    let setter = {
        let flag = Arc::clone(&flag);
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            flag.store(true, Ordering::Relaxed);
        })
    };
    let result = parse::parse_until(Format::Xml, &bytes, flag);
    setter.join().expect("the setter thread");
    stopped_problem(result);
}
