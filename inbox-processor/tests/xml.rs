//! XML parser tests, driven by the fixtures in `tests/fixtures/xml/`.

mod common;

use common::*;
use inbox_processor::model::ShipmentRef;
use inbox_processor::parse::{Format, Location};

const L: fn(u32) -> Location = Location::Line;

#[test]
fn good_orders() {
    let parsed = accepted("xml", "orders.xml");
    assert_eq!(
        parsed.orders.len(),
        1,
        "two <order>s with one key are one order"
    );
    let order = &parsed.orders[0];
    assert_eq!(order.customer_id, "1234");
    assert_eq!(order.cn.as_deref(), Some("12021"));
    assert_eq!(order.order_reference.as_deref(), Some("PO-77"));
    assert_eq!(
        order.order_date,
        Some(date(2025, 6, 1)),
        "element names are case-insensitive"
    );
    assert_eq!(order.freight_cost, dec("120.5"));
    assert_eq!(order.freight_cost_currency.as_deref(), Some("EUR"));
    let ids: Vec<&str> = order
        .shipments
        .iter()
        .map(|s| s.shipment_id.as_str())
        .collect();
    assert_eq!(ids, ["S1001", "S1002", "S1003"]);

    let s = &order.shipments[0];
    assert_eq!(s.pickup.name.as_deref(), Some("Warehouse & Co"));
    assert_eq!(s.pickup.country.as_deref(), Some("NL"));
    assert_eq!(s.delivery.name.as_deref(), Some("Philips"));
    assert_eq!(s.delivery.postcode.as_deref(), Some("7418 EV"));
    assert_eq!(s.delivery_date, Some(date(2025, 6, 2)));
    assert_eq!(s.delivery_time, Some(time(8, 0)));
    assert_eq!(s.delivery_time2, Some(time(12, 0)));
    assert_eq!(s.cod_amount, dec("99.95"));
    assert_eq!(s.cod_currency.as_deref(), Some("EUR"));
    assert_eq!(s.goods.len(), 2);
    assert_eq!(s.goods[0].quantity.get(), 10);
    assert_eq!(s.goods[0].packing.as_deref(), Some("carton"));
    assert_eq!(s.goods[0].weight, dec("525"));
    assert_eq!(s.goods[1].quantity.get(), 1);
    assert_eq!(
        s.goods[1].goods_description.as_deref(),
        Some("Paint <flammable>")
    );
    assert_eq!(s.goods[1].dg_class.as_deref(), Some("3"));
    assert_eq!(s.goods[1].un_number.as_deref(), Some("1263"));

    assert_eq!(
        order.shipments[1].delivery.address.as_deref(),
        Some("De Run 6501")
    );
    assert_eq!(order.shipments[2].delivery.name.as_deref(), Some("Café é"));

    assert_eq!(parsed.warnings.len(), 1);
    assert_eq!(
        parsed.warnings[0].to_string(),
        "line 33: unknown element <colour> is ignored"
    );
}

#[test]
fn good_status_updates() {
    let parsed = accepted("xml", "status.xml");
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
        ShipmentRef::TrackingNbr("3SABC123".into())
    );
    assert!(damaged.internal);
    assert_eq!(damaged.text, "damaged");
}

#[test]
fn truncated() {
    let rejected = rejected("xml", "truncated.xml");
    assert_eq!(places(&rejected), vec![(L(13), None)]);
    assert!(
        rejected.problems[0].reason.contains("XML"),
        "{}",
        rejected.report()
    );
}

#[test]
fn truncated_between_elements() {
    let xml = b"<orders><order><customerID>1</customerID><shipments>\n<shipment><shipmentID>S1</shipmentID>";
    let rejected = rejected_bytes(Format::Xml, xml);
    let p = problem(&rejected, L(2), None);
    assert_eq!(
        p.reason,
        "the file ends inside <shipment>: it is cut off or a closing tag is missing"
    );
}

#[test]
fn latin1_is_decoded_with_a_warning() {
    let parsed = accepted("xml", "latin1.xml");
    let s = &parsed.orders[0].shipments[0];
    assert_eq!(s.delivery.name.as_deref(), Some("Café Köln"));
    assert_eq!(parsed.warnings.len(), 1);
    assert_eq!(parsed.warnings[0].location, L(3));
}

#[test]
fn missing_required_fields() {
    let rejected = rejected("xml", "missing_required.xml");
    assert_eq!(
        places(&rejected),
        vec![
            (L(5), Some("customerID")),
            (L(15), Some("deliveryName")),
            (L(17), Some("quantity")),
            (L(19), Some("quantity")),
        ]
    );
    assert!(rejected.problems[3]
        .reason
        .contains("S1003 has no goods lines"));
}

#[test]
fn bad_values() {
    let rejected = rejected("xml", "bad_date.xml");
    assert_eq!(
        rejected.problems[0].to_string(),
        "line 8, field deliveryDate, value \"31-02-2025\": not a date (use YYYY-MM-DD, DD-MM-YYYY or DD-MM-YY)"
    );
    assert_eq!(
        places(&rejected),
        vec![(L(8), Some("deliveryDate")), (L(9), Some("weight"))]
    );
}

#[test]
fn duplicate_shipments_with_conflicting_data() {
    let rejected = rejected("xml", "conflict.xml");
    assert_eq!(places(&rejected), vec![(L(14), Some("deliveryCity"))]);
    assert!(rejected.problems[0].reason.contains("\"Deventer\""));
    assert!(rejected.problems[0].reason.contains("line 8"));
}

#[test]
fn xxe_is_never_resolved() {
    let rejected = rejected("xml", "xxe.xml");
    assert_eq!(places(&rejected), vec![(L(2), None), (L(11), None)]);
    assert!(rejected.problems[0].reason.contains("DOCTYPE"));
    assert_eq!(
        rejected.problems[1].reason,
        "the entity &xxe; is not defined; DTD entities are never expanded"
    );
    assert!(
        !rejected.report().contains("root:"),
        "nothing of /etc/passwd leaks"
    );
}

#[test]
fn billion_laughs_is_never_expanded() {
    let rejected = rejected("xml", "billion_laughs.xml");
    assert_eq!(places(&rejected), vec![(L(2), None), (L(8), None)]);
}

#[test]
fn plain_doctype_is_allowed() {
    let xml = b"<!DOCTYPE orders>\n<orders><order><customerID>1</customerID><shipments><shipment>\
<shipmentID>S1</shipmentID><deliveryName>A</deliveryName><goods><good><quantity>1</quantity>\
</good></goods></shipment></shipments></order></orders>";
    let parsed = inbox_processor::parse::parse(Format::Xml, xml);
    assert!(parsed.is_ok(), "{parsed:?}");
}

#[test]
fn misplaced_fields() {
    let rejected = rejected("xml", "misplaced.xml");
    assert_eq!(
        places(&rejected),
        vec![(L(8), Some("quantity")), (L(9), Some("deliveryCity"))]
    );
    assert_eq!(
        rejected.problems[0].reason,
        "<quantity> belongs inside <goods><good>"
    );
}

#[test]
fn wrong_root_and_empty_file() {
    let rejected = rejected_bytes(Format::Xml, b"<html><body/></html>");
    assert_eq!(
        rejected.problems[0].reason,
        "the root element is <html>; expected <orders> or <orderData>"
    );
    let rejected = rejected_bytes(Format::Xml, b"");
    assert_eq!(rejected.problems[0].reason, "the file holds no XML element");
    let rejected = rejected_bytes(Format::Xml, b"<orders></orders>");
    assert_eq!(
        rejected.problems[0].reason,
        "the file holds no orders and no status updates"
    );
}

#[test]
fn mismatched_tags() {
    let rejected = rejected_bytes(Format::Xml, b"<orders>\n<order>\n</orders>");
    assert_eq!(rejected.problems.len(), 1);
    assert_eq!(rejected.problems[0].location, L(3));
    assert!(rejected.problems[0]
        .reason
        .starts_with("not well-formed XML"));
}

#[test]
fn one_megabyte_line() {
    let mut xml = String::from("<orders><order><customerID>1</customerID><shipments><shipment>");
    xml.push_str("<shipmentID>S1</shipmentID><deliveryName>");
    xml.push_str(&"x".repeat(1_000_000));
    xml.push_str("</deliveryName><goods><good><quantity>1</quantity></good></goods>");
    xml.push_str("</shipment></shipments></order></orders>");
    let rejected = rejected_bytes(Format::Xml, xml.as_bytes());
    assert_eq!(places(&rejected), vec![(L(1), Some("deliveryName"))]);
    assert_eq!(
        rejected.problems[0].reason,
        "too long (1000000 characters, at most 1000)"
    );
}
