//! The names a flow file may use, so that a misspelling stops the load instead of quietly
//! misleading a conversation: the intents the understanding gives (for `triggers` and `keeps`),
//! and the facts a flow can have (for conditions, messages and tool arguments) — its slots, its
//! policy values, the facts of each built-in tool it calls and the `returns` of each developer
//! tool it calls. With each mistake, the closest known name as a hint.

use std::collections::BTreeSet;

use crate::spec::FlowSpec;

/// The intents the understanding gives (`parla-dialogue`'s `Intent::ALL`, by name).
pub const INTENTS: [&str; 10] = [
    "return",
    "order_status",
    "delivery_problem",
    "product_advice",
    "complaint",
    "human",
    "store_info",
    "greeting",
    "goodbye",
    "out_of_scope",
];

/// The facts a built-in tool sets (none for a name that is not a built-in).
pub fn builtin_facts(tool: &str) -> &'static [&'static str] {
    match tool {
        "order.lookup" => &[
            "order_found",
            "order_unknown",
            "order_asked",
            "order_id",
            "order_status",
            "carrier",
            "product",
            "sku",
            "size",
            "line_id",
            "category",
            "final_sale",
            "amount",
            "delivered_at",
            "delivered_on",
            "expected_at",
            "expected_on",
        ],
        "return.eligibility" => &[
            "eligibility",
            "days",
            "open_rma",
            "open_status",
            "deadline",
            "days_since_delivery",
        ],
        "delivery.check" => &["delivery", "days_late"],
        "weather.outlook" => &[
            "weather_known",
            "weather_source",
            "city",
            "temp_c",
            "temp_min_c",
            "temp_max_c",
            "month",
            "place_source",
        ],
        "products.recommend" => &[
            "recommended",
            "rec_product",
            "rec_sku",
            "rec_size",
            "rec_warmth_c",
            "rec_price",
        ],
        "return.create" => &["rma_id", "return_status", "resolution"],
        "case.open" => &["case_id"],
        _ => &[],
    }
}

/// Every fact the flow can have: slots, policy values, and what the tools its steps call set
/// (a developer tool: the keys under its `returns`).
pub fn facts_of(spec: &FlowSpec) -> BTreeSet<String> {
    let mut known: BTreeSet<String> = spec.slots.keys().cloned().collect();
    for p in [
        "policy.return_window_days",
        "policy.late_after_days",
        "policy.handoff_after_days_late",
    ] {
        known.insert(p.to_owned());
    }
    for r in &spec.policy.resolutions {
        known.insert(format!("policy.allows.{r}"));
    }
    for tool in spec.steps.values().filter_map(|s| s.call.as_deref()) {
        known.extend(builtin_facts(tool).iter().map(|f| (*f).to_owned()));
        if let Some(t) = spec.tools.get(tool) {
            known.extend(t.returns.iter().cloned());
        }
    }
    known
}

/// The `{name}`s of a template, in order; an unclosed `{` is an error.
pub fn placeholders(template: &str) -> Result<Vec<&str>, String> {
    let mut names = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| format!("`{{` without its `}}` in \"{template}\""))?;
        names.push(after[..close].trim());
        rest = &after[close + 1..];
    }
    Ok(names)
}

/// A hint for a name that is not known: the closest known name, else the known names.
pub fn hint<'a>(name: &str, known: impl IntoIterator<Item = &'a str>) -> String {
    let known: Vec<&str> = known.into_iter().collect();
    let closest = known
        .iter()
        .map(|k| (distance(name, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.chars().count() / 4))
        .min();
    match closest {
        Some((_, k)) => format!("did you mean `{k}`?"),
        None => format!("known here: {}", known.join(", ")),
    }
}

/// Edit distance (insertions, deletions, substitutions; a swap of neighbours counts one).
fn distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d: Vec<Vec<usize>> = (0..=a.len())
        .map(|i| (0..=b.len()).map(|j| if i == 0 { j } else { i }).collect())
        .collect();
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts;
    use crate::spec::Policy;
    use crate::tools::recommend;
    use crate::Lang;
    use parla_proto::v1 as pb;

    fn within(tool: &str, produced: &facts::Facts) {
        for k in produced.keys() {
            assert!(
                builtin_facts(tool).contains(&k.as_str()),
                "{tool} sets `{k}`, which names.rs does not list"
            );
        }
    }

    #[test]
    fn the_lists_hold_what_the_built_ins_set() {
        let ts = |day: &str| {
            Some(prost_types::Timestamp {
                seconds: facts::parse_day(day).expect("day"),
                nanos: 0,
            })
        };
        let order = pb::Order {
            id: "A1".into(),
            status: "delivered".into(),
            delivered_at: ts("2026-11-01"),
            expected_delivery: ts("2026-10-30"),
            lines: vec![pb::OrderLine {
                name: "Jacket".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let ctx = pb::CustomerContext {
            recent_orders: vec![order],
            open_returns: vec![pb::Return {
                order_id: "A1".into(),
                status: "open".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let found = facts::order_lookup(Some(&ctx), "", "", Lang::En);
        within("order.lookup", &found);
        within(
            "order.lookup",
            &facts::order_lookup(Some(&ctx), "Z9", "", Lang::En),
        );
        let today = facts::parse_day("2026-11-20").expect("day");
        let p = Policy::default();
        within(
            "return.eligibility",
            &facts::return_eligibility(&p, &found, Some(&ctx), today, Lang::En),
        );
        within(
            "return.eligibility",
            &facts::return_eligibility(&p, &found, None, today, Lang::En),
        );
        within("delivery.check", &facts::delivery_check(&p, &found, today));
        within("weather.outlook", &crate::weather::no_weather());
        let product = pb::Product {
            name: "Parka".into(),
            attributes: [("warmth_min_c".to_owned(), "-10".to_owned())].into(),
            ..Default::default()
        };
        within("products.recommend", &recommend::facts(Some(&product), "M"));
    }

    #[test]
    fn hints_name_the_closest() {
        assert_eq!(
            hint("order_fuond", ["order_found", "order_id"]),
            "did you mean `order_found`?"
        );
        assert_eq!(hint("retrun", INTENTS), "did you mean `return`?");
        assert!(hint("zzz", ["a", "b"]).contains("a, b"));
        assert_eq!(placeholders("a {x} b {y}"), Ok(vec!["x", "y"]));
        assert!(placeholders("a {x").is_err());
    }
}
