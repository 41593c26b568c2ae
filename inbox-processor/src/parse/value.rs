//! Field values: the rules a single value must follow (dates, times, decimals, country and
//! currency codes, lengths, the status line) and the typed [`Value`] it becomes.
//!
//! This module owns the accepted spellings and the plain-words reasons for refusing one. It
//! knows nothing of rows, blocks or grouping; `validation` decides what a value means for the
//! order it belongs to.

use std::borrow::Cow;
use std::fmt;
use std::num::NonZeroU32;

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};

use super::field::{AddressPart, Field};
use crate::model::{Decimal, DecimalError};

/// Longest `customerID`.
pub(crate) const MAX_CUSTOMER_ID: usize = 20;
/// Longest `shipmentID` (and `masterShipmentID`, `orgShipmentID`: they name shipments too, ours).
pub(crate) const MAX_SHIPMENT_ID: usize = 17;
/// Longest free-text value (ours): a guard against runaway cells, not a business rule.
pub(crate) const MAX_TEXT: usize = 1000;

const DATE_HINT: &str = "not a date (use YYYY-MM-DD, DD-MM-YYYY or DD-MM-YY)";
const TIME_HINT: &str = "not a time (use HH:MM)";
const STATUS_HINT: &str = "not a status (use +YYYY-MM-DD HH:MM text)";

/// A checked field value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    Text(String),
    Date(NaiveDate),
    Time(NaiveTime),
    Decimal(Decimal),
    Quantity(NonZeroU32),
    /// Boxed: statuses are rare in drafts, and this keeps every other value small.
    Status(Box<Status>),
}

/// A checked `status` value: `+YYYY-MM-DD HH:MM text`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Status {
    pub(crate) at: NaiveDateTime,
    pub(crate) text: String,
    pub(crate) internal: bool,
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Text(s) => f.write_str(s),
            Value::Date(d) => write!(f, "{}", d.format("%Y-%m-%d")),
            Value::Time(t) => write!(f, "{}", t.format("%H:%M")),
            Value::Decimal(d) => write!(f, "{d}"),
            Value::Quantity(q) => write!(f, "{q}"),
            Value::Status(s) => write!(
                f,
                "+{} {}{}",
                s.at.format("%Y-%m-%d %H:%M"),
                if s.internal { "_" } else { "" },
                s.text
            ),
        }
    }
}

/// Checks a trimmed, non-empty raw value for `field`. A text value is moved out of `raw` rather
/// than copied (big files make many); on error `raw` is left as it was, for the report.
///
/// # Errors
///
/// The reason in plain words when the value breaks the field's rule.
pub(crate) fn check(field: Field, raw: &mut Cow<'_, str>) -> Result<Value, String> {
    use Field::*;
    match field {
        Pickup(AddressPart::Country) | Delivery(AddressPart::Country) => country(raw),
        FreightCostCurrency | CodCurrency => currency(raw),
        OrderDate | PickupDate | DeliveryDate => date(raw).map(Value::Date),
        PickupTime | DeliveryTime | DeliveryTime2 => time(raw).map(Value::Time),
        FreightCost | CodAmount | Weight | Volume | LoadingMeters | Pallets => Decimal::parse(raw)
            .map(Value::Decimal)
            .map_err(|e| match e {
                DecimalError::Empty => "empty".to_owned(),
                other => other.to_string(),
            }),
        Quantity => quantity(raw),
        Status => status(raw).map(|s| Value::Status(Box::new(s))),
        CustomerId | ShipmentId | MasterShipmentId | OrgShipmentId | Cn | OrderReference
        | OrderType | Remarks | TrackingNbr | DeliveryType | Pickup(_) | Delivery(_) | Packing
        | GoodsId | GoodsDescription | DgClass | UnNumber | Location | Signee => {
            check_length(raw, text_limit(field))?;
            Ok(Value::Text(std::mem::take(raw).into_owned()))
        }
    }
}

/// The most characters a text field may have.
fn text_limit(field: Field) -> usize {
    match field {
        Field::CustomerId => MAX_CUSTOMER_ID,
        Field::ShipmentId | Field::MasterShipmentId | Field::OrgShipmentId => MAX_SHIPMENT_ID,
        _ => MAX_TEXT,
    }
}

/// Checks that `raw` has at most `max` characters.
fn check_length(raw: &str, max: usize) -> Result<(), String> {
    // A character is at least one byte: short text needs no count.
    if raw.len() <= max {
        return Ok(());
    }
    let len = raw.chars().count();
    if len > max {
        return Err(format!("too long ({len} characters, at most {max})"));
    }
    Ok(())
}

/// Checks the text of a key field (`customerID`, `orderReference`, `shipmentID`) without taking
/// it: rows of a known order or shipment need no copy of their keys.
pub(crate) fn check_key(field: Field, raw: &str) -> Result<(), String> {
    check_length(raw, text_limit(field))
}

fn country(raw: &mut Cow<'_, str>) -> Result<Value, String> {
    if raw.len() == 2 && raw.bytes().all(|b| b.is_ascii_alphabetic()) {
        let mut text = std::mem::take(raw).into_owned();
        text.make_ascii_uppercase();
        Ok(Value::Text(text))
    } else {
        Err("not a two-letter country code (ISO 3166-1 alpha-2, e.g. NL)".to_owned())
    }
}

fn currency(raw: &mut Cow<'_, str>) -> Result<Value, String> {
    if raw.len() == 3 && raw.bytes().all(|b| b.is_ascii_alphabetic()) {
        let mut text = std::mem::take(raw).into_owned();
        text.make_ascii_uppercase();
        Ok(Value::Text(text))
    } else {
        Err("not a three-letter currency code (ISO 4217, e.g. EUR)".to_owned())
    }
}

fn quantity(raw: &str) -> Result<Value, String> {
    const REASON: &str = "not a whole number greater than 0";
    if !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(REASON.to_owned());
    }
    raw.parse::<u32>()
        .ok()
        .and_then(NonZeroU32::new)
        .map(Value::Quantity)
        .ok_or_else(|| REASON.to_owned())
}

/// The three parts of `text` around exactly two `sep` bytes (an ASCII separator). Found by byte:
/// a char pattern's searcher costs more than these short strings.
fn three_parts(text: &str, sep: u8) -> Option<(&str, &str, &str)> {
    let mut at = text
        .bytes()
        .enumerate()
        .filter(|&(_, b)| b == sep)
        .map(|(i, _)| i);
    let (Some(first), Some(second), None) = (at.next(), at.next(), at.next()) else {
        return None;
    };
    Some((
        text.get(..first)?,
        text.get(first + 1..second)?,
        text.get(second + 1..)?,
    ))
}

/// Reads `YYYY-MM-DD`, `DD-MM-YYYY` or `DD-MM-YY`; a two-digit year is 20YY (ours).
pub(crate) fn date(raw: &str) -> Result<NaiveDate, String> {
    let Some((a, b, c)) = three_parts(raw, b'-') else {
        return Err(DATE_HINT.to_owned());
    };
    let digits =
        |s: &str, lens: &[usize]| lens.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
    let (year, month, day) = if digits(a, &[4]) && digits(b, &[1, 2]) && digits(c, &[1, 2]) {
        (a, b, c)
    } else if digits(a, &[1, 2]) && digits(b, &[1, 2]) && digits(c, &[2, 4]) {
        (c, b, a)
    } else {
        return Err(DATE_HINT.to_owned());
    };
    let number = |s: &str| s.parse::<u32>().ok();
    let (Some(mut year), Some(month), Some(day)) = (number(year), number(month), number(day))
    else {
        return Err(DATE_HINT.to_owned());
    };
    if c.len() == 2 && a.len() != 4 {
        year += 2000;
    }
    let year = i32::try_from(year).map_err(|_| DATE_HINT.to_owned())?;
    NaiveDate::from_ymd_opt(year, month, day).ok_or_else(|| DATE_HINT.to_owned())
}

/// Reads `HH:MM` (a one-digit hour is accepted).
pub(crate) fn time(raw: &str) -> Result<NaiveTime, String> {
    let Some((h, m)) = raw.split_once(':') else {
        return Err(TIME_HINT.to_owned());
    };
    let ok =
        |s: &str, lens: &[usize]| lens.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
    if !ok(h, &[1, 2]) || !ok(m, &[2]) {
        return Err(TIME_HINT.to_owned());
    }
    let (Ok(h), Ok(m)) = (h.parse::<u32>(), m.parse::<u32>()) else {
        return Err(TIME_HINT.to_owned());
    };
    NaiveTime::from_hms_opt(h, m, 0).ok_or_else(|| TIME_HINT.to_owned())
}

/// Reads `+YYYY-MM-DD HH:MM text`; the `+` may be left out (ours), a leading `_` in the text
/// marks an internal status.
fn status(raw: &str) -> Result<Status, String> {
    let rest = raw.strip_prefix('+').unwrap_or(raw).trim_start();
    let (d, rest) = token(rest);
    let (t, rest) = token(rest);
    let text = rest.trim();
    let (Ok(d), Ok(t)) = (date(d), time(t)) else {
        return Err(STATUS_HINT.to_owned());
    };
    let (text, internal) = match text.strip_prefix('_') {
        Some(rest) => (rest, true),
        None => (text, false),
    };
    if text.is_empty() {
        return Err(format!("{STATUS_HINT}: the status text is missing"));
    }
    if text.chars().count() > MAX_TEXT {
        return Err(format!(
            "the status text is too long (at most {MAX_TEXT} characters)"
        ));
    }
    Ok(Status {
        at: d.and_time(t),
        text: text.to_owned(),
        internal,
    })
}

/// Splits off the first whitespace-separated word; the rest starts after its whitespace.
fn token(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    match s.find(char::is_whitespace) {
        Some(end) => (&s[..end], s[end..].trim_start()),
        None => (s, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ymd(y: i32, m: u32, d: u32) -> Option<NaiveDate> {
        NaiveDate::from_ymd_opt(y, m, d)
    }

    #[test]
    fn dates() {
        assert_eq!(date("2025-06-02").ok(), ymd(2025, 6, 2));
        assert_eq!(date("02-06-2025").ok(), ymd(2025, 6, 2));
        assert_eq!(date("02-06-25").ok(), ymd(2025, 6, 2));
        assert_eq!(date("2-6-25").ok(), ymd(2025, 6, 2));
        assert_eq!(date("31-02-2025"), Err(DATE_HINT.to_owned()));
        assert!(date("2025/06/02").is_err());
        assert!(date("02-06-025").is_err());
        assert!(date("2025-06-02-01").is_err());
        assert!(date("+2025-06-02").is_err());
        assert!(date("").is_err());
    }

    #[test]
    fn times() {
        assert_eq!(time("14:20").ok(), NaiveTime::from_hms_opt(14, 20, 0));
        assert_eq!(time("7:05").ok(), NaiveTime::from_hms_opt(7, 5, 0));
        assert!(time("24:00").is_err());
        assert!(time("14:2").is_err());
        assert!(time("14.20").is_err());
        assert!(time("14:20:00").is_err());
    }

    #[test]
    fn statuses() {
        let s = status("+2025-06-02 14:20 delivered").ok();
        assert_eq!(s.as_ref().map(|s| s.text.as_str()), Some("delivered"));
        assert_eq!(s.as_ref().map(|s| s.internal), Some(false));
        assert_eq!(
            s.map(|s| s.at),
            ymd(2025, 6, 2).and_then(|d| d.and_hms_opt(14, 20, 0))
        );
        let s = status("+2025-06-02 14:20 _assigned to truck 7").ok();
        assert_eq!(
            s.as_ref().map(|s| s.text.as_str()),
            Some("assigned to truck 7")
        );
        assert_eq!(s.map(|s| s.internal), Some(true));
        assert!(status("2025-06-02 14:20 delivered").is_ok());
        assert!(status("+ 2025-06-02   14:20  delivered").is_ok());
        assert!(status("+2025-06-02 14:20").is_err());
        assert!(status("+2025-06-02 14:20 _").is_err());
        assert!(status("delivered").is_err());
        assert!(status("+2025-06-32 14:20 delivered").is_err());
    }

    #[test]
    fn codes_and_lengths() {
        let country = Field::Delivery(AddressPart::Country);
        assert_eq!(
            check(country, &mut Cow::from("nl")),
            Ok(Value::Text("NL".into()))
        );
        assert!(check(country, &mut Cow::from("NLD")).is_err());
        assert_eq!(
            check(Field::CodCurrency, &mut Cow::from("eur")),
            Ok(Value::Text("EUR".into()))
        );
        assert!(check(Field::CustomerId, &mut Cow::from("x".repeat(21))).is_err());
        assert!(check(Field::CustomerId, &mut Cow::from("x".repeat(20))).is_ok());
        assert!(check(Field::ShipmentId, &mut Cow::from("x".repeat(18))).is_err());
        assert!(check(Field::Quantity, &mut Cow::from("0")).is_err());
        assert!(check(Field::Quantity, &mut Cow::from("2.5")).is_err());
        assert!(check(Field::Quantity, &mut Cow::from("+3")).is_err());
        assert!(check(Field::Quantity, &mut Cow::from("99999999999")).is_err());
        assert_eq!(
            check(Field::Quantity, &mut Cow::from("10")),
            Ok(Value::Quantity(NonZeroU32::MIN.saturating_add(9)))
        );
    }
}
