//! What the flow runner works on and answers with: the turn it is given, the conversation's
//! flow state (kept between turns), the tool calls it asks for and their results, and the reply.

use std::collections::BTreeMap;

use parla_proto::v1 as pb;

use crate::facts::Facts;
use crate::Lang;

/// What the runner knows about the turn.
#[derive(Debug, Clone)]
pub struct TurnInput<'a> {
    /// What the customer said.
    pub text: &'a str,
    /// Understood intent name.
    pub intent: &'a str,
    /// Confidence of the intent in [0, 1].
    pub confidence: f32,
    /// The understanding's slots by kind (`order_id`, `size`, `product`, ...).
    pub slots: &'a BTreeMap<String, String>,
    /// Language of the turn.
    pub lang: Lang,
    /// The customer's CRM context, when identified.
    pub context: Option<&'a pb::CustomerContext>,
    /// Today, as Unix seconds.
    pub today: i64,
    /// The turn's index in the conversation (it keeps increasing across restarts): with the
    /// conversation and the step it names each request a tool receives (its idempotency key).
    pub turn: u32,
}

/// A flow's progress in one conversation.
#[derive(Debug, Clone, Default)]
pub struct FlowState {
    /// Conversation id (part of every idempotency key).
    pub conversation_id: String,
    /// Active or last flow; empty when none ran.
    pub flow: String,
    /// Current step.
    pub step: String,
    /// Slots collected.
    pub slots: Facts,
    /// Facts from tools.
    pub facts: Facts,
    /// Waiting for the customer at `step`.
    pub waiting: bool,
    /// The flow ended.
    pub done: bool,
    /// How it ended.
    pub outcome: String,
    pub(crate) steps_in_flow: u32,
    pub(crate) steps_in_turn: u32,
    pub(crate) asks: BTreeMap<String, u32>,
    /// Calls of each step in this turn (a step run twice in one turn makes two requests).
    pub(crate) calls_in_turn: BTreeMap<String, u32>,
    pub(crate) pending: Option<ToolCall>,
    pub(crate) reply: FlowReply,
}

impl FlowState {
    /// No flow yet, in this conversation.
    pub fn new(conversation_id: &str) -> Self {
        FlowState {
            conversation_id: conversation_id.to_owned(),
            ..FlowState::default()
        }
    }

    /// Facts and slots so far (what tools may read).
    pub fn known(&self) -> Facts {
        let mut f = self.facts.clone();
        f.extend(self.slots.clone());
        f
    }

    /// A flow is waiting for the customer.
    pub fn active(&self) -> bool {
        !self.flow.is_empty() && !self.done
    }

    /// The proto view.
    pub fn to_pb(&self) -> pb::FlowState {
        pb::FlowState {
            flow: self.flow.clone(),
            step: self.step.clone(),
            slots: self.slots.clone().into_iter().collect(),
            done: self.done,
        }
    }
}

/// A tool the caller must run.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    /// Tool name.
    pub tool: String,
    /// Arguments.
    pub args: Facts,
    /// Names this request: its conversation, turn, flow, step and tool (and the step's run in
    /// the turn). Every attempt of the request carries it; a new request, even with the same
    /// arguments, has a new one.
    pub idempotency_key: String,
    /// The tool changes something (recorded as an action).
    pub action: bool,
    /// Flow and step.
    pub flow: String,
    /// Step that calls it.
    pub step: String,
}

/// How a tool call ended. Only the tool knows whether it acted; Parla knows it did when it
/// answered usably, knows it did not when it refused with an error it declares final or the
/// request never left, and does not know otherwise.
#[derive(Debug, Clone, PartialEq)]
pub enum ToolOutcome {
    /// It answered usably: these facts.
    Succeeded(Facts),
    /// Nothing was done: the tool refused with a final error (HTTP 4xx, a gRPC code such as
    /// INVALID_ARGUMENT), or the request was never sent (not configured, no connection). Why,
    /// for the log and the events.
    Failed(String),
    /// It may have been done: the request was sent and no readable answer came back (no answer
    /// in time, the connection cut, a 5xx, an answer that is not a JSON object or lacks a key
    /// the flow requires). Why, for the log, the events and the colleague who reconciles it.
    Unknown(String),
}

impl ToolOutcome {
    /// The facts, when it succeeded.
    pub fn facts(&self) -> Option<&Facts> {
        match self {
            ToolOutcome::Succeeded(f) => Some(f),
            _ => None,
        }
    }

    /// It answered usably.
    pub fn succeeded(&self) -> bool {
        matches!(self, ToolOutcome::Succeeded(_))
    }

    /// Why it did not succeed.
    pub fn error(&self) -> Option<&str> {
        match self {
            ToolOutcome::Succeeded(_) => None,
            ToolOutcome::Failed(e) | ToolOutcome::Unknown(e) => Some(e),
        }
    }

    /// `succeeded`, `failed` or `unknown`.
    pub fn as_str(&self) -> &'static str {
        match self {
            ToolOutcome::Succeeded(_) => "succeeded",
            ToolOutcome::Failed(_) => "failed",
            ToolOutcome::Unknown(_) => "unknown",
        }
    }
}

/// What a tool call came to.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolResult {
    /// Succeeded with facts, failed (nothing done) or unknown (maybe done).
    pub outcome: ToolOutcome,
    /// Attempts made.
    pub attempts: u32,
}

/// One tool call as it happened.
#[derive(Debug, Clone, PartialEq)]
pub struct CallRecord {
    /// The call.
    pub call: ToolCall,
    /// Its result.
    pub result: ToolResult,
}

/// A message to say: the key (a reply template may have it, with tones) and the flow's text in
/// the turn's language, already filled.
#[derive(Debug, Clone, PartialEq)]
pub struct Said {
    /// Message key.
    pub key: String,
    /// Filled fallback text.
    pub text: String,
}

/// The flow's answer for the turn.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FlowReply {
    /// Messages, in order.
    pub said: Vec<Said>,
    /// Tool calls of this turn.
    pub calls: Vec<CallRecord>,
    /// The conversation goes to a person.
    pub handoff: bool,
    /// Why, for the agent.
    pub handoff_reason: String,
    /// The flow ended at this turn with this outcome.
    pub outcome: Option<String>,
    /// Acknowledgements per tone (`empathetic`, `apologetic`), filled, to put first.
    pub tone_prefix: BTreeMap<String, String>,
    /// Facts and slots after the turn (for templates and the hand-off package).
    pub facts: Facts,
}

impl FlowReply {
    /// Actions (calls of tools that change something) of this turn.
    pub fn actions(&self) -> impl Iterator<Item = &CallRecord> {
        self.calls.iter().filter(|c| c.call.action)
    }

    /// Actions of this turn whose outcome is unknown (they may have been carried out).
    pub fn unconfirmed_actions(&self) -> impl Iterator<Item = &CallRecord> {
        self.actions()
            .filter(|c| matches!(c.result.outcome, ToolOutcome::Unknown(_)))
    }

    /// The messages joined.
    pub fn text(&self) -> String {
        self.said
            .iter()
            .map(|s| s.text.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// What to do next.
#[derive(Debug, Clone, PartialEq)]
pub enum Directive {
    /// No flow takes this turn: the dialogue answers as it would without flows.
    Pass,
    /// Run this tool, then call [`FlowRunner::resume`].
    Call(ToolCall),
    /// The turn's answer.
    Reply(FlowReply),
}
