//! What a conversation reads from and writes to the other services: who the customer is and
//! their context (the CRM), the hand-off ticket with its context package (the queue), and each
//! turn on the CRM timeline. The stream in `mod.rs` decides when; this file says how, and what a
//! service that does not answer costs (a log line, never the customer's reply).

use parla_proto::v1 as pb;
use parla_proto::v1::crm_client::CrmClient;
use parla_proto::v1::customer_hint::Hint;
use parla_proto::v1::handoff_client::HandoffClient;

use super::convert::{channel_to_pb, intent_to_pb, sentiment_to_pb};
use super::{ConversationState, DialogueService, TurnOutcome};

impl DialogueService {
    /// Identifies the customer and loads their context; an unknown customer stays anonymous,
    /// a CRM that does not answer marks the conversation `crm_down`.
    pub(super) async fn identify(
        &self,
        state: &mut ConversationState,
        hint: Option<pb::CustomerHint>,
    ) {
        let Some(hint) = hint.filter(|h| h.hint.as_ref().is_some_and(|x| !hint_is_empty(x))) else {
            return;
        };
        let Some(channel) = self.crm.clone() else {
            state.crm_down = true;
            return;
        };
        let mut crm = CrmClient::new(channel);
        let customer = match crm
            .identify_customer(pb::IdentifyCustomerRequest { hint: Some(hint) })
            .await
        {
            Ok(c) => c.into_inner(),
            Err(s) if s.code() == tonic::Code::NotFound => return,
            Err(s) => {
                tracing::warn!(conversation = %state.id, error = %s, "crm identify failed");
                state.crm_down = true;
                return;
            }
        };
        state.customer_id = customer.id.clone();
        match crm
            .get_customer_context(pb::GetCustomerContextRequest {
                customer_id: customer.id,
                recent_interactions: 3,
            })
            .await
        {
            Ok(c) => state.context = Some(c.into_inner()),
            Err(s) => {
                tracing::warn!(conversation = %state.id, error = %s, "crm context failed");
                state.crm_down = true;
            }
        }
    }

    /// Publishes the hand-off with its context package; the ticket id, or `None` if the queue
    /// is unreachable (logged: the customer still gets the hand-off wording).
    pub(super) async fn escalate(
        &self,
        s: &ConversationState,
        o: &TurnOutcome,
        decision: &pb::HandoffDecision,
    ) -> Option<String> {
        let channel = self.handoff.clone()?;
        let name = s
            .context
            .as_ref()
            .and_then(|c| c.customer.as_ref())
            .map(|c| c.name.clone())
            .unwrap_or_default();
        let context = pb::ContextPackage {
            conversation_id: s.id.clone(),
            channel: channel_to_pb(s.channel) as i32,
            language: o.language.code().to_owned(),
            customer_id: s.customer_id.clone(),
            customer_name: name,
            summary: summary(s, o),
            transcript: s.transcript.clone(),
            intent: Some(intent_to_pb(o)),
            flow_state: Some(o.flow_state.clone().unwrap_or_default()),
            actions: o.actions.clone(),
            sentiment: Some(sentiment_to_pb(o)),
            decision: Some(decision.clone()),
            // Added for the agent console (chat): the queue fills the order
            // and next step from the intent when these are empty.
            sentiment_history: s.mood.scores().to_vec(),
            tier: s.tier().to_owned(),
            order_id: String::new(),
            suggested_next_step: next_step(&o.facts),
        };
        match HandoffClient::new(channel)
            .escalate(pb::EscalateRequest {
                context: Some(context),
                skill: String::new(),
            })
            .await
        {
            Ok(t) => Some(t.into_inner().id),
            Err(e) => {
                tracing::warn!(conversation = %s.id, error = %e, "hand-off escalation failed");
                None
            }
        }
    }

    /// Appends the customer's turn and Parla's reply to the CRM timeline (logged on failure).
    pub(super) async fn record(
        &self,
        s: &ConversationState,
        text: &str,
        o: &TurnOutcome,
        decision: &pb::HandoffDecision,
    ) {
        let Some(channel) = self.crm.clone().filter(|_| !s.crm_down) else {
            return;
        };
        let mut crm = CrmClient::new(channel);
        let customer = pb::TimelineTurn {
            speaker: "customer".into(),
            text: text.to_owned(),
            sentiment: Some(sentiment_to_pb(o)),
            intent: Some(intent_to_pb(o)),
            ..Default::default()
        };
        let parla = pb::TimelineTurn {
            speaker: "parla".into(),
            text: o.reply.clone(),
            actions: o.actions.clone(),
            handoff: Some(decision.clone()),
            ..Default::default()
        };
        for turn in [customer, parla] {
            let request = pb::AppendInteractionRequest {
                conversation_id: s.id.clone(),
                customer_id: s.customer_id.clone(),
                channel: channel_to_pb(s.channel) as i32,
                turn: Some(turn),
                summary: summary(s, o),
                outcome: if o.decision.handoff {
                    "handoff".into()
                } else {
                    String::new()
                },
            };
            if let Err(e) = crm.append_interaction(request).await {
                tracing::warn!(conversation = %s.id, error = %e, "crm timeline append failed");
                return;
            }
        }
    }
}

fn hint_is_empty(h: &Hint) -> bool {
    match h {
        Hint::PhoneNumber(v) | Hint::Email(v) | Hint::CustomerId(v) => v.trim().is_empty(),
    }
}

/// The agent's next step when the turn's facts call for one the queue cannot guess from the
/// intent: a return already open for the item (the customer wants it changed, and a second
/// one must not be opened). Empty otherwise (the queue fills one from the intent).
fn next_step(facts: &crate::turn::facts::Vars) -> String {
    let Some(rma) = facts.get("open_rma").filter(|r| !r.is_empty()) else {
        return String::new();
    };
    let order = facts
        .get("order_id")
        .map_or_else(|| "the order".to_owned(), |o| format!("order {o}"));
    let status = facts
        .get("open_status")
        .map(|st| format!(" (status {st})"))
        .unwrap_or_default();
    format!(
        "Return {rma} is already open for {order}{status}: ask what the customer wants changed \
         (an exchange instead of a refund, say) and change that return; do not open a second one."
    )
}

/// One line for the agent: intent, mood and the order the turn was about.
fn summary(s: &ConversationState, o: &TurnOutcome) -> String {
    let mut line = format!(
        "intent {}; sentiment {:.2} (trend {:+.2}) over {} turns",
        o.analysis.intent.as_str(),
        o.analysis.sentiment.score,
        o.trend.slope,
        o.trend.turns
    );
    let order =
        o.facts.get("order_id").cloned().or_else(|| {
            crate::turn::facts::order_for(s.context.as_ref(), None).map(|x| x.id.clone())
        });
    if let Some(id) = order {
        line.push_str(&format!("; order {id}"));
    }
    if o.decision.handoff {
        line.push_str(&format!("; hand-off: {}", o.decision.explanation));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_open_return_gives_the_agent_a_step_that_matches_what_the_customer_heard() {
        let facts: crate::turn::facts::Vars = [
            ("open_rma", "RMA-3F9A0C12"),
            ("open_status", "label sent"),
            ("order_id", "A1042"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let step = next_step(&facts);
        assert!(
            step.contains("RMA-3F9A0C12")
                && step.contains("order A1042")
                && step.contains("label sent")
                && step.contains("do not open a second one"),
            "{step}"
        );
        assert_eq!(next_step(&crate::turn::facts::Vars::new()), "");
    }
}
