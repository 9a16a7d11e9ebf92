//! One turn of a conversation, free of gRPC: understanding, mood, tone, hand-off decision, the
//! flow step and its facts, and the rendered reply. Customer text only ever selects a template
//! step; it never triggers an action (there are none yet) or changes policy.

use parla_proto::v1 as pb;

pub mod facts;

use crate::{
    Analysis, Channel, ConversationMood, DialogueConfig, HandoffDecision, HandoffReason, Intent,
    Language, RenderRequest, SlotKind, Templates, Tone, ToneInput, TrendSummary, Understanding,
};
use facts::Vars;

/// What a conversation remembers between turns.
#[derive(Debug, Clone)]
pub struct ConversationState {
    /// Conversation id.
    pub id: String,
    /// Channel.
    pub channel: Channel,
    /// Language fixed at the start or by the first turn.
    pub language: Option<Language>,
    /// The identified customer's id (empty: anonymous).
    pub customer_id: String,
    /// The CRM context, when the customer was identified and the CRM answered.
    pub context: Option<pb::CustomerContext>,
    /// The CRM could not be reached at the start.
    pub crm_down: bool,
    /// Sentiment and confidence history.
    pub mood: ConversationMood,
    /// "customer: ..." and "parla: ..." lines so far.
    pub transcript: Vec<String>,
    /// Index of the next turn.
    pub turn_index: u32,
    /// Characters heard of each interrupted reply: (turn index, heard chars).
    pub heard: Vec<(u32, u32)>,
    /// Turns that ended without progress (clarifications), in a row.
    pub failed_attempts: u32,
    /// Off-topic turns so far (not manipulation).
    pub off_topic: u32,
    /// Consecutive turns asking again what the turn before answered.
    pub repeats: u32,
    /// The intent the latest turn answered (not a question back, not a flow waiting for an
    /// answer): the same intent again next turn is the customer asking again.
    pub answered: Option<Intent>,
    /// Already handed off (later turns keep the hand-off wording).
    pub handed_off: bool,
    /// The hand-off ticket, once there is one (later hand-offs reuse it).
    pub ticket: Option<String>,
    /// Parla already apologised in this conversation (later turns are empathetic instead).
    pub apologised: bool,
    /// The flow in progress (or the last one), its slots and facts.
    pub flow: parla_flows::FlowState,
    /// The caller's phone number when the channel gave it (to place the customer).
    pub caller_phone: Option<String>,
    /// The catalogue's product names when a model words replies (for the grounding check).
    pub catalogue: std::sync::Arc<Vec<String>>,
    /// Today (Unix seconds): `flows.today` when set, else the clock. A promised delivery date
    /// before it is a late delivery, never a promise.
    pub today: i64,
}

impl ConversationState {
    /// A new conversation.
    pub fn new(id: String, channel: Channel, language: Option<Language>, decay: f32) -> Self {
        ConversationState {
            id,
            channel,
            language,
            customer_id: String::new(),
            context: None,
            crm_down: false,
            mood: ConversationMood::new(decay),
            transcript: Vec::new(),
            turn_index: 0,
            heard: Vec::new(),
            failed_attempts: 0,
            off_topic: 0,
            repeats: 0,
            answered: None,
            handed_off: false,
            ticket: None,
            apologised: false,
            flow: parla_flows::FlowState::default(),
            caller_phone: None,
            catalogue: std::sync::Arc::default(),
            today: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64),
        }
    }

    /// The customer's tier ("" when anonymous).
    pub fn tier(&self) -> &str {
        self.context
            .as_ref()
            .and_then(|c| c.customer.as_ref())
            .map(|c| c.tier.as_str())
            .unwrap_or("")
    }
}

/// The outcome of one turn, before it is written to the CRM and sent.
#[derive(Debug, Clone)]
pub struct TurnOutcome {
    /// Turn index.
    pub index: u32,
    /// Language of the turn and reply.
    pub language: Language,
    /// The understanding.
    pub analysis: Analysis,
    /// Combined confidence in [0, 1].
    pub confidence: f32,
    /// Trend after this turn.
    pub trend: TrendSummary,
    /// Chosen tone.
    pub tone: Tone,
    /// Template step.
    pub step: &'static str,
    /// Hand-off verdict.
    pub decision: HandoffDecision,
    /// The reply text.
    pub reply: String,
    /// Facts the reply was built from (order id and the like), for the summary.
    pub facts: Vars,
    /// Drafts rejected by the grounding check (set by `phrasing::finish`).
    pub rejected_replies: u32,
    /// The language model worded the reply (set by `phrasing::finish`).
    pub model_phrased: bool,
    /// Where the flow stands after this turn (set by the flow step).
    pub flow_state: Option<pb::FlowState>,
    /// Actions a flow took at this turn.
    pub actions: Vec<pb::Action>,
}

/// Text that would go to a language model: personal data redacted. No model phrases replies by
/// default; this is the one place such a call would take its input from.
pub fn model_input(text: &str) -> String {
    crate::redact(text).text
}

/// Runs one turn (CPU only: call it on a blocking thread).
pub fn run_turn(
    nlu: &Understanding,
    templates: &Templates,
    config: &DialogueConfig,
    state: &mut ConversationState,
    text: &str,
    language: Option<Language>,
    asr_confidence: f32,
) -> TurnOutcome {
    let lang = language
        .or(state.language)
        .or_else(|| Language::detect(text))
        .unwrap_or(Language::En);
    state.language.get_or_insert(lang);
    let mut analysis = nlu.analyze(text, lang);
    if !state.mood.scores().is_empty() {
        analysis.sentiment = nlu.blend().in_context(
            analysis.sentiment,
            state.mood.trend().level,
            config.sentiment_context,
        );
    }
    // The order the turn is about: the one it names, else the one the flow is working on,
    // else the newest.
    let named = analysis
        .slot(SlotKind::OrderId)
        .map(str::to_owned)
        .or_else(|| {
            let flow = &state.flow;
            flow.slots
                .get("order_id")
                .or(flow.facts.get("order_id"))
                .cloned()
        });
    let order = facts::order_for(state.context.as_ref(), named.as_deref());
    let intent = late_by_the_facts(analysis.intent, order, state.today);
    if intent != analysis.intent {
        analysis.runner_up = analysis.intent;
        analysis.intent = intent;
    }
    let asr = if asr_confidence > 0.0 {
        asr_confidence.min(1.0)
    } else {
        1.0
    };
    let needs_order = matches!(
        analysis.intent,
        Intent::OrderStatus | Intent::DeliveryProblem | Intent::Return
    );
    let has_order = analysis.slot(SlotKind::OrderId).is_some()
        || facts::order_for(state.context.as_ref(), None).is_some();
    let confidence = crate::confidence::combine(&crate::confidence::Signals {
        asr: (asr_confidence > 0.0).then_some(asr),
        intent_probability: analysis.confidence,
        margin: analysis.margin,
        slots_needed: u32::from(needs_order),
        slots_found: u32::from(needs_order && has_order),
        rejected_replies: 0,
    });
    // An answer to a flow's question ("the parka in medium", "yes") is the flow's to
    // understand, and the flow counts its own failed attempts: it never makes the turn "not
    // understood" for the hand-off policy.
    let recorded = if state.flow.active() && state.flow.waiting {
        confidence.max(config.handoff.min_confidence)
    } else {
        confidence
    };
    let trend = state.mood.record(&analysis, recorded);
    if analysis.intent == Intent::OutOfScope && !analysis.injection {
        state.off_topic += 1;
    }
    // Asking again what was just answered ("but when is it coming?") means the answer did not
    // help; questions that get new information each time (a product, a return) do not count.
    let asks_again = matches!(
        analysis.intent,
        Intent::OrderStatus | Intent::DeliveryProblem | Intent::StoreInfo
    ) && state.answered == Some(analysis.intent);
    state.repeats = if asks_again { state.repeats + 1 } else { 0 };
    let progress = crate::conversation::Progress {
        failed_attempts: state.failed_attempts,
        off_topic: state.off_topic,
        repeats: state.repeats,
        answering: answers_flow(state.flow.active() && state.flow.waiting, analysis.intent),
    };
    let mut decision =
        config
            .handoff
            .decide(&state.mood.signals(&analysis, progress, state.tier()));
    if state.crm_down && !decision.handoff {
        decision = HandoffDecision {
            handoff: true,
            reason: Some(HandoffReason::NoProgress),
            explanation: "the customer record is unavailable".into(),
        };
    }
    // History facts for the tone; Parla apologises once, then acknowledges feelings. Whether
    // the company erred is judged on the conversation's day (`flows.today`), like the reply.
    let now = crate::history::now_seconds();
    let company_error =
        crate::history::company_error(order, state.crm_down, state.today) && !state.apologised;
    let repeat_contact = !state.apologised
        && crate::history::repeat_contact(
            state.context.as_ref(),
            &state.id,
            text,
            &analysis,
            order.map(|o| o.id.as_str()),
            now,
        );
    let tone = config.tone.choose(&ToneInput {
        intent: analysis.intent,
        score: analysis.sentiment.score,
        label: analysis.sentiment.label,
        trend_slope: trend.slope,
        repeat_contact,
        tier: state.tier().to_owned(),
        company_error,
        sensitive: analysis.sensitive_topic,
        channel: state.channel,
    });
    state.apologised |= tone == Tone::Apologetic;
    let unsure = recorded < config.handoff.min_confidence;
    let shop = (analysis.intent == Intent::StoreInfo)
        .then(|| templates.shop().answer(text, lang))
        .flatten();
    let (step, facts) = choose_step(state, &analysis, &decision, order, lang, unsure, shop);
    if step == "clarify" {
        state.failed_attempts += 1;
    } else {
        state.failed_attempts = 0;
    }
    let index = state.turn_index;
    let seed = seed(&state.id, index);
    let render = |step: &str, vars: &Vars| {
        templates.render(&RenderRequest {
            lang,
            step,
            tone,
            channel: state.channel,
            vars,
            seed,
            ssml: state.channel == Channel::Voice,
        })
    };
    let (step, reply) = match render(step, &facts) {
        Ok(r) => (step, r),
        Err(e) => {
            tracing::warn!(step, error = %e, "reply template failed; asking to rephrase");
            let fallback = if decision.handoff {
                "handoff"
            } else {
                "clarify"
            };
            let text = render(fallback, &Vars::new()).unwrap_or_else(|_| honest_fallback(lang));
            (fallback, text)
        }
    };
    if decision.handoff {
        state.handed_off = true;
    }
    state.transcript.push(format!("customer: {text}"));
    state.transcript.push(format!("parla: {reply}"));
    state.turn_index += 1;
    TurnOutcome {
        index,
        language: lang,
        analysis,
        confidence,
        trend,
        tone,
        step,
        decision,
        reply,
        facts,
        rejected_replies: 0,
        model_phrased: false,
        flow_state: None,
        actions: Vec::new(),
    }
}

/// The turn answers the question a waiting flow asked: not when it is a complaint or a request
/// for a person ("one thing, though: the engraving you advertise was never done" is no answer to
/// "exchange or refund?", whatever the flow waits for).
fn answers_flow(waiting: bool, intent: Intent) -> bool {
    waiting && !matches!(intent, Intent::Complaint | Intent::Human)
}

/// "So when is it actually coming?" about an order already past its date is a late delivery,
/// by the facts of the order on the conversation's day, whether or not the customer says so.
fn late_by_the_facts(intent: Intent, order: Option<&pb::Order>, today: i64) -> Intent {
    if intent == Intent::OrderStatus && order.is_some_and(|o| facts::overdue(o, today)) {
        Intent::DeliveryProblem
    } else {
        intent
    }
}

/// The flow step for a turn and the facts it needs. `unsure`: the turn's confidence is below
/// the hand-off policy's `min_confidence`.
fn choose_step(
    state: &ConversationState,
    a: &Analysis,
    decision: &HandoffDecision,
    order: Option<&pb::Order>,
    lang: Language,
    unsure: bool,
    shop: Option<crate::shop::ShopAnswer<'_>>,
) -> (&'static str, Vars) {
    if state.crm_down {
        return ("apology_error", Vars::new());
    }
    if decision.handoff {
        return ("handoff", Vars::new());
    }
    if a.injection {
        return ("injection", Vars::new());
    }
    // Once handed off, Parla does not go back to answering as if nothing happened: the case
    // is with a colleague, and what the customer adds goes to it (the CRM timeline).
    if state.handed_off && a.intent != Intent::Goodbye {
        return ("handoff_waiting", Vars::new());
    }
    let order_reply = |order: Option<&pb::Order>| match order
        .and_then(|o| facts::order_step(o, lang, state.today))
    {
        Some(found) => found,
        None => ("ask_order_id", Vars::new()),
    };
    match a.intent {
        Intent::Greeting => match facts::personal_greeting(state.context.as_ref(), lang) {
            Some(vars) if state.turn_index == 0 => ("greeting_personal", vars),
            _ => ("greeting", Vars::new()),
        },
        Intent::OrderStatus | Intent::DeliveryProblem | Intent::Complaint => order_reply(order),
        Intent::Return if order.is_none() => ("ask_order_id", Vars::new()),
        // A guessed goodbye (a misheard "my parcel still hasn't arrived") must not take leave
        // of a customer who is not done: ask instead.
        Intent::Goodbye if unsure => ("clarify", Vars::new()),
        Intent::Goodbye => ("goodbye", Vars::new()),
        Intent::OutOfScope => ("out_of_scope", Vars::new()),
        Intent::Human => ("handoff", Vars::new()),
        // A question about the shop is answered from the shop's own information.
        Intent::StoreInfo => match shop {
            Some(answer) => (
                "store_info",
                Vars::from([("answer".to_owned(), answer.text.to_owned())]),
            ),
            None => ("clarify", Vars::new()),
        },
        Intent::Return | Intent::ProductAdvice => ("clarify", Vars::new()),
    }
}

/// The last resort when even the fallback template is missing.
fn honest_fallback(lang: Language) -> String {
    match lang {
        Language::En => "I'm sorry, I can't help with that right now. I'll find you a colleague.",
        Language::It => "Mi dispiace, ora non riesco ad aiutarla. Le passo un collega.",
    }
    .to_owned()
}

/// A wording seed that varies across conversations and turns and is reproducible.
fn seed(id: &str, turn: u32) -> u64 {
    id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    }) ^ u64::from(turn)
}

/// Splits a reply into sentences for streaming (each keeps its trailing space).
pub fn sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        current.push(c);
        let boundary =
            matches!(c, '.' | '?' | '!' | '\n') && chars.peek().is_none_or(|n| n.is_whitespace());
        if boundary {
            while let Some(n) = chars.peek().copied().filter(|n| n.is_whitespace()) {
                current.push(n);
                chars.next();
            }
            out.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asking_when_an_overdue_order_comes_is_a_delivery_problem() {
        let day = 86_400;
        let order = pb::Order {
            id: "B7710".into(),
            status: "in_transit".into(),
            expected_delivery: Some(prost_types::Timestamp {
                seconds: 100 * day,
                nanos: 0,
            }),
            ..Default::default()
        };
        let late = late_by_the_facts(Intent::OrderStatus, Some(&order), 104 * day);
        assert_eq!(late, Intent::DeliveryProblem);
        // Before its date, or with no order known, a status question stays one.
        let early = late_by_the_facts(Intent::OrderStatus, Some(&order), 99 * day);
        assert_eq!(early, Intent::OrderStatus);
        assert_eq!(
            late_by_the_facts(Intent::OrderStatus, None, 104 * day),
            Intent::OrderStatus
        );
        // Other intents are left as they are.
        let ret = late_by_the_facts(Intent::Return, Some(&order), 104 * day);
        assert_eq!(ret, Intent::Return);
    }

    #[test]
    fn a_complaint_while_a_flow_waits_is_not_an_answer_to_it() {
        assert!(answers_flow(true, Intent::Return));
        assert!(answers_flow(true, Intent::ProductAdvice));
        assert!(!answers_flow(true, Intent::Complaint));
        assert!(!answers_flow(true, Intent::Human));
        assert!(!answers_flow(false, Intent::Return));
    }

    #[test]
    fn sentences_keep_every_character() {
        let text = "Hello there. Is 1.5 ok? Yes!\n1. one";
        let parts = sentences(text);
        assert_eq!(parts.concat(), text);
        assert_eq!(parts[0], "Hello there. ");
        assert_eq!(parts[1], "Is 1.5 ok? ");
    }
}
