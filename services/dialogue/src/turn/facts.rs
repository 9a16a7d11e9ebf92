//! Facts for a reply, taken from the customer's CRM context only: the order a turn is about
//! (the one the customer named, else the most recent), its status, product and dates, and the
//! customer's name when consent allows personalization. Dates are rendered per language.

use std::collections::BTreeMap;

use parla_proto::v1 as pb;

use crate::Language;

/// Whether the customer allows personalized replies (no context or no consent record: no).
pub fn personalization_allowed(context: Option<&pb::CustomerContext>) -> bool {
    context.is_some_and(|c| {
        c.consents
            .iter()
            .any(|k| k.purpose == pb::ConsentPurpose::Personalization as i32 && k.granted)
    })
}

/// The order a turn is about: the one whose id the customer gave, else the most recent one.
pub fn order_for<'a>(
    context: Option<&'a pb::CustomerContext>,
    named: Option<&str>,
) -> Option<&'a pb::Order> {
    let orders = &context?.recent_orders;
    if let Some(id) = named {
        if let Some(o) = orders.iter().find(|o| o.id.eq_ignore_ascii_case(id)) {
            return Some(o);
        }
    }
    orders
        .iter()
        .max_by_key(|o| o.placed_at.as_ref().map(|t| t.seconds).unwrap_or(i64::MIN))
}

/// The order's first product name, or `None` when the order has no lines.
pub fn product(order: &pb::Order) -> Option<&str> {
    order
        .lines
        .first()
        .map(|l| l.name.as_str())
        .filter(|n| !n.is_empty())
}

/// The step for an order's status and the variables it needs; `None` when the facts are
/// incomplete (then the caller asks instead of guessing). An expected date before `today`
/// (Unix seconds) is said as a late delivery, never as a promise.
pub fn order_step(order: &pb::Order, lang: Language, today: i64) -> Option<(&'static str, Vars)> {
    let mut vars = Vars::new();
    vars.insert("order_id".into(), order.id.clone());
    if let Some(p) = product(order) {
        vars.insert("product".into(), p.to_owned());
    }
    if let Some(day) = order.delivered_at.as_ref().map(|t| t.seconds) {
        vars.insert("date".into(), format_date(day, lang));
        return Some(("order_delivered", vars));
    }
    let expected = order.expected_delivery.as_ref().map(|t| t.seconds)?;
    if order.carrier.trim().is_empty() {
        return None;
    }
    vars.insert("date".into(), format_date(expected, lang));
    vars.insert("carrier".into(), order.carrier.clone());
    let days_late = today.div_euclid(DAY) - expected.div_euclid(DAY);
    if days_late > 0 {
        vars.insert("days_late".into(), days_late.to_string());
        return Some(("order_late", vars));
    }
    Some(("order_in_transit", vars))
}

const DAY: i64 = 86_400;

/// The order should have arrived before `today` (Unix seconds) and has not: a question about
/// where it is, however it is worded, is about a late delivery.
pub fn overdue(order: &pb::Order, today: i64) -> bool {
    let settled = order.delivered_at.is_some()
        || ["delivered", "cancelled", "canceled"]
            .iter()
            .any(|s| order.status.eq_ignore_ascii_case(s));
    let expected = order.expected_delivery.as_ref().map(|t| t.seconds);
    !settled && expected.is_some_and(|e| today.div_euclid(DAY) > e.div_euclid(DAY))
}

/// Template variables.
pub type Vars = BTreeMap<String, String>;

/// Variables of the personal greeting (name, product, delivery date), when consent allows it and
/// the most recent order was delivered.
pub fn personal_greeting(context: Option<&pb::CustomerContext>, lang: Language) -> Option<Vars> {
    if !personalization_allowed(context) {
        return None;
    }
    let ctx = context?;
    let name = ctx
        .customer
        .as_ref()?
        .name
        .split_whitespace()
        .next()?
        .to_owned();
    let order = order_for(Some(ctx), None)?;
    let delivered = order.delivered_at.as_ref()?.seconds;
    let mut vars = Vars::new();
    vars.insert("name".into(), name);
    vars.insert("product".into(), product(order)?.to_owned());
    vars.insert("date".into(), format_date(delivered, lang));
    vars.insert("order_id".into(), order.id.clone());
    Some(vars)
}

/// "15 November 2026" / "15 novembre 2026" from Unix seconds (UTC).
pub fn format_date(unix_seconds: i64, lang: Language) -> String {
    parla_text::dates::written(unix_seconds, lang.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn in_transit(expected: i64) -> pb::Order {
        pb::Order {
            id: "D5531".into(),
            carrier: "UPS".into(),
            expected_delivery: Some(prost_types::Timestamp {
                seconds: expected,
                nanos: 0,
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_promised_date_that_has_passed_is_a_late_delivery() {
        // Expected 2026-11-06 at noon.
        let expected = 1_793_966_400;
        let (step, vars) =
            order_step(&in_transit(expected), Language::En, expected + 31 * DAY).unwrap();
        assert_eq!(step, "order_late");
        assert_eq!(vars["days_late"], "31");
        assert_eq!(vars["date"], "6 November 2026");
        // The same day, or before: still a promise.
        let (step, _) = order_step(&in_transit(expected), Language::En, expected + 3600).unwrap();
        assert_eq!(step, "order_in_transit");
        let (step, _) =
            order_step(&in_transit(expected), Language::It, expected - 2 * DAY).unwrap();
        assert_eq!(step, "order_in_transit");
    }

    #[test]
    fn an_order_past_its_date_and_not_delivered_is_overdue() {
        let expected = 1_793_966_400;
        assert!(overdue(&in_transit(expected), expected + 2 * DAY));
        assert!(!overdue(&in_transit(expected), expected + 3600));
        assert!(!overdue(&in_transit(expected), expected - 5 * DAY));
        let mut arrived = in_transit(expected);
        arrived.delivered_at = Some(prost_types::Timestamp {
            seconds: expected + DAY,
            nanos: 0,
        });
        assert!(!overdue(&arrived, expected + 9 * DAY));
        let mut cancelled = in_transit(expected);
        cancelled.status = "cancelled".into();
        assert!(!overdue(&cancelled, expected + 9 * DAY));
        let mut no_date = in_transit(expected);
        no_date.expected_delivery = None;
        assert!(!overdue(&no_date, expected + 9 * DAY));
    }

    #[test]
    fn dates_read_per_language() {
        // 2026-11-15 12:00 UTC.
        let t = 1_794_744_000;
        assert_eq!(format_date(t, Language::En), "15 November 2026");
        assert_eq!(format_date(t, Language::It), "15 novembre 2026");
        assert_eq!(format_date(0, Language::En), "1 January 1970");
    }
}
