//! Flows inside a conversation (issue 5): after the turn is understood, an intent that starts a
//! flow (or a flow waiting for the customer) takes the turn. The flow's steps decide every action
//! (returns through the CRM, cases in the queue, the developer's tools); the reply is the flow's
//! message — a reply template of the same key when one exists (with its tones), else the flow
//! file's own wording, filled only from the turn's facts. A hand-off decided by the policy wins
//! over any flow. Turns, actions, tool calls, hand-offs and outcomes go to the event bus.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Mutex, OnceLock};

use parla_flows::{events, ActionGate, FlowReply, Gated, Lang, TurnInput, Who};
use parla_proto::v1 as pb;

use super::{ConversationState, DialogueService, TurnOutcome};
use crate::{Channel, Engine, HandoffDecision, HandoffReason, RenderRequest, Tone};

/// A `'static` name for a flow message key (keys are few: one per message in the flow files).
fn intern(key: &str) -> &'static str {
    static KEYS: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut keys = KEYS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(k) = keys.get(key) {
        return k;
    }
    let leaked: &'static str = Box::leak(key.to_owned().into_boxed_str());
    keys.insert(leaked);
    leaked
}

impl DialogueService {
    /// Lets a flow take the turn: replaces the reply, step and facts, adds actions, flow state
    /// and, when the flow says so, a hand-off.
    /// Runs the turn through the flows; `gate` is asked before each action. False when the
    /// gate said no (the spoken turn was taken back before its action): nothing was done and
    /// the caller restores the conversation.
    pub(super) async fn run_flow(
        &self,
        engine: &Engine,
        state: &mut ConversationState,
        text: &str,
        o: &mut TurnOutcome,
        gate: &mut dyn ActionGate,
    ) -> bool {
        let Some(flows) = self.flows.clone() else {
            return true;
        };
        // No flow starts once the conversation is with a colleague (`handoff_waiting`).
        if o.decision.handoff
            || state.crm_down
            || o.analysis.injection
            || o.step == "handoff_waiting"
        {
            if state.flow.active() {
                state.flow.done = true;
                state.flow.outcome = "handoff".into();
            }
            o.flow_state = Some(state.flow.to_pb());
            return true;
        }
        let mut slots = BTreeMap::new();
        for s in &o.analysis.slots {
            slots
                .entry(s.kind.as_str().to_owned())
                .or_insert_with(|| s.value.clone());
        }
        let lang = Lang::from_tag(o.language.code());
        let input = TurnInput {
            text,
            intent: o.analysis.intent.as_str(),
            confidence: o.analysis.confidence,
            slots: &slots,
            lang,
            context: state.context.as_ref(),
            today: flows.today(),
            turn: o.index,
        };
        let who = Who {
            conversation_id: &state.id,
            customer_id: &state.customer_id,
            caller_phone: state.caller_phone.as_deref(),
            turn_index: o.index,
        };
        let waiting_in = (state.flow.active() && state.flow.waiting)
            .then(|| (state.flow.flow.clone(), state.flow.step.clone()));
        let reply = match flows.turn_gated(&mut state.flow, &input, who, gate).await {
            Gated::Reply(reply) => reply,
            Gated::Withdrawn => return false,
        };
        o.flow_state = Some(state.flow.to_pb());
        if let Some((flow, step)) = waiting_in {
            answered_in_flow(&flows.runner, state, o, text, &flow, &step);
        }
        let Some(reply) = reply else {
            return true;
        };
        apply(engine, state, o, &reply);
        true
    }

    /// Publishes the turn (and its hand-off) for `Events.Subscribe`.
    pub(super) fn publish_turn(&self, state: &ConversationState, final_: &pb::ReplyFinal) {
        let Some(flows) = self.flows.as_ref() else {
            return;
        };
        let base = pb::ConversationEvent {
            conversation_id: state.id.clone(),
            customer_id: state.customer_id.clone(),
            turn_index: final_.turn_index,
            ..Default::default()
        };
        if let Some(h) = final_.handoff.as_ref().filter(|h| h.handoff) {
            flows.events.publish(pb::ConversationEvent {
                r#type: pb::EventType::Handoff as i32,
                handoff: Some(h.clone()),
                ..base.clone()
            });
        }
        flows.events.publish(pb::ConversationEvent {
            r#type: pb::EventType::Turn as i32,
            turn: Some(final_.clone()),
            ..base
        });
    }
}

/// A turn the waiting flow kept is part of what the customer is doing in it: "the trail shoes
/// from order Q24617" or "too narrow" while a return asks "exchange or refund?" is the return,
/// whatever the words alone suggest. A question the flow keeps (a product's price in the middle
/// of a return) stays what it is while the flow still waits at the same step; a statement the
/// model reads the same way ("the black trail shoes") is an answer to the flow.
fn answered_in_flow(
    runner: &parla_flows::FlowRunner,
    state: &ConversationState,
    o: &mut TurnOutcome,
    text: &str,
    flow: &str,
    step: &str,
) {
    let kept = state.flow.flow == flow && state.flow.outcome != "abandoned";
    let Some(spec) = runner.flows().get(flow).map(|f| &f.spec).filter(|_| kept) else {
        return;
    };
    let said = o.analysis.intent.as_str();
    if spec.triggers.iter().any(|t| t == said) {
        return;
    }
    let still_waiting = state.flow.waiting && state.flow.step == step;
    if still_waiting && spec.keeps.iter().any(|k| k == said) && asks_something(text, o.step) {
        return;
    }
    if let Some(intent) = spec.triggers.first().and_then(|t| crate::Intent::parse(t)) {
        o.analysis.runner_up = o.analysis.intent;
        o.analysis.intent = intent;
    }
}

/// The turn asks something of its own: a price Parla answered, a question mark, or a price
/// question however it is punctuated (spoken turns have none).
fn asks_something(text: &str, step: &str) -> bool {
    step == "product_price" || text.contains('?') || crate::products::asks_price(text)
}

/// The hand-off a flow asks for. An action that may have been carried out is for a person to
/// check before anything is done again (reason `ACTION_UNCONFIRMED`; the explanation, and the
/// action's result in the context package, name the tool and its idempotency key); any other
/// is the flow not getting further on its own.
fn flow_handoff(reply: &FlowReply) -> HandoffDecision {
    let reason = if reply.unconfirmed_actions().next().is_some() {
        HandoffReason::ActionUnconfirmed
    } else {
        HandoffReason::NoProgress
    };
    HandoffDecision {
        handoff: true,
        reason: Some(reason),
        explanation: reply.handoff_reason.clone(),
    }
}

/// Puts the flow's reply into the turn's outcome.
fn apply(engine: &Engine, state: &mut ConversationState, o: &mut TurnOutcome, reply: &FlowReply) {
    let mut vars = o.facts.clone();
    vars.extend(
        reply
            .facts
            .iter()
            .filter(|(k, _)| !k.starts_with("policy."))
            .map(|(k, v)| (k.clone(), v.clone())),
    );
    let seed = o.index as u64 ^ 0x5eed;
    let mut parts = Vec::new();
    for (i, said) in reply.said.iter().enumerate() {
        let rendered = engine
            .templates
            .render(&RenderRequest {
                lang: o.language,
                step: &said.key,
                tone: o.tone,
                channel: state.channel,
                vars: &vars,
                seed,
                ssml: state.channel == Channel::Voice,
            })
            .ok();
        let text = match rendered {
            Some(t) => t,
            None => {
                let prefix = (i == 0)
                    .then(|| match o.tone {
                        Tone::Empathetic => reply.tone_prefix.get("empathetic"),
                        Tone::Apologetic => reply.tone_prefix.get("apologetic"),
                        _ => None,
                    })
                    .flatten();
                // The flow filled its own message: its dates and ids are marked for the
                // synthesizer as a template's would be.
                let text = match state.channel {
                    Channel::Voice => crate::templates::mark_values(&said.text, &vars),
                    _ => said.text.clone(),
                };
                match prefix {
                    Some(p) => format!("{p} {text}"),
                    None => text,
                }
            }
        };
        parts.push(text);
    }
    if parts.is_empty() {
        return;
    }
    o.reply = parts.join(" ");
    if let Some(last) = reply.said.last() {
        o.step = intern(&last.key);
    }
    // The reply is built from the flow's facts and wording only; the grounding check may take it
    // as a whole (a model that rewords it may state nothing else).
    vars.insert("flow_reply".into(), o.reply.clone());
    o.facts = vars;
    o.actions = reply.actions().map(events::action).collect();
    state.failed_attempts = 0;
    if reply.handoff && !o.decision.handoff {
        o.decision = flow_handoff(reply);
        state.handed_off = true;
    }
    if let Some(last) = state.transcript.last_mut() {
        *last = format!("parla: {}", o.reply);
    }
}

#[cfg(test)]
mod tests {
    use parla_flows::{CallRecord, FlowReply, ToolCall, ToolOutcome, ToolResult};

    use super::{asks_something, flow_handoff};
    use crate::HandoffReason;

    #[test]
    fn a_statement_inside_a_flow_is_an_answer_and_a_question_is_a_question() {
        assert!(!asks_something(
            "The grey walking boots, size 42.",
            "ask_resolution"
        ));
        assert!(!asks_something(
            "gli scarponi grigi quelli alti",
            "ask_resolution"
        ));
        assert!(asks_something("do you have it in blue?", "ask_resolution"));
        assert!(asks_something(
            "quanto costa lo zaino grande",
            "ask_resolution"
        ));
        assert!(asks_something("the big rucksack", "product_price"));
    }

    fn handed_off_after(outcome: ToolOutcome) -> FlowReply {
        FlowReply {
            calls: vec![CallRecord {
                call: ToolCall {
                    tool: "shop.set_address".into(),
                    args: Default::default(),
                    idempotency_key: "k1".into(),
                    action: true,
                    flow: "delivery_address".into(),
                    step: "set".into(),
                },
                result: ToolResult {
                    outcome,
                    attempts: 3,
                },
            }],
            handoff: true,
            handoff_reason: "outcome unknown: `shop.set_address` … idempotency key k1".into(),
            ..Default::default()
        }
    }

    #[test]
    fn an_unconfirmed_action_is_handed_off_to_be_checked() {
        let d = flow_handoff(&handed_off_after(ToolOutcome::Unknown("no answer".into())));
        assert_eq!(d.reason, Some(HandoffReason::ActionUnconfirmed));
        assert!(d.explanation.contains("k1"), "{}", d.explanation);
        let d = flow_handoff(&handed_off_after(ToolOutcome::Failed("HTTP 422".into())));
        assert_eq!(d.reason, Some(HandoffReason::NoProgress));
    }
}
