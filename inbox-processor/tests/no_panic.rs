//! Arbitrary input never panics a parser: every format answers with a result or a rejection.
//!
//! Random bytes rarely look like a file, so the strategies also mutate real fixtures and build
//! near-valid text from format fragments. The fuzz targets in `fuzz/` go further.

mod common;

use common::fixture;
use inbox_processor::parse::{self, Format};
use proptest::prelude::*;

fn check(format: Format, bytes: &[u8]) {
    match parse::parse(format, bytes) {
        Ok(parsed) => {
            for order in &parsed.orders {
                assert!(!order.shipments.is_empty());
                for shipment in &order.shipments {
                    assert!(!shipment.goods.is_empty());
                }
            }
        }
        Err(rejected) => {
            assert!(!rejected.problems.is_empty());
            let _ = rejected.report();
        }
    }
}

/// A fixture with a few bytes changed, cut or inserted.
fn mutated(base: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let len = base.len().max(1);
    (
        prop::collection::vec((0..len, any::<u8>()), 0..8),
        0..=len,
        prop::collection::vec(any::<u8>(), 0..16),
    )
        .prop_map(move |(edits, cut, insert)| {
            let mut bytes = base.clone();
            for (at, byte) in edits {
                if let Some(b) = bytes.get_mut(at) {
                    *b = byte;
                }
            }
            bytes.truncate(cut);
            let at = cut / 2;
            bytes.splice(at..at, insert);
            bytes
        })
}

/// Text made of the pieces the text formats are made of.
fn fragments() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop::sample::select(vec![
        "customerID",
        "shipmentID",
        "quantity1",
        "status",
        "deliveryName",
        ";",
        ",",
        "\"",
        "\"\"",
        "\n",
        "\r\n",
        " : ",
        ":",
        "<!-- start order",
        "-->",
        "<orders>",
        "</orders>",
        "<order>",
        "<shipment>",
        "</shipment>",
        "<good>",
        "<quantity>",
        "</quantity>",
        "&amp;",
        "&x;",
        "<!DOCTYPE x [<!ENTITY x \"y\">]>",
        "<![CDATA[",
        "]]>",
        "+2025-06-02 14:20 delivered",
        "31-02-2025",
        "2025-06-02",
        "10",
        "0",
        "-1",
        "1.5",
        "1,5",
        "é",
        "\u{feff}",
        "#",
        "_",
    ]);
    prop::collection::vec(piece, 0..60).prop_map(|pieces| pieces.concat().into_bytes())
}

// 256 cases a test by default; set PROPTEST_CASES for a longer run.
proptest! {
    #[test]
    fn random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        for format in Format::ALL {
            check(format, &bytes);
        }
        let _ = parse::parse_csv_reader(bytes.as_slice());
    }

    #[test]
    fn format_fragments(bytes in fragments()) {
        for format in [Format::Csv, Format::Xml, Format::Ttm] {
            check(format, &bytes);
        }
    }

    #[test]
    fn mutated_csv(bytes in mutated(fixture("csv", "orders.csv"))) {
        check(Format::Csv, &bytes);
    }

    #[test]
    fn mutated_xml(bytes in mutated(fixture("xml", "orders.xml"))) {
        check(Format::Xml, &bytes);
    }

    #[test]
    fn mutated_ttm(bytes in mutated(fixture("ttm", "orders.ttm"))) {
        check(Format::Ttm, &bytes);
    }

    #[test]
    fn mutated_xlsx(bytes in mutated(fixture("xlsx", "orders.xlsx"))) {
        check(Format::Xlsx, &bytes);
    }

    #[test]
    fn mutated_xls(bytes in mutated(fixture("xls", "orders.xls"))) {
        check(Format::Xls, &bytes);
    }

    #[test]
    fn mutated_ods(bytes in mutated(fixture("ods", "orders.ods"))) {
        check(Format::Ods, &bytes);
    }

    #[test]
    fn any_file_name(name in ".{0,40}", over in prop::option::of("[a-zA-Z+.]{0,6}")) {
        let _ = Format::from_name(&name, over.as_deref());
    }
}
