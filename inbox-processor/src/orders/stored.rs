//! The stored form of a shipment: the JSON of `shipments.data` (its order's fields, then its
//! own, in the TMS field names, absent values left out) and the row of a batch upsert, written
//! straight into one text buffer.
//!
//! On PostgreSQL a batch of shipments travels to the database as ONE JSON text (an array of
//! rows) that the statement expands (`json_array_elements`): one parameter per batch instead of
//! sixteen per row. SQLite gets each value bound as itself (its JSON functions cost more than
//! the inserts) and only the `data` JSON from here. This module knows the JSON shapes, not SQL.

use std::fmt::Write as _;

use crate::model::{Address, GoodsLine, Order, Shipment};

/// Appends `text` as a JSON string.
fn push_str(out: &mut String, text: &str) {
    out.push('"');
    let clean = text.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\');
    if clean {
        out.push_str(text);
    } else {
        for c in text.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if (c as u32) < 0x20 => {
                    let _ = write!(out, "\\u{:04x}", c as u32);
                }
                c => out.push(c),
            }
        }
    }
    out.push('"');
}

/// A JSON object being written: keys are added only for present values.
struct Object<'a> {
    out: &'a mut String,
    empty: bool,
}

impl<'a> Object<'a> {
    fn open(out: &'a mut String) -> Self {
        out.push('{');
        Object { out, empty: true }
    }

    fn key(&mut self, key: &str) {
        if !self.empty {
            self.out.push(',');
        }
        self.empty = false;
        push_str(self.out, key);
        self.out.push(':');
    }

    fn text(&mut self, key: &str, value: Option<&str>) {
        if let Some(value) = value {
            self.key(key);
            push_str(self.out, value);
        }
    }

    /// A value written as a JSON string through its `Display` (dates, times, decimals).
    fn shown(&mut self, key: &str, value: Option<impl std::fmt::Display>) {
        if let Some(value) = value {
            self.key(key);
            self.out.push('"');
            let _ = write!(self.out, "{value}");
            self.out.push('"');
        }
    }

    fn close(self) {
        self.out.push('}');
    }
}

fn address(obj: &mut Object<'_>, key: &str, a: &Address) {
    obj.key(key);
    let mut o = Object::open(obj.out);
    o.text("name", a.name.as_deref());
    o.text("name2", a.name2.as_deref());
    o.text("address", a.address.as_deref());
    o.text("address2", a.address2.as_deref());
    o.text("houseNbr", a.house_nbr.as_deref());
    o.text("postcode", a.postcode.as_deref());
    o.text("city", a.city.as_deref());
    o.text("state", a.state.as_deref());
    o.text("country", a.country.as_deref());
    o.close();
}

fn goods_line(out: &mut String, g: &GoodsLine) {
    let mut o = Object::open(out);
    o.key("quantity");
    let _ = write!(o.out, "{}", g.quantity);
    o.text("packing", g.packing.as_deref());
    o.text("goodsID", g.goods_id.as_deref());
    o.text("goodsDescription", g.goods_description.as_deref());
    o.shown("weight", g.weight);
    o.shown("volume", g.volume);
    o.shown("loadingMeters", g.loading_meters);
    o.shown("pallets", g.pallets);
    o.text("dgClass", g.dg_class.as_deref());
    o.text("unNumber", g.un_number.as_deref());
    o.close();
}

/// Appends the `shipments.data` JSON of `shipment` of `order` for `customer`.
pub(crate) fn shipment_json(out: &mut String, customer: &str, order: &Order, s: &Shipment) {
    let mut o = Object::open(out);
    o.text("customerID", Some(customer));
    o.text("CN", order.cn.as_deref());
    o.text("orderReference", order.order_reference.as_deref());
    o.shown("orderDate", order.order_date);
    o.text("orderType", order.order_type.as_deref());
    o.text("orderRemarks", order.remarks.as_deref());
    o.shown("freightCost", order.freight_cost);
    o.text(
        "freightCostCurrency",
        order.freight_cost_currency.as_deref(),
    );
    o.text("shipmentID", Some(&s.shipment_id));
    o.text("masterShipmentID", s.master_shipment_id.as_deref());
    o.text("trackingNbr", s.tracking_nbr.as_deref());
    o.text("deliveryType", s.delivery_type.as_deref());
    address(&mut o, "pickup", &s.pickup);
    address(&mut o, "delivery", &s.delivery);
    o.shown("pickupDate", s.pickup_date);
    o.shown("pickupTime", s.pickup_time);
    o.shown("deliveryDate", s.delivery_date);
    o.shown("deliveryTime", s.delivery_time);
    o.shown("deliveryTime2", s.delivery_time2);
    o.shown("CODamount", s.cod_amount);
    o.text("CODcurrency", s.cod_currency.as_deref());
    o.key("goods");
    o.out.push('[');
    for (i, g) in s.goods.iter().enumerate() {
        if i > 0 {
            o.out.push(',');
        }
        goods_line(o.out, g);
    }
    o.out.push(']');
    o.close();
}

fn opt_text(out: &mut String, value: Option<&str>) {
    match value {
        Some(v) => push_str(out, v),
        None => out.push_str("null"),
    }
}

fn opt_shown(out: &mut String, value: Option<impl std::fmt::Display>) {
    match value {
        Some(v) => {
            let _ = write!(out, "\"{v}\"");
        }
        None => out.push_str("null"),
    }
}

/// Appends one row of a shipment batch: `[shipment_id, order_reference, tracking_nbr,
/// order_date, delivery_date, delivery_name, delivery_city, delivery_country,
/// delivery_postcode, goods_lines, colli, data]` (the upsert's positions 0 to 11).
pub(crate) fn shipment_row(out: &mut String, customer: &str, order: &Order, s: &Shipment) {
    out.push('[');
    push_str(out, &s.shipment_id);
    out.push(',');
    opt_text(out, order.order_reference.as_deref());
    out.push(',');
    opt_text(out, s.tracking_nbr.as_deref());
    out.push(',');
    opt_shown(out, order.order_date);
    out.push(',');
    opt_shown(out, s.delivery_date);
    out.push(',');
    opt_text(out, s.delivery.name.as_deref());
    out.push(',');
    opt_text(out, s.delivery.city.as_deref());
    out.push(',');
    opt_text(out, s.delivery.country.as_deref());
    out.push(',');
    match s.delivery.postcode.as_deref() {
        Some(p) => push_str(out, &super::postcode_key(p)),
        None => out.push_str("null"),
    }
    let colli: u64 = s.goods.iter().map(|g| u64::from(g.quantity.get())).sum();
    let _ = write!(out, ",{},{},", s.goods.len(), colli.min(i64::MAX as u64));
    shipment_json(out, customer, order, s);
    out.push(']');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Decimal;
    use serde::Serialize;

    /// The shape the JSON had when it was made through serde (kept to compare with).
    #[derive(Serialize)]
    struct ViaSerde<'a> {
        #[serde(rename = "customerID")]
        customer_id: &'a str,
        #[serde(rename = "CN")]
        cn: Option<&'a str>,
        #[serde(rename = "orderReference")]
        order_reference: Option<&'a str>,
        #[serde(rename = "orderDate")]
        order_date: Option<chrono::NaiveDate>,
        #[serde(rename = "orderType")]
        order_type: Option<&'a str>,
        #[serde(rename = "orderRemarks")]
        remarks: Option<&'a str>,
        #[serde(rename = "freightCost")]
        freight_cost: Option<Decimal>,
        #[serde(rename = "freightCostCurrency")]
        freight_cost_currency: Option<&'a str>,
        #[serde(flatten)]
        shipment: &'a Shipment,
    }

    fn strip(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(map) => {
                map.retain(|_, v| !v.is_null());
                map.values_mut().for_each(strip);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }

    #[test]
    fn same_json_as_serde_without_nulls() {
        let text = "customerID;CN;orderReference;orderDate;remarks;freightCost;shipmentID;\
                    trackingNbr;pickupName;deliveryName;deliveryPostcode;deliveryDate;deliveryTime;\
                    CODamount;colli;packing;weight;goodsDescription\n\
                    1234;12021;PO-1;2025-06-01;say \"hi\"\\ there;100.50;S1;T1;Acme;Philips;7418 ev;\
                    2025-06-02;14:20;3.5;10;carton;525.5;tab\there\n\
                    1234;;PO-1;;;;S1;;;;;;;;2;pallet;;\n\
                    1234;;;;;;S2;;;ASML;;;;;1;;;\n";
        let parsed = crate::parse::parse(crate::parse::Format::Csv, text.as_bytes())
            .expect("the sample parses");
        for order in &parsed.orders {
            for s in &order.shipments {
                let mut mine = String::new();
                shipment_json(&mut mine, "1234", order, s);
                let mine: serde_json::Value = serde_json::from_str(&mine).expect("valid JSON");
                let mut theirs = serde_json::to_value(ViaSerde {
                    customer_id: "1234",
                    cn: order.cn.as_deref(),
                    order_reference: order.order_reference.as_deref(),
                    order_date: order.order_date,
                    order_type: order.order_type.as_deref(),
                    remarks: order.remarks.as_deref(),
                    freight_cost: order.freight_cost,
                    freight_cost_currency: order.freight_cost_currency.as_deref(),
                    shipment: s,
                })
                .expect("serializes");
                strip(&mut theirs);
                assert_eq!(mine, theirs);
                let mut row = String::new();
                shipment_row(&mut row, "1234", order, s);
                let row: serde_json::Value = serde_json::from_str(&row).expect("valid row");
                assert_eq!(row[11], theirs);
            }
        }
    }
}
