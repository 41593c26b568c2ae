//! Field names: which field a column header, XML element or TTM key means.
//!
//! Names match case-insensitively after dropping spaces, `_`, `-` and `.`, and through the
//! synonym table of formats.md (ours). This module owns that table and the canonical
//! (camelCase) names used in reports; it knows nothing of values or formats.

/// The level of the data model a field belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    /// Order fields (`customerID`, `orderReference`, ...).
    Order,
    /// Shipment fields (`shipmentID`, addresses, dates, ...).
    Shipment,
    /// Goods-line fields (`quantity`, `packing`, ...).
    Goods,
    /// Fields that only status updates carry (`status`, `orgShipmentID`, ...).
    Status,
}

/// The part of a pickup or delivery address a field names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum AddressPart {
    Name,
    Name2,
    Address,
    Address2,
    HouseNbr,
    Postcode,
    City,
    State,
    Country,
}

/// A known field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Field {
    CustomerId,
    Cn,
    OrderReference,
    OrderDate,
    OrderType,
    Remarks,
    FreightCost,
    FreightCostCurrency,
    ShipmentId,
    MasterShipmentId,
    TrackingNbr,
    DeliveryType,
    Pickup(AddressPart),
    Delivery(AddressPart),
    PickupDate,
    PickupTime,
    DeliveryDate,
    DeliveryTime,
    DeliveryTime2,
    CodAmount,
    CodCurrency,
    Quantity,
    Packing,
    GoodsId,
    GoodsDescription,
    Weight,
    Volume,
    LoadingMeters,
    Pallets,
    DgClass,
    UnNumber,
    Status,
    OrgShipmentId,
    Location,
    Signee,
}

impl Field {
    /// The field a name means, if any: `"Zending-Nr"` means `shipmentID`.
    pub(crate) fn from_name(name: &str) -> Option<Field> {
        lookup(&normalize(name))
    }

    /// The field and goods-line number a TTM key means: `"weight2"` is line 2's `weight`;
    /// a goods field without a number (`"weight"`) has `None`. Exact names win, so
    /// `pickupName2` stays a shipment field.
    pub(crate) fn from_numbered_name(name: &str) -> Option<(Field, Option<u32>)> {
        let norm = normalize(name);
        if let Some(field) = lookup(&norm) {
            return Some((field, None));
        }
        let base = norm.trim_end_matches(|c: char| c.is_ascii_digit());
        let number: u32 = norm[base.len()..].parse().ok()?;
        let field = lookup(base)?;
        (field.level() == Level::Goods && number > 0).then_some((field, Some(number)))
    }

    /// The level of the model the field belongs to.
    pub(crate) fn level(self) -> Level {
        use Field::*;
        match self {
            CustomerId | Cn | OrderReference | OrderDate | OrderType | Remarks | FreightCost
            | FreightCostCurrency => Level::Order,
            ShipmentId | MasterShipmentId | TrackingNbr | DeliveryType | Pickup(_)
            | Delivery(_) | PickupDate | PickupTime | DeliveryDate | DeliveryTime
            | DeliveryTime2 | CodAmount | CodCurrency => Level::Shipment,
            Quantity | Packing | GoodsId | GoodsDescription | Weight | Volume | LoadingMeters
            | Pallets | DgClass | UnNumber => Level::Goods,
            Status | OrgShipmentId | Location | Signee => Level::Status,
        }
    }

    /// The canonical name, as formats.md spells it.
    pub(crate) fn name(self) -> &'static str {
        use Field::*;
        match self {
            CustomerId => "customerID",
            Cn => "CN",
            OrderReference => "orderReference",
            OrderDate => "orderDate",
            OrderType => "orderType",
            Remarks => "remarks",
            FreightCost => "freightCost",
            FreightCostCurrency => "freightCostCurrency",
            ShipmentId => "shipmentID",
            MasterShipmentId => "masterShipmentID",
            TrackingNbr => "trackingNbr",
            DeliveryType => "deliveryType",
            Pickup(part) => pickup_name(part),
            Delivery(part) => delivery_name(part),
            PickupDate => "pickupDate",
            PickupTime => "pickupTime",
            DeliveryDate => "deliveryDate",
            DeliveryTime => "deliveryTime",
            DeliveryTime2 => "deliveryTime2",
            CodAmount => "CODamount",
            CodCurrency => "CODcurrency",
            Quantity => "quantity",
            Packing => "packing",
            GoodsId => "goodsID",
            GoodsDescription => "goodsDescription",
            Weight => "weight",
            Volume => "volume",
            LoadingMeters => "loadingMeters",
            Pallets => "pallets",
            DgClass => "dgClass",
            UnNumber => "unNumber",
            Status => "status",
            OrgShipmentId => "orgShipmentID",
            Location => "location",
            Signee => "signee",
        }
    }

    /// The name shown in a report: the canonical name, with the goods-line number of TTM keys.
    pub(crate) fn label(self, number: Option<u32>) -> String {
        match number {
            Some(n) => format!("{}{n}", self.name()),
            None => self.name().to_owned(),
        }
    }
}

fn pickup_name(part: AddressPart) -> &'static str {
    use AddressPart::*;
    match part {
        Name => "pickupName",
        Name2 => "pickupName2",
        Address => "pickupAddress",
        Address2 => "pickupAddress2",
        HouseNbr => "pickupHouseNbr",
        Postcode => "pickupPostcode",
        City => "pickupCity",
        State => "pickupState",
        Country => "pickupCountry",
    }
}

fn delivery_name(part: AddressPart) -> &'static str {
    use AddressPart::*;
    match part {
        Name => "deliveryName",
        Name2 => "deliveryName2",
        Address => "deliveryAddress",
        Address2 => "deliveryAddress2",
        HouseNbr => "deliveryHouseNbr",
        Postcode => "deliveryPostcode",
        City => "deliveryCity",
        State => "deliveryState",
        Country => "deliveryCountry",
    }
}

/// Lower case, without whitespace, `_`, `-` and `.`.
fn normalize(name: &str) -> String {
    name.chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '_' | '-' | '.'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// The field a normalized name means, synonyms included.
fn lookup(norm: &str) -> Option<Field> {
    use Field::*;
    let field = match norm {
        "customerid" | "customer" | "klantnr" => CustomerId,
        "cn" => Cn,
        "orderreference" | "reference" | "ref" => OrderReference,
        "orderdate" => OrderDate,
        "ordertype" => OrderType,
        "remarks" | "instructions" | "opmerkingen" => Remarks,
        "freightcost" => FreightCost,
        "freightcostcurrency" => FreightCostCurrency,
        "shipmentid" | "orderid" | "ordernr" | "zendingnr" => ShipmentId,
        "mastershipmentid" => MasterShipmentId,
        "trackingnbr" => TrackingNbr,
        "deliverytype" => DeliveryType,
        "sender" | "shipper" | "consignor" | "afzender" => Pickup(AddressPart::Name),
        "consignee" | "receiver" => Delivery(AddressPart::Name),
        "pickupdate" => PickupDate,
        "pickuptime" => PickupTime,
        "deliverydate" => DeliveryDate,
        "deliverytime" => DeliveryTime,
        "deliverytime2" => DeliveryTime2,
        "codamount" => CodAmount,
        "codcurrency" => CodCurrency,
        "quantity" | "colli" | "qty" | "aantal" => Quantity,
        "packing" | "packaging" | "verpakking" => Packing,
        "goodsid" => GoodsId,
        "goodsdescription" => GoodsDescription,
        "weight" | "weightkg" | "gewicht" => Weight,
        "volume" | "m3" | "cbm" => Volume,
        "loadingmeters" | "ldm" => LoadingMeters,
        "pallets" => Pallets,
        "dgclass" => DgClass,
        "unnumber" => UnNumber,
        "status" => Status,
        "orgshipmentid" => OrgShipmentId,
        "location" => Location,
        "signee" => Signee,
        _ => {
            if let Some(rest) = norm.strip_prefix("pickup") {
                return address_part(rest).map(Pickup);
            }
            if let Some(rest) = norm.strip_prefix("delivery") {
                return address_part(rest).map(Delivery);
            }
            return None;
        }
    };
    Some(field)
}

fn address_part(norm: &str) -> Option<AddressPart> {
    use AddressPart::*;
    Some(match norm {
        "name" => Name,
        "name2" => Name2,
        "address" => Address,
        "address2" => Address2,
        "housenbr" => HouseNbr,
        "postcode" | "zip" | "postalcode" => Postcode,
        "city" => City,
        "state" => State,
        "country" | "countrycode" | "land" => Country,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_loosely() {
        assert_eq!(Field::from_name("customerID"), Some(Field::CustomerId));
        assert_eq!(Field::from_name(" Customer_ID "), Some(Field::CustomerId));
        assert_eq!(Field::from_name("Zending-Nr."), Some(Field::ShipmentId));
        assert_eq!(Field::from_name("orderID"), Some(Field::ShipmentId));
        assert_eq!(Field::from_name("weight_kg"), Some(Field::Weight));
        assert_eq!(Field::from_name("LDM"), Some(Field::LoadingMeters));
        assert_eq!(
            Field::from_name("delivery zip"),
            Some(Field::Delivery(AddressPart::Postcode))
        );
        assert_eq!(
            Field::from_name("pickupLand"),
            Some(Field::Pickup(AddressPart::Country))
        );
        assert_eq!(
            Field::from_name("afzender"),
            Some(Field::Pickup(AddressPart::Name))
        );
        assert_eq!(Field::from_name("CODamount"), Some(Field::CodAmount));
        assert_eq!(Field::from_name("colour"), None);
        assert_eq!(Field::from_name("pickup"), None);
    }

    #[test]
    fn numbered_goods_keys() {
        assert_eq!(
            Field::from_numbered_name("quantity12"),
            Some((Field::Quantity, Some(12)))
        );
        assert_eq!(
            Field::from_numbered_name("pickupName2"),
            Some((Field::Pickup(AddressPart::Name2), None))
        );
        assert_eq!(
            Field::from_numbered_name("deliveryTime2"),
            Some((Field::DeliveryTime2, None))
        );
        assert_eq!(
            Field::from_numbered_name("quantity"),
            Some((Field::Quantity, None))
        );
        assert_eq!(Field::from_numbered_name("quantity0"), None);
        assert_eq!(Field::from_numbered_name("deliveryName3"), None);
    }

    #[test]
    fn every_canonical_name_maps_back() {
        use AddressPart::*;
        let parts = [
            Name, Name2, Address, Address2, HouseNbr, Postcode, City, State, Country,
        ];
        for part in parts {
            for field in [Field::Pickup(part), Field::Delivery(part)] {
                assert_eq!(Field::from_name(field.name()), Some(field));
            }
        }
        assert_eq!(
            Field::from_name(Field::CodCurrency.name()),
            Some(Field::CodCurrency)
        );
    }
}
