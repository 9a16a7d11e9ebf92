//! The built-in tools that need nothing but the customer's CRM context, the flow's policy and
//! today's date — `order.lookup`, `return.eligibility`, `delivery.check` — and the helpers that
//! turn records into facts: dates read per language, amounts, slot values from the customer's
//! words. Pure functions, so the policy logic is tested without servers.

use std::collections::BTreeMap;

use parla_proto::v1 as pb;

use crate::spec::{Policy, SlotSpec};
use crate::Lang;
pub use parla_text::dates::{civil, month_name, parse_day, written as format_date};

/// Facts: named values a flow's conditions test and its messages say.
pub type Facts = BTreeMap<String, String>;

const DAY: i64 = 86_400;

/// `order.lookup`: the order the customer named (`order_id`), else the most recent one whose
/// product matches the `product` slot, else the most recent. A named id that is not among the
/// customer's orders is not replaced by another order: `order_found` is false and
/// `order_unknown` true.
pub fn order_lookup(
    context: Option<&pb::CustomerContext>,
    named: &str,
    product_hint: &str,
    lang: Lang,
) -> Facts {
    let mut f = Facts::new();
    let orders: &[pb::Order] = context.map(|c| c.recent_orders.as_slice()).unwrap_or(&[]);
    let named = named.trim();
    let order = if !named.is_empty() {
        let found = orders.iter().find(|o| o.id.eq_ignore_ascii_case(named));
        if found.is_none() {
            f.insert("order_unknown".into(), "true".into());
            f.insert("order_asked".into(), named.to_uppercase());
        }
        found
    } else {
        let newest = |o: &&pb::Order| o.placed_at.as_ref().map(|t| t.seconds).unwrap_or(i64::MIN);
        let hint = fold(product_hint);
        orders
            .iter()
            .filter(|o| !hint.is_empty() && o.lines.iter().any(|l| fold(&l.name).contains(&hint)))
            .max_by_key(newest)
            .or_else(|| orders.iter().max_by_key(newest))
    };
    let Some(order) = order else {
        f.insert("order_found".into(), "false".into());
        return f;
    };
    let hint = fold(product_hint);
    let line = order
        .lines
        .iter()
        .find(|l| !hint.is_empty() && fold(&l.name).contains(&hint))
        .or_else(|| order.lines.first());
    f.insert("order_found".into(), "true".into());
    f.insert("order_id".into(), order.id.clone());
    f.insert("order_status".into(), order.status.clone());
    f.insert("carrier".into(), order.carrier.clone());
    if let Some(l) = line {
        f.insert("product".into(), l.name.clone());
        f.insert("sku".into(), l.sku.clone());
        f.insert("size".into(), l.size.clone());
        f.insert("line_id".into(), l.id.clone());
        f.insert("category".into(), l.category.clone());
        f.insert("final_sale".into(), l.final_sale.to_string());
        let currency = if order.currency.is_empty() {
            "EUR"
        } else {
            order.currency.as_str()
        };
        let minor = l.unit_price_minor * i64::from(l.quantity.max(1));
        f.insert("amount".into(), amount(minor, currency));
    }
    if let Some(t) = &order.delivered_at {
        f.insert("delivered_at".into(), t.seconds.to_string());
        f.insert("delivered_on".into(), format_date(t.seconds, lang));
    }
    if let Some(t) = &order.expected_delivery {
        f.insert("expected_at".into(), t.seconds.to_string());
        f.insert("expected_on".into(), format_date(t.seconds, lang));
    }
    f
}

/// A return of the customer's already open for this order line (`order_id`, `line_id` facts):
/// its RMA id and status. Closed ones (refunded, rejected, cancelled, completed) do not count.
pub fn open_return_for(
    context: Option<&pb::CustomerContext>,
    facts: &Facts,
) -> Option<(String, String)> {
    let order = facts.get("order_id")?;
    let line = facts.get("line_id");
    context?
        .open_returns
        .iter()
        .filter(|r| &r.order_id == order)
        .filter(|r| line.is_none_or(|l| r.line_ids.is_empty() || r.line_ids.contains(l)))
        .find(|r| {
            !matches!(
                r.status.as_str(),
                "refunded" | "rejected" | "cancelled" | "canceled" | "completed" | "closed"
            )
        })
        .map(|r| (r.rma_id.clone(), r.status.clone()))
}

/// `return.eligibility`: `eligibility` = `eligible`, `already_open` (a return of this line is
/// open: `open_rma`, `open_status`), `final_sale`, `out_of_window` or `not_delivered`, with
/// `days` (the window), `deadline` and `days_since_delivery`.
pub fn return_eligibility(
    policy: &Policy,
    facts: &Facts,
    context: Option<&pb::CustomerContext>,
    today: i64,
    lang: Lang,
) -> Facts {
    let mut f = Facts::new();
    f.insert("days".into(), policy.return_window_days.to_string());
    if let Some((rma, status)) = open_return_for(context, facts) {
        f.insert("open_rma".into(), rma);
        f.insert("open_status".into(), status);
        f.insert("eligibility".into(), "already_open".into());
        return f;
    }
    let delivered = facts
        .get("delivered_at")
        .and_then(|s| s.parse::<i64>().ok());
    let category = facts.get("category").map(String::as_str).unwrap_or("");
    let final_sale = facts.get("final_sale").is_some_and(|v| v == "true")
        || policy
            .final_sale_categories
            .iter()
            .any(|c| c.eq_ignore_ascii_case(category));
    let verdict = match delivered {
        None => "not_delivered",
        Some(_) if final_sale => "final_sale",
        Some(at) => {
            // Calendar days (UTC): the window closes at the end of the deadline's day.
            let deadline = at + i64::from(policy.return_window_days) * DAY;
            f.insert("deadline".into(), format_date(deadline, lang));
            f.insert(
                "days_since_delivery".into(),
                (day(today) - day(at)).to_string(),
            );
            if day(today) > day(deadline) {
                "out_of_window"
            } else {
                "eligible"
            }
        }
    };
    f.insert("eligibility".into(), verdict.into());
    f
}

/// `delivery.check`: `delivery` = `delivered`, `late`, `on_time` or `unknown`, with `days_late`.
pub fn delivery_check(policy: &Policy, facts: &Facts, today: i64) -> Facts {
    let mut f = Facts::new();
    let num = |k: &str| facts.get(k).and_then(|s| s.parse::<i64>().ok());
    let verdict = if num("delivered_at").is_some() {
        "delivered"
    } else if let Some(expected) = num("expected_at") {
        let late = day(today) - day(expected);
        f.insert("days_late".into(), late.max(0).to_string());
        if late >= i64::from(policy.late_after_days) {
            "late"
        } else {
            "on_time"
        }
    } else {
        "unknown"
    };
    f.insert("delivery".into(), verdict.into());
    f
}

/// The UTC calendar day of Unix seconds.
fn day(unix_seconds: i64) -> i64 {
    unix_seconds.div_euclid(DAY)
}

/// "89.00 EUR" from minor units.
pub fn amount(minor: i64, currency: &str) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let m = minor.abs();
    format!("{sign}{}.{:02} {currency}", m / 100, m % 100)
}

/// Lower-case, accents and typographic apostrophes folded, for matching words.
pub fn fold(text: &str) -> String {
    text.chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'à' | 'á' | 'â' | 'ä' => 'a',
            'è' | 'é' | 'ê' | 'ë' => 'e',
            'ì' | 'í' | 'î' | 'ï' => 'i',
            'ò' | 'ó' | 'ô' | 'ö' => 'o',
            'ù' | 'ú' | 'û' | 'ü' => 'u',
            '\u{2019}' | '\u{2018}' | '`' => '\'',
            c => c,
        })
        .collect()
}

/// The value of a slot in `text`: the canonical value whose phrase occurs at word boundaries,
/// preferring the longest phrase (so "no thanks" beats "no", "not warm" beats "warm").
pub fn slot_value(spec: &SlotSpec, text: &str) -> Option<String> {
    let t = format!(
        " {} ",
        fold(text).replace(|c: char| !(c.is_alphanumeric() || c == '\''), " ")
    );
    let t = t.split_whitespace().collect::<Vec<_>>().join(" ");
    let t = format!(" {t} ");
    let mut best: Option<(usize, &str)> = None;
    for (value, phrases) in &spec.values {
        for p in phrases {
            let p = fold(p);
            let p = p.split_whitespace().collect::<Vec<_>>().join(" ");
            if !p.is_empty()
                && t.contains(&format!(" {p} "))
                && best.is_none_or(|(n, _)| p.len() > n)
            {
                best = Some((p.len(), value.as_str()));
            }
        }
    }
    best.map(|(_, v)| v.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(id: &str, delivered: Option<&str>, expected: Option<&str>, sale: bool) -> pb::Order {
        let ts = |d: &str| prost_types::Timestamp {
            seconds: parse_day(d).expect("date"),
            nanos: 0,
        };
        pb::Order {
            id: id.into(),
            status: if delivered.is_some() {
                "delivered"
            } else {
                "shipped"
            }
            .into(),
            placed_at: Some(ts("2026-11-01")),
            delivered_at: delivered.map(ts),
            expected_delivery: expected.map(ts),
            currency: "EUR".into(),
            carrier: "BRT".into(),
            lines: vec![pb::OrderLine {
                id: format!("{id}-1"),
                sku: "JKT-BREEZE-M".into(),
                name: "Breeze light jacket".into(),
                size: "M".into(),
                quantity: 1,
                unit_price_minor: 8900,
                category: "outerwear".into(),
                final_sale: sale,
            }],
            ..Default::default()
        }
    }

    #[test]
    fn dates_round_trip() {
        let t = parse_day("2026-11-15").expect("date");
        assert_eq!(format_date(t, Lang::En), "15 November 2026");
        assert_eq!(format_date(t, Lang::It), "15 novembre 2026");
        assert_eq!(civil(parse_day("2024-02-29").expect("leap")), (2024, 2, 29));
        assert_eq!(parse_day("2026-13-01"), None);
    }

    #[test]
    fn eligibility_follows_policy_and_dates() {
        let policy = Policy::default();
        let today = parse_day("2026-11-25").expect("date");
        let ctx = |o: pb::Order| pb::CustomerContext {
            recent_orders: vec![o],
            ..Default::default()
        };
        let check = |o: pb::Order| {
            let c = ctx(o);
            let f = order_lookup(Some(&c), "", "", Lang::En);
            return_eligibility(&policy, &f, None, today, Lang::En)["eligibility"].clone()
        };
        assert_eq!(
            check(order("A1", Some("2026-11-15"), None, false)),
            "eligible"
        );
        assert_eq!(
            check(order("A1", Some("2026-08-05"), None, false)),
            "out_of_window"
        );
        assert_eq!(
            check(order("A1", Some("2026-11-15"), None, true)),
            "final_sale"
        );
        assert_eq!(
            check(order("A1", None, Some("2026-11-20"), false)),
            "not_delivered"
        );
        let c = ctx(order("A1", None, Some("2026-11-20"), false));
        let f = order_lookup(Some(&c), "a1", "", Lang::En);
        assert_eq!(f["amount"], "89.00 EUR");
        let d = delivery_check(&policy, &f, today);
        assert_eq!(
            (d["delivery"].as_str(), d["days_late"].as_str()),
            ("late", "5")
        );
        let unknown = order_lookup(Some(&c), "Z999", "", Lang::En);
        assert_eq!(unknown["order_found"], "false");
        assert_eq!(unknown["order_unknown"], "true");
    }

    #[test]
    fn slot_values_prefer_the_longest_phrase() {
        let mut spec = SlotSpec::default();
        spec.values
            .insert("yes".into(), vec!["ok".into(), "sì".into()]);
        spec.values
            .insert("no".into(), vec!["no".into(), "no thanks, ok".into()]);
        assert_eq!(slot_value(&spec, "No thanks, OK?"), Some("no".into()));
        assert_eq!(slot_value(&spec, "Sì, grazie"), Some("yes".into()));
        assert_eq!(slot_value(&spec, "nothing"), None);
    }
}
