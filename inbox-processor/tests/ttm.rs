//! TTM parser tests, driven by the fixtures in `tests/fixtures/ttm/`.

mod common;

use common::*;
use inbox_processor::model::ShipmentRef;
use inbox_processor::parse::{Format, Location};

fn b(number: u32, line: u32) -> Location {
    Location::Block { number, line }
}

#[test]
fn good_orders() {
    let parsed = accepted("ttm", "orders.ttm");
    assert_eq!(parsed.orders.len(), 1);
    let order = &parsed.orders[0];
    assert_eq!(order.customer_id, "1234");
    assert_eq!(order.order_reference.as_deref(), Some("PO-77"));
    assert_eq!(
        order.remarks.as_deref(),
        Some("call ahead: gate 3"),
        "split on the first ` : `"
    );
    let [s1, s2] = order.shipments.as_slice() else {
        panic!("expected two shipments");
    };
    assert_eq!(s1.shipment_id, "S1001");
    assert_eq!(s1.delivery.name.as_deref(), Some("Philips"));
    assert_eq!(s1.delivery.postcode.as_deref(), Some("7418 EV"));
    assert_eq!(s1.delivery_date, Some(date(2025, 6, 2)));
    assert_eq!(s1.goods.len(), 2);
    assert_eq!(s1.goods[0].quantity.get(), 10);
    assert_eq!(s1.goods[0].packing.as_deref(), Some("pallet"));
    assert_eq!(s1.goods[0].weight, dec("525.5"));
    assert_eq!(s1.goods[1].quantity.get(), 2);
    assert_eq!(s1.goods[1].packing.as_deref(), Some("carton"));
    assert_eq!(
        s1.goods[1].goods_description.as_deref(),
        Some("spare parts")
    );
    assert_eq!(s2.shipment_id, "S1002");
    assert_eq!(s2.delivery.address.as_deref(), Some("De Run 6501"));
    assert_eq!(
        s2.pickup.name2.as_deref(),
        Some("Dock B"),
        "pickupName2 is not goods line 2"
    );
    assert_eq!(s2.goods.len(), 1);
    assert_eq!(parsed.warnings.len(), 1);
    assert_eq!(
        parsed.warnings[0].to_string(),
        "block 1 (line 19): unknown field \"colour\" is ignored"
    );
}

#[test]
fn good_status_updates() {
    let parsed = accepted("ttm", "status.ttm");
    assert!(parsed.orders.is_empty());
    let [delivered, damaged] = parsed.status_updates.as_slice() else {
        panic!("expected two updates");
    };
    assert_eq!(delivered.shipment, ShipmentRef::ShipmentId("S1001".into()));
    assert_eq!(delivered.at, date(2025, 6, 2).and_time(time(14, 20)));
    assert_eq!(delivered.text, "delivered");
    assert_eq!(delivered.signee.as_deref(), Some("J. Jansen"));
    assert_eq!(
        damaged.shipment,
        ShipmentRef::ShipmentId("S1002".into()),
        "orderID is shipmentID"
    );
    assert!(damaged.internal);
    assert_eq!(damaged.remarks.as_deref(), Some("box dented"));
}

#[test]
fn unterminated_block() {
    let rejected = rejected("ttm", "truncated.ttm");
    assert_eq!(places(&rejected), vec![(b(2, 7), None)]);
    assert!(rejected.problems[0].reason.contains("not closed"));
}

#[test]
fn block_started_inside_a_block() {
    let ttm =
        b"<!-- start order\ncustomerID : 1\n<!-- start order\ncustomerID : 1\nshipmentID : S1\n\
deliveryName : A\nquantity1 : 1\n-->\n";
    let rejected = rejected_bytes(Format::Ttm, ttm);
    assert_eq!(places(&rejected), vec![(b(1, 1), None)]);
    assert!(rejected.problems[0].reason.contains("before the next"));
}

#[test]
fn latin1_is_decoded_with_a_warning() {
    let parsed = accepted("ttm", "latin1.ttm");
    assert_eq!(
        parsed.orders[0].shipments[0].delivery.name.as_deref(),
        Some("Café Köln")
    );
    assert_eq!(parsed.warnings[0].location, Location::Line(4));
}

#[test]
fn missing_required_fields() {
    let rejected = rejected("ttm", "missing_required.ttm");
    assert_eq!(
        places(&rejected),
        vec![
            (b(1, 1), Some("customerID")),
            (b(2, 10), Some("quantity1")),
            (b(3, 13), Some("quantity")),
        ]
    );
}

#[test]
fn bad_values_and_lines() {
    let rejected = rejected("ttm", "bad_date.ttm");
    assert_eq!(
        rejected.problems[0].to_string(),
        "block 1 (line 5), field deliveryDate, value \"31-02-2025\": not a date (use YYYY-MM-DD, DD-MM-YYYY or DD-MM-YY)"
    );
    assert_eq!(rejected.problems[1].location, b(1, 7));
    assert_eq!(rejected.problems[1].reason, "not a `field : value` line");
}

#[test]
fn blocks_with_conflicting_data() {
    let rejected = rejected("ttm", "conflict.ttm");
    assert_eq!(
        places(&rejected),
        vec![
            (b(2, 12), Some("deliveryCity")),
            (b(2, 13), Some("deliveryCity"))
        ]
    );
    assert!(rejected.problems[0].reason.contains("block 1 (line 5)"));
    assert!(rejected.problems[1].reason.contains("given twice"));
}

#[test]
fn no_blocks() {
    let rejected = rejected_bytes(Format::Ttm, b"just a mail\nwithout orders\n");
    assert_eq!(
        rejected.report(),
        "the file was rejected: 1 problem found\nfile: no `<!-- start order` block found"
    );
    let rejected = rejected_bytes(Format::Ttm, b"");
    assert_eq!(rejected.problems.len(), 1);
}

#[test]
fn one_megabyte_line() {
    let mut ttm =
        String::from("<!-- start order\ncustomerID : 1\nshipmentID : S1\ndeliveryName : ");
    ttm.push_str(&"x".repeat(1_000_000));
    ttm.push_str("\nquantity1 : 1\n-->\n");
    let rejected = rejected_bytes(Format::Ttm, ttm.as_bytes());
    assert_eq!(places(&rejected), vec![(b(1, 4), Some("deliveryName"))]);
    assert_eq!(
        rejected.problems[0].reason,
        "too long (1000000 characters, at most 1000)"
    );
}

#[test]
fn windows_line_ends() {
    let ttm = "<!-- start order\r\ncustomerID : 1\r\nshipmentID : S1\r\ndeliveryName : A\r\nquantity1 : 1\r\n-->\r\n";
    let parsed = inbox_processor::parse::parse(Format::Ttm, ttm.as_bytes())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        parsed.orders[0].shipments[0].delivery.name.as_deref(),
        Some("A")
    );
}

#[test]
fn many_goods_lines_in_any_order() {
    // Regression: goods lines were looked up by a linear scan, quadratic in their number.
    let mut ttm =
        String::from("<!-- start order\ncustomerID : 1\nshipmentID : S1\ndeliveryName : A\n");
    for n in (1..=20_000).rev() {
        ttm.push_str(&format!("quantity{n} : {n}\npacking{n} : box\n"));
    }
    ttm.push_str("-->\n");
    let parsed = inbox_processor::parse::parse(Format::Ttm, ttm.as_bytes())
        .unwrap_or_else(|e| panic!("{e}"));
    let goods = &parsed.orders[0].shipments[0].goods;
    assert_eq!(goods.len(), 20_000);
    assert_eq!(goods[0].quantity.get(), 1, "goods lines in number order");
    assert_eq!(goods[19_999].quantity.get(), 20_000);
}
