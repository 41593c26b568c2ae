//! The data model the inbound files turn into: [`Order`]s holding [`Shipment`]s holding
//! [`GoodsLine`]s, and [`StatusUpdate`]s about shipments.
//!
//! This module owns the shapes and the few types that carry a rule ([`Decimal`]). It knows
//! nothing of file formats, field-name synonyms or the database: the parsers fill these values,
//! the pipeline stores them. Serialized field names follow the TMS field list (`customerID`,
//! `shipmentID`, `CODamount`, ...).
//!
//! The structs are kept lean because a big file holds hundreds of thousands of them: optional
//! texts are `Option<Box<str>>` (16 bytes when absent) and [`Decimal`] is inline. formats.md
//! speaks of "the ten" pickup and delivery fields but lists nine; [`Address`] has those nine.

use std::fmt;
use std::num::NonZeroU32;

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use serde::{Deserialize, Serialize};

/// A transport order: one customer's order (`customerID` + `orderReference`) holding one or
/// more shipments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// The customer (shipper) the order belongs to, at most 20 characters.
    #[serde(rename = "customerID")]
    pub customer_id: String,
    /// The carrier number (`CN`).
    #[serde(rename = "CN")]
    pub cn: Option<Box<str>>,
    /// The customer's own reference for the order (`orderReference`).
    #[serde(rename = "orderReference")]
    pub order_reference: Option<Box<str>>,
    /// The date of the order (`orderDate`).
    #[serde(rename = "orderDate")]
    pub order_date: Option<NaiveDate>,
    /// The kind of order, free text agreed with the carrier (`orderType`).
    #[serde(rename = "orderType")]
    pub order_type: Option<Box<str>>,
    /// Free remarks or instructions (`remarks`).
    pub remarks: Option<Box<str>>,
    /// The agreed freight cost (`freightCost`).
    #[serde(rename = "freightCost")]
    pub freight_cost: Option<Decimal>,
    /// The currency of the freight cost, three letters (`freightCostCurrency`).
    #[serde(rename = "freightCostCurrency")]
    pub freight_cost_currency: Option<Box<str>>,
    /// The shipments of the order, in the order they first appear in the file.
    pub shipments: Vec<Shipment>,
}

/// One shipment: goods that travel together from a pickup address to a delivery address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shipment {
    /// The shipment's identifier, at most 17 characters (`shipmentID`, synonym `orderID`).
    #[serde(rename = "shipmentID")]
    pub shipment_id: String,
    /// The shipment this one is part of (`masterShipmentID`).
    #[serde(rename = "masterShipmentID")]
    pub master_shipment_id: Option<Box<str>>,
    /// The carrier's tracking number (`trackingNbr`).
    #[serde(rename = "trackingNbr")]
    pub tracking_nbr: Option<Box<str>>,
    /// The kind of delivery, free text agreed with the carrier (`deliveryType`).
    #[serde(rename = "deliveryType")]
    pub delivery_type: Option<Box<str>>,
    /// Where the goods are picked up (`pickupName`, `pickupAddress`, ...).
    pub pickup: Address,
    /// Where the goods are delivered (`deliveryName`, `deliveryAddress`, ...).
    pub delivery: Address,
    /// The day of pickup (`pickupDate`).
    #[serde(rename = "pickupDate")]
    pub pickup_date: Option<NaiveDate>,
    /// The time of pickup (`pickupTime`).
    #[serde(rename = "pickupTime")]
    pub pickup_time: Option<NaiveTime>,
    /// The day of delivery (`deliveryDate`).
    #[serde(rename = "deliveryDate")]
    pub delivery_date: Option<NaiveDate>,
    /// The (earliest) time of delivery (`deliveryTime`).
    #[serde(rename = "deliveryTime")]
    pub delivery_time: Option<NaiveTime>,
    /// The second (latest) time of delivery (`deliveryTime2`).
    #[serde(rename = "deliveryTime2")]
    pub delivery_time2: Option<NaiveTime>,
    /// Cash on delivery: the amount to collect (`CODamount`).
    #[serde(rename = "CODamount")]
    pub cod_amount: Option<Decimal>,
    /// Cash on delivery: the currency, three letters (`CODcurrency`).
    #[serde(rename = "CODcurrency")]
    pub cod_currency: Option<Box<str>>,
    /// The goods lines, in file order; never empty in a parsed shipment.
    pub goods: Vec<GoodsLine>,
}

/// A pickup or delivery address: the fields `pickupName` ... `pickupCountry` or
/// `deliveryName` ... `deliveryCountry` without their prefix.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    /// The company or person (`...Name`).
    pub name: Option<Box<str>>,
    /// A second name line (`...Name2`).
    pub name2: Option<Box<str>>,
    /// The street (`...Address`).
    pub address: Option<Box<str>>,
    /// A second address line (`...Address2`).
    pub address2: Option<Box<str>>,
    /// The house number (`...HouseNbr`).
    #[serde(rename = "houseNbr")]
    pub house_nbr: Option<Box<str>>,
    /// The postcode (`...Postcode`).
    pub postcode: Option<Box<str>>,
    /// The city (`...City`).
    pub city: Option<Box<str>>,
    /// The state or province (`...State`).
    pub state: Option<Box<str>>,
    /// The country, ISO 3166-1 alpha-2, upper case (`...Country`).
    pub country: Option<Box<str>>,
}

/// One goods line of a shipment: a number of colli of one kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoodsLine {
    /// The number of colli, always more than zero (`quantity`).
    pub quantity: NonZeroU32,
    /// The kind of packing: pallet, carton, ... (`packing`).
    pub packing: Option<Box<str>>,
    /// The goods' article code (`goodsID`).
    #[serde(rename = "goodsID")]
    pub goods_id: Option<Box<str>>,
    /// What the goods are (`goodsDescription`).
    #[serde(rename = "goodsDescription")]
    pub goods_description: Option<Box<str>>,
    /// The weight in kg (`weight`).
    pub weight: Option<Decimal>,
    /// The volume in m3 (`volume`).
    pub volume: Option<Decimal>,
    /// The loading meters (`loadingMeters`).
    #[serde(rename = "loadingMeters")]
    pub loading_meters: Option<Decimal>,
    /// The number of pallet places (`pallets`).
    pub pallets: Option<Decimal>,
    /// The dangerous-goods class (`dgClass`).
    #[serde(rename = "dgClass")]
    pub dg_class: Option<Box<str>>,
    /// The UN number of dangerous goods (`unNumber`).
    #[serde(rename = "unNumber")]
    pub un_number: Option<Box<str>>,
}

/// How a status update names its shipment.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ShipmentRef {
    /// By `shipmentID` (or its synonym `orderID`).
    #[serde(rename = "shipmentID")]
    ShipmentId(String),
    /// By the carrier's `trackingNbr`.
    #[serde(rename = "trackingNbr")]
    TrackingNbr(String),
}

/// A status update about one shipment: `status : +YYYY-MM-DD HH:MM text`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusUpdate {
    /// The shipment the update is about; `shipmentID` wins when a file gives both.
    pub shipment: ShipmentRef,
    /// The customer, when the file names one (`customerID`).
    #[serde(rename = "customerID")]
    pub customer_id: Option<Box<str>>,
    /// When the status was reached, as written (local time of the sender).
    pub at: NaiveDateTime,
    /// The status text (`delivered`, `POD`, ...) without the leading `_` of internal statuses.
    pub text: String,
    /// True when the status text started with `_`: hidden from the shipper.
    pub internal: bool,
    /// `orgShipmentID`: the shipment's original ID. When present, the shipment known by this ID
    /// is renamed to the ID in [`StatusUpdate::shipment`].
    #[serde(rename = "orgShipmentID")]
    pub org_shipment_id: Option<Box<str>>,
    /// Where the status was reached (ours, optional).
    pub location: Option<Box<str>>,
    /// Who signed for the goods (ours, optional).
    pub signee: Option<Box<str>>,
    /// Free remarks (ours, optional).
    pub remarks: Option<Box<str>>,
}

/// A non-negative decimal number, exact: up to 19 significant digits, kept as digits and a
/// scale, never as a float. `"007.50"` and `"7.5"` are the same number and print as `7.5`.
///
/// Weights, volumes and amounts are never rounded through a float; [`Decimal::to_f64`] is there
/// for callers that want one. It is held inline (no allocation), which keeps big files lean.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Decimal {
    // Invariant: normalized, so equal numbers are equal values: `mantissa` has no trailing zero
    // digit when `scale > 0`, and `scale <= 19`; enforced by `Decimal::parse`, the only
    // constructor.
    mantissa: u64,
    scale: u8,
}

/// Why a text is not a [`Decimal`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecimalError {
    /// The text is empty.
    #[error("empty")]
    Empty,
    /// The text uses a comma where a point is expected.
    #[error("not a number (use a point as the decimal separator, e.g. 525.5)")]
    Comma,
    /// The text is negative.
    #[error("not a number of zero or more (negative values are not allowed)")]
    Negative,
    /// The number has more significant digits than are kept.
    #[error("too many digits (at most 19 significant digits)")]
    TooLong,
    /// Anything else.
    #[error("not a number (use digits and a point, e.g. 525.5)")]
    Invalid,
}

impl Decimal {
    /// Reads a decimal written with digits and an optional point (`525`, `525.5`, `0.75`, `.5`).
    ///
    /// # Errors
    ///
    /// [`DecimalError`] when the text is empty, uses a comma, is negative, has more than 19
    /// significant digits, or holds anything else than digits and one point.
    pub fn parse(text: &str) -> Result<Decimal, DecimalError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(DecimalError::Empty);
        }
        if text.starts_with('-') {
            return Err(DecimalError::Negative);
        }
        // Found by byte: a char pattern's searcher costs more than these short strings.
        let (int, frac) = match text.bytes().position(|b| b == b'.') {
            Some(dot) => (
                text.get(..dot).unwrap_or(""),
                text.get(dot + 1..).unwrap_or(""),
            ),
            None => (text, ""),
        };
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if int.is_empty() && frac.is_empty() {
            return Err(DecimalError::Invalid);
        }
        if !all_digits(int) || !all_digits(frac) {
            if text.contains(',') {
                return Err(DecimalError::Comma);
            }
            return Err(DecimalError::Invalid);
        }
        let frac = frac.trim_end_matches('0');
        let digits = format!("{int}{frac}");
        let significant = digits.trim_start_matches('0');
        if significant.len() > 19 || frac.len() > 19 {
            return Err(DecimalError::TooLong);
        }
        let mantissa = if significant.is_empty() {
            0
        } else {
            significant.parse().map_err(|_| DecimalError::TooLong)?
        };
        let scale = if mantissa == 0 { 0 } else { frac.len() as u8 };
        Ok(Decimal { mantissa, scale })
    }

    /// The number as the nearest `f64` (which may round).
    pub fn to_f64(&self) -> f64 {
        self.mantissa as f64 / 10f64.powi(i32::from(self.scale))
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.mantissa.to_string();
        let scale = usize::from(self.scale);
        if scale == 0 {
            return f.write_str(&digits);
        }
        let padded = format!("{digits:0>width$}", width = scale + 1);
        let (int, frac) = padded.split_at(padded.len() - scale);
        write!(f, "{int}.{frac}")
    }
}

impl TryFrom<String> for Decimal {
    type Error = DecimalError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Decimal::parse(&value)
    }
}

impl From<Decimal> for String {
    fn from(value: Decimal) -> Self {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_normalizes() {
        let d = |s| Decimal::parse(s).map(|d| d.to_string());
        assert_eq!(d("525.5"), Ok("525.5".into()));
        assert_eq!(d("007.50"), Ok("7.5".into()));
        assert_eq!(d("10"), Ok("10".into()));
        assert_eq!(d("10."), Ok("10".into()));
        assert_eq!(d(".5"), Ok("0.5".into()));
        assert_eq!(d("0"), Ok("0".into()));
        assert_eq!(d("0.000"), Ok("0".into()));
        assert_eq!(d("525,5"), Err(DecimalError::Comma));
        assert_eq!(d("-1"), Err(DecimalError::Negative));
        assert_eq!(d("."), Err(DecimalError::Invalid));
        assert_eq!(d("1.2.3"), Err(DecimalError::Invalid));
        assert_eq!(d("1e5"), Err(DecimalError::Invalid));
        assert_eq!(d(""), Err(DecimalError::Empty));
        assert_eq!(d("0.05"), Ok("0.05".into()));
        assert_eq!(d("100.010"), Ok("100.01".into()));
        assert_eq!(d("1234567890123456789"), Ok("1234567890123456789".into()));
        assert_eq!(
            d("0.0000000000000000001"),
            Ok("0.0000000000000000001".into())
        );
        assert_eq!(d("12345678901234567890"), Err(DecimalError::TooLong));
        assert_eq!(d("1.00000000000000000001"), Err(DecimalError::TooLong));
    }

    #[test]
    fn decimal_converts_to_f64() {
        let d = Decimal::parse("12.50").ok();
        assert_eq!(d.map(|d| d.to_string()), Some("12.5".to_owned()));
        assert_eq!(d.map(|d| d.to_f64()), Some(12.5));
        assert_eq!(Decimal::parse("7.5"), Decimal::parse("007.50"));
    }
}
