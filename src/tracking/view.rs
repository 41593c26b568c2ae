//! The answer to a track & trace request as flat TMS fields, the names partners' scripts know:
//! the order and shipment fields (`pickupName`, `deliveryPostcode`, ...), the goods lines and
//! the public status history, in a fixed order. It serialises to JSON with those names;
//! [`super::xml`] writes the same view as XML. Fields the stored shipment does not have are left
//! out. It knows neither HTTP nor the database.

use serde::ser::{SerializeMap as _, SerializeSeq as _};
use serde::{Serialize, Serializer};
use serde_json::Value;

use super::Tracked;

/// The shipment and order fields, in the order they are written; addresses come from the stored
/// `pickup`/`delivery` objects.
const HEAD_FIELDS: &[&str] = &[
    "shipmentID",
    "customerID",
    "CN",
    "orderReference",
    "orderDate",
    "orderType",
    "orderRemarks",
    "masterShipmentID",
    "trackingNbr",
    "deliveryType",
];

/// The fields of an address, without their `pickup`/`delivery` prefix: the stored name and the
/// capitalised suffix of the flat name.
const ADDRESS_FIELDS: &[(&str, &str)] = &[
    ("name", "Name"),
    ("name2", "Name2"),
    ("address", "Address"),
    ("address2", "Address2"),
    ("houseNbr", "HouseNbr"),
    ("postcode", "Postcode"),
    ("city", "City"),
    ("state", "State"),
    ("country", "Country"),
];

const TAIL_FIELDS: &[&str] = &[
    "pickupDate",
    "pickupTime",
    "deliveryDate",
    "deliveryTime",
    "deliveryTime2",
    "CODamount",
    "CODcurrency",
    "freightCost",
    "freightCostCurrency",
];

const GOODS_FIELDS: &[&str] = &[
    "quantity",
    "packing",
    "goodsID",
    "goodsDescription",
    "weight",
    "volume",
    "loadingMeters",
    "pallets",
    "dgClass",
    "unNumber",
];

/// A field's value as text or number, as stored.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    /// Text (dates, times and decimals are stored as text).
    Text(String),
    /// A number (the quantity of a goods line).
    Number(serde_json::Number),
}

impl FieldValue {
    /// The value as XML or a log would show it.
    pub fn as_text(&self) -> String {
        match self {
            Self::Text(text) => text.clone(),
            Self::Number(n) => n.to_string(),
        }
    }

    fn of(value: Option<&Value>) -> Option<Self> {
        match value? {
            Value::String(s) => Some(Self::Text(s.clone())),
            Value::Number(n) => Some(Self::Number(n.clone())),
            Value::Bool(b) => Some(Self::Text(b.to_string())),
            _ => None,
        }
    }
}

impl Serialize for FieldValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Text(text) => serializer.serialize_str(text),
            Self::Number(n) => n.serialize(serializer),
        }
    }
}

/// Named values in their order.
pub type Fields = Vec<(String, FieldValue)>;

/// One public status event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatusView {
    /// When, `YYYY-MM-DDTHH:MM:SS`, the sender's local time.
    pub at: String,
    /// The status text.
    pub status: String,
    /// Where, if given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Who signed, if given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signee: Option<String>,
    /// Remarks, if given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remarks: Option<String>,
}

/// A tracked order as flat fields.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderView {
    /// The order and shipment fields, in order.
    pub fields: Fields,
    /// The goods lines, each its fields in order.
    pub goods: Vec<Fields>,
    /// The public status history, oldest first.
    pub history: Vec<StatusView>,
}

impl OrderView {
    /// The view of `tracked`. Internal statuses are dropped here again, whatever the caller
    /// passed: the shipper must never see them.
    pub fn of(tracked: &Tracked) -> Self {
        let data = &tracked.shipment.data;
        let mut fields = Fields::new();
        let push = |fields: &mut Fields, name: String, value: Option<&Value>| {
            if let Some(value) = FieldValue::of(value) {
                fields.push((name, value));
            }
        };
        for name in HEAD_FIELDS {
            push(&mut fields, (*name).to_owned(), data.get(*name));
        }
        for side in ["pickup", "delivery"] {
            let address = data.get(side);
            for (stored, suffix) in ADDRESS_FIELDS {
                push(
                    &mut fields,
                    format!("{side}{suffix}"),
                    address.and_then(|a| a.get(*stored)),
                );
            }
        }
        for name in TAIL_FIELDS {
            push(&mut fields, (*name).to_owned(), data.get(*name));
        }
        let goods = data
            .get("goods")
            .and_then(Value::as_array)
            .map(|lines| {
                lines
                    .iter()
                    .map(|line| {
                        let mut out = Fields::new();
                        for name in GOODS_FIELDS {
                            push(&mut out, (*name).to_owned(), line.get(*name));
                        }
                        out
                    })
                    .collect()
            })
            .unwrap_or_default();
        let history = tracked
            .history
            .iter()
            .filter(|event| !event.internal)
            .map(|event| StatusView {
                at: iso_time(&event.at),
                status: event.status.clone(),
                location: event.location.clone(),
                signee: event.signee.clone(),
                remarks: event.remarks.clone(),
            })
            .collect();
        Self {
            fields,
            goods,
            history,
        }
    }
}

/// A stored event time (`YYYY-MM-DD HH:MM:SS`, the sender's local time) as an XML Schema
/// `dateTime` without a zone (`YYYY-MM-DDTHH:MM:SS`); anything else as it is.
fn iso_time(at: &str) -> String {
    match chrono::NaiveDateTime::parse_from_str(at, "%Y-%m-%d %H:%M:%S") {
        Ok(time) => time.format("%Y-%m-%dT%H:%M:%S").to_string(),
        Err(_) => at.to_owned(),
    }
}

struct FieldsMap<'a>(&'a Fields);

impl Serialize for FieldsMap<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, value) in self.0 {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

struct GoodsSeq<'a>(&'a [Fields]);

impl Serialize for GoodsSeq<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for line in self.0 {
            seq.serialize_element(&FieldsMap(line))?;
        }
        seq.end()
    }
}

impl Serialize for OrderView {
    /// One JSON object: the fields in order, then `goods` (an array of objects) and
    /// `statusHistory` (an array of `{at, status, location?, signee?, remarks?}`).
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.fields.len() + 2))?;
        for (name, value) in &self.fields {
            map.serialize_entry(name, value)?;
        }
        map.serialize_entry("goods", &GoodsSeq(&self.goods))?;
        map.serialize_entry("statusHistory", &self.history)?;
        map.end()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use inbox_processor::lookup::{StatusEvent, StoredShipment};
    use serde_json::json;

    use super::*;

    pub(crate) fn tracked() -> Tracked {
        let data = json!({
            "customerID": "1234",
            "orderReference": "PO-1 & <2>",
            "shipmentID": "S1",
            "deliveryType": "standard",
            "pickup": {"name": "Warehouse", "postcode": "1000 AA", "country": "NL"},
            "delivery": {"name": "Philips", "address": "Main St", "postcode": "7418 EV",
                         "city": "Deventer", "country": "NL"},
            "deliveryDate": "2025-06-02",
            "freightCost": "12.5",
            "goods": [
                {"quantity": 10, "packing": "carton", "weight": "525.5"},
                {"quantity": 2, "packing": "pallet"}
            ]
        });
        let event = |status: &str, internal: bool| StatusEvent {
            at: "2025-06-02 14:20:00".into(),
            status: status.into(),
            internal,
            location: Some("Deventer".into()),
            signee: None,
            remarks: None,
        };
        Tracked {
            api_user: "shop".into(),
            shipment: StoredShipment {
                customer: "1234".into(),
                shipment_id: "S1".into(),
                order_reference: None,
                tracking_nbr: None,
                delivery_name: None,
                delivery_city: None,
                delivery_date: None,
                goods_lines: 2,
                colli: 12,
                last_status: None,
                data,
                file_id: 1,
                created_at: 0,
                updated_at: 0,
            },
            history: vec![event("batchentry", true), event("delivered", false)],
        }
    }

    #[test]
    fn fields_are_flat_in_order_and_absent_ones_left_out() {
        let view = OrderView::of(&tracked());
        let names: Vec<&str> = view.fields.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "shipmentID",
                "customerID",
                "orderReference",
                "deliveryType",
                "pickupName",
                "pickupPostcode",
                "pickupCountry",
                "deliveryName",
                "deliveryAddress",
                "deliveryPostcode",
                "deliveryCity",
                "deliveryCountry",
                "deliveryDate",
                "freightCost",
            ]
        );
        assert_eq!(view.goods.len(), 2);
        assert_eq!(
            view.goods[0][0],
            ("quantity".to_owned(), FieldValue::Number(10.into()))
        );
    }

    #[test]
    fn internal_statuses_are_never_shown() {
        let view = OrderView::of(&tracked());
        let statuses: Vec<&str> = view.history.iter().map(|s| s.status.as_str()).collect();
        assert_eq!(statuses, ["delivered"]);
    }

    #[test]
    fn json_keeps_the_flat_names() {
        let json = serde_json::to_value(OrderView::of(&tracked())).unwrap();
        assert_eq!(json["deliveryPostcode"], "7418 EV");
        assert_eq!(json["pickupName"], "Warehouse");
        assert_eq!(json["goods"][0]["quantity"], 10);
        assert_eq!(json["goods"][0]["packing"], "carton");
        assert_eq!(json["statusHistory"][0]["status"], "delivered");
        assert_eq!(json["statusHistory"][0]["location"], "Deventer");
        assert!(json["statusHistory"][0].get("signee").is_none());
        assert!(json.get("pickupCity").is_none());
    }
}
