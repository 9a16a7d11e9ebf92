//! Drives one customer turn through a flow the way the dialogue does: the runner decides, the
//! real toolbox calls the tools (the test's local servers), and the reply comes back with the
//! events the turn publishes.

use std::collections::BTreeMap;
use std::sync::Arc;

use parla_flows::tools::CallContext;
use parla_flows::weather::ClimateNormals;
use parla_flows::{
    Directive, EventBus, FlowReply, FlowRunner, FlowSet, FlowState, Lang, Toolbox, TurnInput,
};
use parla_proto::v1 as pb;

/// One customer turn.
pub struct Turn<'a> {
    /// Conversation id.
    pub conversation: &'a str,
    /// Turn index.
    pub index: u32,
    /// What the customer says.
    pub text: &'a str,
    /// The understood intent.
    pub intent: &'a str,
    /// Language.
    pub lang: Lang,
    /// The customer's CRM context.
    pub context: Option<&'a pb::CustomerContext>,
}

/// Runs the turn; returns the flow's reply and the events it published.
pub async fn turn(
    set: &FlowSet,
    state: &mut FlowState,
    t: Turn<'_>,
) -> (FlowReply, Vec<pb::ConversationEvent>) {
    let runner = FlowRunner::new(set.clone());
    let toolbox = Toolbox::new(set.clone(), None, None, Arc::new(ClimateNormals));
    let slots = BTreeMap::new();
    let input = TurnInput {
        text: t.text,
        intent: t.intent,
        confidence: 0.9,
        slots: &slots,
        lang: t.lang,
        context: t.context,
        today: 0,
        turn: t.index,
    };
    let mut d = runner.turn(state, &input);
    let reply = loop {
        match d {
            Directive::Reply(r) => break r,
            Directive::Pass => panic!("the flow did not take the turn"),
            Directive::Call(call) => {
                let known = state.known();
                let cx = CallContext {
                    conversation_id: t.conversation,
                    customer_id: "C100",
                    context: t.context,
                    caller_phone: None,
                    lang: t.lang,
                    today: 0,
                    facts: &known,
                };
                let result = toolbox.call(&call, &cx).await;
                d = runner.resume(state, &input, result);
            }
        }
    };
    let bus = EventBus::new();
    let mut rx = bus.subscribe();
    bus.publish_flow(t.conversation, "C100", t.index, &state.flow, &reply);
    let mut events = Vec::new();
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    (reply, events)
}
