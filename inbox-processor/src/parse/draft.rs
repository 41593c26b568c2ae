//! Drafts: orders and shipments while a file is still being read, and how a finished draft
//! becomes a model value.
//!
//! A draft keeps only the values a file gave (as checked [`Value`]s with where they were given),
//! so that later rows of the same shipment can be compared with them. This module owns the
//! mapping from fields to model members and the end-of-file checks of a shipment; it knows
//! nothing of formats.

use super::field::{AddressPart, Field};
use super::problem::{Findings, Location, Problem};
use super::value::Value;
use crate::model::{Address, Decimal, GoodsLine, Order, Shipment};

/// A checked value and where it was given.
#[derive(Debug, Clone)]
pub(crate) struct Slot {
    pub(crate) field: Field,
    pub(crate) value: Value,
    pub(crate) location: Location,
}

/// An order being read.
#[derive(Debug)]
pub(crate) struct OrderDraft {
    pub(crate) customer_id: String,
    pub(crate) order_reference: Option<String>,
    /// Order values other than the two above.
    pub(crate) fields: Vec<Slot>,
    pub(crate) shipments: Vec<ShipmentDraft>,
}

/// A shipment being read.
#[derive(Debug)]
pub(crate) struct ShipmentDraft {
    pub(crate) shipment_id: String,
    /// Where the shipment first appears.
    pub(crate) location: Location,
    /// Shipment values other than the ID.
    pub(crate) fields: Vec<Slot>,
    pub(crate) goods: Vec<GoodsLine>,
    /// Goods lines given, valid or not.
    pub(crate) goods_seen: usize,
    /// True once a deliveryName or deliveryAddress was given, valid or not (an invalid one is
    /// reported already).
    pub(crate) delivery_given: bool,
}

impl OrderDraft {
    /// A new, empty order.
    pub(crate) fn new(customer_id: String, order_reference: Option<String>) -> Self {
        OrderDraft {
            customer_id,
            order_reference,
            fields: Vec::new(),
            shipments: Vec::new(),
        }
    }

    /// The finished order; shipments without a delivery name or address, or without goods, are
    /// reported.
    pub(crate) fn build(mut self, findings: &mut Findings) -> Order {
        let mut order = self.header();
        order.shipments.reserve_exact(self.shipments.len());
        for shipment in std::mem::take(&mut self.shipments) {
            order.shipments.push(shipment.build(findings));
        }
        order
    }

    /// The order's values as known so far, without shipments.
    pub(crate) fn header(&self) -> Order {
        let mut order = Order {
            customer_id: self.customer_id.clone(),
            cn: None,
            order_reference: self.order_reference.as_deref().map(Box::from),
            order_date: None,
            order_type: None,
            remarks: None,
            freight_cost: None,
            freight_cost_currency: None,
            shipments: Vec::new(),
        };
        for slot in &self.fields {
            match (slot.field, &slot.value) {
                (Field::Cn, Value::Text(t)) => order.cn = Some(t.as_str().into()),
                (Field::OrderDate, Value::Date(d)) => order.order_date = Some(*d),
                (Field::OrderType, Value::Text(t)) => order.order_type = Some(t.as_str().into()),
                (Field::Remarks, Value::Text(t)) => order.remarks = Some(t.as_str().into()),
                (Field::FreightCost, Value::Decimal(d)) => order.freight_cost = Some(*d),
                (Field::FreightCostCurrency, Value::Text(t)) => {
                    order.freight_cost_currency = Some(t.as_str().into())
                }
                _ => {}
            }
        }
        order
    }
}

impl ShipmentDraft {
    /// A new shipment without values or goods.
    pub(crate) fn new(shipment_id: String, location: Location) -> Self {
        ShipmentDraft {
            shipment_id,
            location,
            fields: Vec::new(),
            goods: Vec::new(),
            goods_seen: 0,
            delivery_given: false,
        }
    }

    pub(crate) fn build(self, findings: &mut Findings) -> Shipment {
        let mut s = Shipment {
            shipment_id: self.shipment_id,
            master_shipment_id: None,
            tracking_nbr: None,
            delivery_type: None,
            pickup: Address::default(),
            delivery: Address::default(),
            pickup_date: None,
            pickup_time: None,
            delivery_date: None,
            delivery_time: None,
            delivery_time2: None,
            cod_amount: None,
            cod_currency: None,
            goods: self.goods,
        };
        for slot in self.fields {
            match (slot.field, slot.value) {
                (Field::MasterShipmentId, Value::Text(t)) => s.master_shipment_id = Some(t.into()),
                (Field::TrackingNbr, Value::Text(t)) => s.tracking_nbr = Some(t.into()),
                (Field::DeliveryType, Value::Text(t)) => s.delivery_type = Some(t.into()),
                (Field::Pickup(part), Value::Text(t)) => set_address(&mut s.pickup, part, t),
                (Field::Delivery(part), Value::Text(t)) => set_address(&mut s.delivery, part, t),
                (Field::PickupDate, Value::Date(d)) => s.pickup_date = Some(d),
                (Field::PickupTime, Value::Time(t)) => s.pickup_time = Some(t),
                (Field::DeliveryDate, Value::Date(d)) => s.delivery_date = Some(d),
                (Field::DeliveryTime, Value::Time(t)) => s.delivery_time = Some(t),
                (Field::DeliveryTime2, Value::Time(t)) => s.delivery_time2 = Some(t),
                (Field::CodAmount, Value::Decimal(d)) => s.cod_amount = Some(d),
                (Field::CodCurrency, Value::Text(t)) => s.cod_currency = Some(t.into()),
                _ => {}
            }
        }
        if !self.delivery_given {
            findings.problem(Problem::field(
                self.location,
                Field::Delivery(AddressPart::Name).name(),
                None,
                format!(
                    "shipment {} needs a deliveryName or a deliveryAddress",
                    s.shipment_id
                ),
            ));
        }
        if self.goods_seen == 0 {
            findings.problem(Problem::field(
                self.location,
                Field::Quantity.name(),
                None,
                format!(
                    "shipment {} has no goods lines (each needs at least a quantity)",
                    s.shipment_id
                ),
            ));
        }
        s
    }
}

/// How reports name an order.
pub(crate) fn describe_order(customer_id: &str, order_reference: Option<&str>) -> String {
    match order_reference {
        Some(r) => format!("order {r} of customer {customer_id}"),
        None => format!("the order of customer {customer_id} without orderReference"),
    }
}

/// Pushes onto a vector that grows by half its length instead of doubling from four: drafts of
/// a big file hold many short vectors, and the usual slack would add up to more than the values.
pub(crate) fn push_lean<T>(items: &mut Vec<T>, item: T) {
    if items.len() == items.capacity() {
        items.reserve_exact((items.len() / 2).max(1));
    }
    items.push(item);
}

fn set_address(address: &mut Address, part: AddressPart, text: String) {
    let slot = match part {
        AddressPart::Name => &mut address.name,
        AddressPart::Name2 => &mut address.name2,
        AddressPart::Address => &mut address.address,
        AddressPart::Address2 => &mut address.address2,
        AddressPart::HouseNbr => &mut address.house_nbr,
        AddressPart::Postcode => &mut address.postcode,
        AddressPart::City => &mut address.city,
        AddressPart::State => &mut address.state,
        AddressPart::Country => &mut address.country,
    };
    *slot = Some(text.into());
}

/// The values of one goods line, filled field by field.
#[derive(Debug, Default)]
pub(crate) struct GoodsFields {
    quantity: Option<std::num::NonZeroU32>,
    packing: Option<Box<str>>,
    goods_id: Option<Box<str>>,
    goods_description: Option<Box<str>>,
    weight: Option<Decimal>,
    volume: Option<Decimal>,
    loading_meters: Option<Decimal>,
    pallets: Option<Decimal>,
    dg_class: Option<Box<str>>,
    un_number: Option<Box<str>>,
}

impl GoodsFields {
    /// Sets a goods value; values of other fields are ignored (parsers never pass them).
    pub(crate) fn set(&mut self, field: Field, value: Value) {
        match (field, value) {
            (Field::Quantity, Value::Quantity(q)) => self.quantity = Some(q),
            (Field::Packing, Value::Text(t)) => self.packing = Some(t.into()),
            (Field::GoodsId, Value::Text(t)) => self.goods_id = Some(t.into()),
            (Field::GoodsDescription, Value::Text(t)) => self.goods_description = Some(t.into()),
            (Field::Weight, Value::Decimal(d)) => self.weight = Some(d),
            (Field::Volume, Value::Decimal(d)) => self.volume = Some(d),
            (Field::LoadingMeters, Value::Decimal(d)) => self.loading_meters = Some(d),
            (Field::Pallets, Value::Decimal(d)) => self.pallets = Some(d),
            (Field::DgClass, Value::Text(t)) => self.dg_class = Some(t.into()),
            (Field::UnNumber, Value::Text(t)) => self.un_number = Some(t.into()),
            _ => {}
        }
    }

    /// The goods line, if it has its quantity.
    pub(crate) fn build(self) -> Option<GoodsLine> {
        Some(GoodsLine {
            quantity: self.quantity?,
            packing: self.packing,
            goods_id: self.goods_id,
            goods_description: self.goods_description,
            weight: self.weight,
            volume: self.volume,
            loading_meters: self.loading_meters,
            pallets: self.pallets,
            dg_class: self.dg_class,
            un_number: self.un_number,
        })
    }
}

/// The optional values of a status update.
#[derive(Debug, Default)]
pub(crate) struct StatusFields {
    pub(crate) customer_id: Option<Box<str>>,
    pub(crate) org_shipment_id: Option<Box<str>>,
    pub(crate) location: Option<Box<str>>,
    pub(crate) signee: Option<Box<str>>,
    pub(crate) remarks: Option<Box<str>>,
}
