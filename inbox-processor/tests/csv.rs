//! CSV parser tests, driven by the fixtures in `tests/fixtures/csv/`.

mod common;

use common::*;
use inbox_processor::model::ShipmentRef;
use inbox_processor::parse::{self, Format, Location, ReadError};

const L: fn(u32) -> Location = Location::Line;

#[test]
fn good_orders() {
    let parsed = accepted("csv", "orders.csv");
    assert!(parsed.status_updates.is_empty());
    assert_eq!(parsed.orders.len(), 2);

    let po77 = &parsed.orders[0];
    assert_eq!(po77.customer_id, "1234");
    assert_eq!(po77.order_reference.as_deref(), Some("PO-77"));
    assert_eq!(po77.order_date, Some(date(2025, 6, 1)));
    assert_eq!(po77.shipments.len(), 2);

    let s1001 = &po77.shipments[0];
    assert_eq!(s1001.shipment_id, "S1001");
    assert_eq!(s1001.delivery.name.as_deref(), Some("Philips"));
    assert_eq!(s1001.delivery.address.as_deref(), Some("Boxbergerweg"));
    assert_eq!(s1001.delivery.house_nbr.as_deref(), Some("140"));
    assert_eq!(s1001.delivery.postcode.as_deref(), Some("7418 EV"));
    assert_eq!(s1001.delivery.country.as_deref(), Some("NL"));
    assert_eq!(s1001.delivery_date, Some(date(2025, 6, 2)));
    assert_eq!(s1001.delivery_time, Some(time(14, 20)));
    assert_eq!(
        s1001.goods.len(),
        2,
        "two rows of S1001 are two goods lines"
    );
    assert_eq!(s1001.goods[0].quantity.get(), 10);
    assert_eq!(s1001.goods[0].packing.as_deref(), Some("carton"));
    assert_eq!(s1001.goods[0].weight, dec("525.5"));
    assert_eq!(
        s1001.goods[0].goods_description.as_deref(),
        Some("TVs; fragile")
    );
    assert_eq!(s1001.goods[1].quantity.get(), 2);
    assert_eq!(
        s1001.goods[1].goods_description.as_deref(),
        Some("19\" monitors")
    );

    let s1002 = &po77.shipments[1];
    assert_eq!(
        s1002.delivery.country.as_deref(),
        Some("NL"),
        "country upper-cased"
    );
    assert_eq!(s1002.delivery_date, Some(date(2025, 6, 2)), "DD-MM-YY");
    assert_eq!(
        s1002.goods[0].weight.map(|w| w.to_string()).as_deref(),
        Some("0.75")
    );
    assert_eq!(
        s1002.goods[0].goods_description.as_deref(),
        Some("two\nlines")
    );

    let other = &parsed.orders[1];
    assert_eq!(other.customer_id, "5678");
    assert_eq!(other.order_reference, None);
    assert_eq!(other.shipments[0].shipment_id, "S2001");
    assert_eq!(other.shipments[0].goods[0].quantity.get(), 3);

    assert_eq!(parsed.warnings.len(), 1);
    assert_eq!(parsed.warnings[0].location, L(1));
    assert!(
        parsed.warnings[0].message.contains("\"Colour\""),
        "{}",
        parsed.warnings[0]
    );
}

#[test]
fn parsing_twice_gives_the_same_orders() {
    assert_eq!(accepted("csv", "orders.csv"), accepted("csv", "orders.csv"));
}

#[test]
fn synonyms_comma_bom_and_crlf() {
    let parsed = accepted("csv", "synonyms_bom.csv");
    let order = &parsed.orders[0];
    assert_eq!(
        order.customer_id, "7",
        "BOM stripped from the first header name"
    );
    let s = &order.shipments[0];
    assert_eq!(s.shipment_id, "Z-1");
    assert_eq!(s.delivery.name.as_deref(), Some("Jansen, Transport"));
    assert_eq!(s.delivery.city.as_deref(), Some("Zwolle"));
    assert_eq!(s.delivery.postcode.as_deref(), Some("8011 AA"));
    assert_eq!(s.goods[0].quantity.get(), 4);
    assert_eq!(s.goods[0].packing.as_deref(), Some("colli"));
    assert_eq!(s.goods[0].weight, dec("12.5"));
    assert_eq!(s.goods[0].loading_meters, dec("0.4"));
}

#[test]
fn land_without_prefix_is_unknown() {
    // `Land` alone is a synonym only after pickup/delivery; it is an unknown column here.
    let parsed = accepted("csv", "synonyms_bom.csv");
    assert_eq!(parsed.orders[0].shipments[0].delivery.country, None);
    assert_eq!(parsed.warnings.len(), 1);
    assert_eq!(
        parsed.warnings[0].to_string(),
        "line 1: unknown column \"Land\" (column 6) is ignored"
    );
}

#[test]
fn good_status_updates() {
    let parsed = accepted("csv", "status.csv");
    assert!(parsed.orders.is_empty());
    let [delivered, damaged] = parsed.status_updates.as_slice() else {
        panic!("expected two updates: {:?}", parsed.status_updates);
    };
    assert_eq!(delivered.shipment, ShipmentRef::ShipmentId("S1001".into()));
    assert_eq!(delivered.at, date(2025, 6, 2).and_time(time(14, 20)));
    assert_eq!(delivered.text, "delivered");
    assert!(!delivered.internal);
    assert_eq!(delivered.location.as_deref(), Some("Deventer"));
    assert_eq!(delivered.signee.as_deref(), Some("J. Jansen"));
    assert_eq!(damaged.text, "damaged");
    assert!(damaged.internal, "leading _ marks an internal status");
    assert_eq!(damaged.remarks.as_deref(), Some("box dented, photo taken"));
}

#[test]
fn status_by_tracking_number_and_rename() {
    let parsed = accepted("csv", "status_by_tracking.csv");
    let [by_tracking, rename] = parsed.status_updates.as_slice() else {
        panic!("expected two updates");
    };
    assert_eq!(
        by_tracking.shipment,
        ShipmentRef::TrackingNbr("3SABC123".into())
    );
    assert_eq!(by_tracking.text, "in_transit");
    assert_eq!(rename.shipment, ShipmentRef::ShipmentId("S1001-A".into()));
    assert_eq!(rename.org_shipment_id.as_deref(), Some("S1001"));
}

#[test]
fn truncated_mid_quote() {
    let rejected = rejected("csv", "truncated.csv");
    let p = problem(&rejected, L(2), None);
    assert!(p.reason.contains("never closed"), "{p}");
}

#[test]
fn latin1_is_decoded_with_a_warning() {
    let parsed = accepted("csv", "latin1.csv");
    let s = &parsed.orders[0].shipments[0];
    assert_eq!(s.delivery.name.as_deref(), Some("Café de Paris"));
    assert_eq!(s.delivery.city.as_deref(), Some("Köln"));
    assert_eq!(
        parsed.orders[0].remarks.as_deref(),
        Some("€ 50 paid"),
        "Windows-1252, not ISO-8859-1"
    );
    assert_eq!(parsed.warnings.len(), 1);
    assert_eq!(parsed.warnings[0].location, L(2));
    assert!(parsed.warnings[0].message.contains("Windows-1252"));
}

#[test]
fn mixed_encodings_are_rejected() {
    let rejected = rejected("csv", "mixed_encoding.csv");
    assert_eq!(places(&rejected), vec![(L(3), None)]);
    assert!(rejected.problems[0].reason.contains("mixes text encodings"));
}

#[test]
fn missing_required_fields() {
    let rejected = rejected("csv", "missing_required.csv");
    assert_eq!(
        places(&rejected),
        vec![
            (L(3), Some("customerID")),
            (L(4), Some("quantity")),
            (L(5), Some("deliveryName")),
        ]
    );
    assert_eq!(
        rejected.problems[0].to_string(),
        "line 3, field customerID: required field is missing"
    );
    assert!(rejected.problems[2]
        .reason
        .contains("S1004 needs a deliveryName or a deliveryAddress"));
}

#[test]
fn missing_required_column() {
    let rejected = rejected("csv", "missing_column.csv");
    assert_eq!(
        places(&rejected),
        vec![(L(1), Some("customerID")), (L(1), Some("quantity"))]
    );
    assert_eq!(
        rejected.problems[0].reason,
        "required column is missing from the header"
    );
}

#[test]
fn bad_values() {
    let rejected = rejected("csv", "bad_date.csv");
    assert_eq!(
        rejected.problems[0].to_string(),
        "line 2, field deliveryDate, value \"31-02-2025\": not a date (use YYYY-MM-DD, DD-MM-YYYY or DD-MM-YY)"
    );
    assert_eq!(
        places(&rejected),
        vec![
            (L(2), Some("deliveryDate")),
            (L(3), Some("deliveryTime")),
            (L(3), Some("deliveryCountry")),
            (L(3), Some("quantity")),
            (L(3), Some("weight")),
        ]
    );
    assert!(problem(&rejected, L(3), Some("weight"))
        .reason
        .contains("point"));
    assert_eq!(
        problem(&rejected, L(3), Some("quantity")).value.as_deref(),
        Some("0")
    );
}

#[test]
fn duplicate_rows_with_conflicting_data() {
    let rejected = rejected("csv", "conflict.csv");
    assert_eq!(
        places(&rejected),
        vec![(L(3), Some("deliveryCity")), (L(4), Some("customerID"))]
    );
    let city = &rejected.problems[0];
    assert_eq!(city.value.as_deref(), Some("Apeldoorn"));
    assert!(
        city.reason.contains("\"Deventer\"") && city.reason.contains("line 2"),
        "{city}"
    );
    // 02-06-2025 on line 3 is the same date as 2025-06-02 on line 2: no conflict.
    assert!(rejected.problems[1]
        .reason
        .contains("shipment S1001 appears earlier"));
}

#[test]
fn empty_file() {
    let rejected = rejected("csv", "empty.csv");
    assert_eq!(
        rejected.report(),
        "the file was rejected: 1 problem found\nfile: the file is empty"
    );
}

#[test]
fn header_only() {
    let rejected = rejected_bytes(Format::Csv, b"customerID;shipmentID;deliveryName;colli\n");
    assert_eq!(
        rejected.problems[0].reason,
        "the file holds no orders and no status updates"
    );
}

#[test]
fn short_rows_and_blank_rows() {
    let rejected = rejected("csv", "short_row.csv");
    assert_eq!(places(&rejected), vec![(L(3), None)]);
    assert_eq!(
        rejected.problems[0].reason,
        "has 2 values but the header has 4 columns"
    );
}

#[test]
fn one_megabyte_value() {
    let mut csv = b"customerID;shipmentID;deliveryName;colli;remarks\n1234;S1;Philips;1;".to_vec();
    csv.extend(std::iter::repeat_n(b'x', 1_000_000));
    csv.extend(b"\n1234;S2;Philips;1;ok\n");
    let rejected = rejected_bytes(Format::Csv, &csv);
    assert_eq!(places(&rejected), vec![(L(2), Some("remarks"))]);
    let p = &rejected.problems[0];
    assert_eq!(p.reason, "too long (1000000 characters, at most 1000)");
    assert_eq!(
        p.value.as_ref().map(|v| v.chars().count()),
        Some(83),
        "value cut in the report"
    );
}

#[test]
fn line_over_the_limit_stops_reading() {
    let mut csv = b"customerID;shipmentID;deliveryName;colli;remarks\n1234;S1;Philips;1;".to_vec();
    csv.extend(std::iter::repeat_n(b'x', 3 << 20));
    csv.extend(b"\n1234;S2;Philips;1;ok\n");
    let rejected = rejected_bytes(Format::Csv, &csv);
    assert_eq!(places(&rejected), vec![(L(2), None)]);
    assert!(rejected.problems[0]
        .reason
        .contains("longer than 1048576 bytes"));
}

#[test]
fn every_problem_is_reported_up_to_the_cap() {
    let mut csv = String::from("customerID;shipmentID;deliveryName;colli\n");
    for n in 0..1500 {
        csv.push_str(&format!("1234;S{n};Philips;zero\n"));
    }
    let rejected = rejected_bytes(Format::Csv, csv.as_bytes());
    assert_eq!(rejected.problems.len(), 1000);
    assert_eq!(rejected.more, 500);
    assert_eq!(rejected.problems[999].location, L(1001));
    assert!(rejected.report().ends_with("and 500 more problems"));
}

#[test]
fn streaming_reader_matches_parse() {
    let bytes = fixture("csv", "orders.csv");
    let streamed = parse::parse_csv_reader(bytes.as_slice());
    let streamed = streamed.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(streamed, accepted("csv", "orders.csv"));
}

#[test]
fn streaming_reader_reports_io_errors_apart() {
    struct Broken;
    impl std::io::Read for Broken {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk on fire"))
        }
    }
    assert!(matches!(
        parse::parse_csv_reader(Broken),
        Err(ReadError::Io(_))
    ));
    let rejected = parse::parse_csv_reader(&b""[..]);
    assert!(matches!(rejected, Err(ReadError::Rejected(_))));
}

#[test]
fn streaming_a_big_file_in_small_reads() {
    // A generated file read through a reader that hands out a few bytes at a time: the parser
    // must not depend on getting whole lines or the whole file at once.
    struct Trickle<'a>(&'a [u8]);
    impl std::io::Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(7).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }
    let mut csv = String::from("customerID;shipmentID;deliveryName;colli;weight\n");
    for n in 0..20_000 {
        csv.push_str(&format!(
            "C{};S{};\"Name {}\";{};{n}.5\n",
            n / 2 % 7,
            n / 2,
            n / 2,
            n % 9 + 1
        ));
    }
    let parsed = parse::parse_csv_reader(Trickle(csv.as_bytes()));
    let parsed = parsed.unwrap_or_else(|e| panic!("{e}"));
    let shipments: usize = parsed.orders.iter().map(|o| o.shipments.len()).sum();
    let goods: usize = parsed
        .orders
        .iter()
        .flat_map(|o| &o.shipments)
        .map(|s| s.goods.len())
        .sum();
    assert_eq!(shipments, 10_000);
    assert_eq!(goods, 20_000);
}

#[test]
fn rows_may_differ_only_in_meaningless_columns() {
    // A trailing separator on some lines, and a missing value for an unknown last column.
    let csv =
        b"customerID;shipmentID;deliveryName;colli;notes\n1234;S1;Philips;1;x;\n1234;S2;ASML;2\n";
    let parsed = parse::parse(Format::Csv, csv).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(parsed.orders[0].shipments.len(), 2);
    // An extra non-empty value, or a missing known one, is a problem.
    let rejected = rejected_bytes(
        Format::Csv,
        b"customerID;shipmentID;deliveryName;colli\n1;S1;A;1;surprise\n",
    );
    assert_eq!(places(&rejected), vec![(L(2), None)]);
}

#[test]
fn order_values_must_agree_across_shipments() {
    let csv = b"customerID;orderReference;orderDate;shipmentID;deliveryName;colli\n\
1234;PO-1;2025-06-01;S1;A;1\n1234;PO-1;2025-06-03;S2;B;1\n1234;;2025-06-01;S3;C;1\n";
    let rejected = rejected_bytes(Format::Csv, csv);
    assert_eq!(places(&rejected), vec![(L(3), Some("orderDate"))]);
    assert_eq!(
        rejected.problems[0].to_string(),
        "line 3, field orderDate, value \"2025-06-03\": conflicts with \"2025-06-01\" given for \
         order PO-1 of customer 1234 at line 2"
    );
}

#[test]
fn header_with_many_repeated_columns() {
    // Regression: duplicate columns were found by rescanning the header, quadratic in its width.
    let mut csv = String::from("customerID;shipmentID;deliveryName");
    for _ in 0..100_000 {
        csv.push_str(";colli");
    }
    csv.push('\n');
    let rejected = rejected_bytes(Format::Csv, csv.as_bytes());
    assert_eq!(rejected.problems.len(), 1000);
    assert_eq!(rejected.more, 99_999 - 1000);
    assert_eq!(
        rejected.problems[0].reason,
        "columns 4 and 5 both mean quantity; keep one"
    );
}
