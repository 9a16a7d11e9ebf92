//! Who should be answered first, and what the agent should look at: the
//! priority of a waiting ticket (sentiment, tier, waiting time, reason) and
//! the parts of a context package the queue can derive (order, suggested
//! next step) when the escalating service left them empty.

use parla_proto::v1::{ContextPackage, HandoffReason};

use crate::store::Ticket;

/// Priority of a ticket at `now_ms`: higher first. Points: up to 40 for a
/// negative sentiment (score −1 → 40), 30 for a VIP or platinum customer,
/// 15 for gold, 20 for a sensitive situation, one per minute waited (at
/// most 60), so nobody waits forever behind louder customers.
pub fn priority(ticket: &Ticket, now_ms: i64) -> f64 {
    let c = &ticket.context;
    let score = c
        .sentiment
        .as_ref()
        .map(|s| f64::from(s.score))
        .unwrap_or(0.0);
    let mood = (-score).max(0.0) * 40.0;
    let tier = match c.tier.to_ascii_lowercase().as_str() {
        "vip" | "platinum" => 30.0,
        "gold" => 15.0,
        _ => 0.0,
    };
    let reason = c.decision.as_ref().map(|d| d.reason).unwrap_or(0);
    // A sensitive topic, or an action that may have gone through while the customer was
    // told a colleague will check: both are waited on.
    let sensitive = if reason == HandoffReason::Sensitive as i32
        || reason == HandoffReason::ActionUnconfirmed as i32
    {
        20.0
    } else {
        0.0
    };
    let waited_min = ((now_ms - ticket.created_at_ms).max(0) as f64 / 60_000.0).min(60.0);
    mood + tier + sensitive + waited_min
}

/// Fills the order id (from the intent's or flow's slots) and a suggested
/// next step (from intent and reason) when they are empty.
pub fn complete_context(c: &mut ContextPackage) {
    if c.order_id.is_empty() {
        let from_intent = c.intent.as_ref().and_then(|i| i.slots.get("order_id"));
        let from_flow = c.flow_state.as_ref().and_then(|f| f.slots.get("order_id"));
        if let Some(id) = from_intent.or(from_flow) {
            c.order_id = id.clone();
        }
    }
    if c.suggested_next_step.is_empty() {
        let intent = c.intent.as_ref().map(|i| i.name.as_str()).unwrap_or("");
        let reason = c.decision.as_ref().map(|d| d.reason).unwrap_or(0);
        let order = if c.order_id.is_empty() {
            "the order".to_owned()
        } else {
            format!("order {}", c.order_id)
        };
        let step = match intent {
            _ if reason == HandoffReason::ActionUnconfirmed as i32 => format!("An action on {order} may or may not have gone through (see the reason for the tool and its idempotency key): check the shop's system by that key before doing it again, then tell the customer what happened."),
            "delivery_problem" | "order_status" => format!("Check the carrier's tracking for {order}, give a firm delivery date, and offer a refund of shipping or a replacement if it is late."),
            "return" => format!("Confirm the return of {order} and send the label; offer an exchange if the size was wrong."),
            "complaint" => format!("Acknowledge the problem, open a case for {order}, and offer a goodwill gesture within your limits."),
            _ if reason == HandoffReason::Sensitive as i32 => "Handle with care: listen, do not promise outcomes, escalate to a supervisor if legal or safety issues are raised.".to_owned(),
            _ => "Read the transcript, greet the customer by name, and ask what would resolve this for them.".to_owned(),
        };
        let calm = if reason == HandoffReason::Sentiment as i32
            || reason == HandoffReason::VipUnhappy as i32
        {
            "The customer is upset: apologise first. "
        } else {
            ""
        };
        c.suggested_next_step = format!("{calm}{step}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unconfirmed_action_asks_the_agent_to_check_before_redoing_it() {
        let mut c = ContextPackage {
            order_id: "A1042".into(),
            decision: Some(HandoffDecision {
                handoff: true,
                reason: HandoffReason::ActionUnconfirmed as i32,
                ..HandoffDecision::default()
            }),
            intent: Some(Intent {
                name: "return".into(),
                ..Intent::default()
            }),
            ..ContextPackage::default()
        };
        complete_context(&mut c);
        assert!(
            c.suggested_next_step.contains("idempotency key")
                && c.suggested_next_step.contains("A1042"),
            "{}",
            c.suggested_next_step
        );
    }
    use parla_proto::v1::{HandoffDecision, Intent, Sentiment};

    fn ticket(score: f32, tier: &str, age_min: i64) -> Ticket {
        Ticket {
            id: "T1".into(),
            state: crate::TicketState::Waiting,
            context: ContextPackage {
                tier: tier.into(),
                sentiment: Some(Sentiment {
                    score,
                    ..Default::default()
                }),
                ..Default::default()
            },
            agent_id: None,
            skill: String::new(),
            created_at_ms: 1_000_000 - age_min * 60_000,
        }
    }

    #[test]
    fn angrier_richer_and_older_come_first() {
        let now = 1_000_000;
        assert!(priority(&ticket(-0.9, "", 0), now) > priority(&ticket(0.1, "", 0), now));
        assert!(priority(&ticket(0.0, "vip", 0), now) > priority(&ticket(0.0, "standard", 0), now));
        assert!(priority(&ticket(0.0, "", 30), now) > priority(&ticket(0.0, "", 1), now));
    }

    #[test]
    fn order_and_next_step_are_derived() {
        let mut c = ContextPackage {
            intent: Some(Intent {
                name: "delivery_problem".into(),
                slots: [("order_id".to_owned(), "A1042".to_owned())].into(),
                ..Default::default()
            }),
            decision: Some(HandoffDecision {
                handoff: true,
                reason: HandoffReason::Sentiment as i32,
                ..Default::default()
            }),
            ..Default::default()
        };
        complete_context(&mut c);
        assert_eq!(c.order_id, "A1042");
        assert!(c.suggested_next_step.starts_with("The customer is upset"));
        assert!(c.suggested_next_step.contains("A1042"));
    }
}
