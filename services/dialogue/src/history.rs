//! The customer's history as inputs to the tone policy: a repeat contact (an earlier conversation
//! about the same order or problem, or the customer saying so) and a company error (the CRM shows
//! the order late, or Parla's own systems failed). Both come from facts and the customer's words,
//! never from a model.

use std::sync::LazyLock;

use parla_proto::v1 as pb;
use regex::Regex;

use crate::{text, Analysis, Intent};

/// Days within which an earlier conversation counts as a previous contact.
pub const REPEAT_WINDOW_DAYS: i64 = 30;

/// The customer says they have been in touch before about this.
static REPEAT_CUES: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?x)\b(
            again | (second|third|fourth) \s time | already \s (called|wrote|written|asked|contacted|told)
          | (last|previous) \s (week|time) \s you | you \s (said|told \s me|promised)
          | di \s nuovo | ancora \s una \s volta | (seconda|terza|quarta) \s volta
          | ho \s gia \s (chiamato|scritto|chiesto|contattato) | vi \s ho \s gia \s (chiamato|scritto)
          | mi \s avevate \s (detto|promesso) | avevate \s detto
        )\b",
    )
    .expect("repeat cue pattern")
});

/// Intents that are problems a customer may come back about.
fn is_problem(i: Intent) -> bool {
    matches!(
        i,
        Intent::Return | Intent::OrderStatus | Intent::DeliveryProblem | Intent::Complaint
    )
}

/// Whether this turn is a repeat contact: the customer says so, or an earlier conversation
/// (started within [`REPEAT_WINDOW_DAYS`], on any channel) was about the same order or problem.
pub fn repeat_contact(
    context: Option<&pb::CustomerContext>,
    conversation_id: &str,
    text_of_turn: &str,
    a: &Analysis,
    order_id: Option<&str>,
    now_seconds: i64,
) -> bool {
    if REPEAT_CUES.is_match(&text::fold(text_of_turn)) {
        return true;
    }
    let Some(ctx) = context else {
        return false;
    };
    let since = now_seconds - REPEAT_WINDOW_DAYS * 86_400;
    ctx.recent_interactions
        .iter()
        .filter(|i| i.conversation_id != conversation_id)
        .filter(|i| i.started_at.as_ref().is_none_or(|t| t.seconds >= since))
        .any(|i| {
            let same_order = order_id.is_some_and(|id| {
                i.summary.contains(id) || i.turns.iter().any(|t| t.text.contains(id))
            });
            let same_problem = is_problem(a.intent)
                && i.turns.iter().any(|t| {
                    t.intent
                        .as_ref()
                        .is_some_and(|x| x.name == a.intent.as_str())
                });
            same_order || same_problem
        })
}

/// Whether the company erred, by the facts: the order is late (expected delivery passed a day ago
/// and not delivered, or delivered more than a day after the promise), or Parla's records are down.
pub fn company_error(order: Option<&pb::Order>, crm_down: bool, now_seconds: i64) -> bool {
    if crm_down {
        return true;
    }
    let Some(o) = order else {
        return false;
    };
    let expected = o.expected_delivery.as_ref().map(|t| t.seconds);
    let delivered = o.delivered_at.as_ref().map(|t| t.seconds);
    match (expected, delivered) {
        (Some(e), None) => e + 86_400 <= now_seconds,
        (Some(e), Some(d)) => d > e + 86_400,
        _ => false,
    }
}

/// Seconds since the Unix epoch now.
pub fn now_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(seconds: i64) -> Option<prost_types::Timestamp> {
        Some(prost_types::Timestamp { seconds, nanos: 0 })
    }

    #[test]
    fn late_orders_are_company_errors() {
        let day = 86_400;
        let late = pb::Order {
            expected_delivery: ts(10 * day),
            ..Default::default()
        };
        assert!(company_error(Some(&late), false, 12 * day));
        assert!(!company_error(Some(&late), false, 10 * day));
        let delivered_late = pb::Order {
            expected_delivery: ts(10 * day),
            delivered_at: ts(13 * day),
            ..Default::default()
        };
        assert!(company_error(Some(&delivered_late), false, 20 * day));
        assert!(!company_error(None, false, 0));
        assert!(company_error(None, true, 0));
    }

    #[test]
    fn the_customer_saying_so_is_a_repeat_contact() {
        for t in [
            "This is the third time I'm asking",
            "You said last week it would come",
            "Vi ho già scritto due volte",
            "Mi avevate detto martedì",
        ] {
            assert!(REPEAT_CUES.is_match(&text::fold(t)), "{t}");
        }
        assert!(!REPEAT_CUES.is_match(&text::fold("Where is my order?")));
    }
}
