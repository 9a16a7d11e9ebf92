//! The flow file format (YAML under `flows/`): which intents start a flow, its policy values,
//! the slots it collects (with the customer's words for each value, per language), its steps
//! (what each says, waits for, calls, and where it goes next) and its messages in English and
//! Italian, which are the fallback text for each step when no reply template has that key.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One flow, as written in its file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowSpec {
    /// Unique name (also the file's stem by convention), e.g. `return_exchange`.
    pub name: String,
    /// What the flow is for, for people reading the file.
    #[serde(default)]
    pub description: String,
    /// Intents that start the flow when no flow is active (first flow that lists an intent wins).
    #[serde(default)]
    pub triggers: Vec<String>,
    /// Intents that stay in this flow while it waits for the customer, instead of starting the
    /// flow they trigger: a question about what the flow just offered ("what would you
    /// suggest?" while a return offers a warmer product) is answered by asking again.
    #[serde(default)]
    pub keeps: Vec<String>,
    /// Policy values the steps and built-in tools read.
    #[serde(default)]
    pub policy: Policy,
    /// Slots the flow collects from the customer's words.
    #[serde(default)]
    pub slots: BTreeMap<String, SlotSpec>,
    /// Developers' tools this flow may call, by name.
    #[serde(default)]
    pub tools: BTreeMap<String, ToolSpec>,
    /// Name of the first step.
    pub start: String,
    /// Steps by name.
    pub steps: BTreeMap<String, StepSpec>,
    /// Messages by key: `en` and `it` text, `{name}` filled from facts.
    #[serde(default)]
    pub messages: BTreeMap<String, MessageSpec>,
}

/// Policy values of a flow. Facts `policy.<name>` carry them to conditions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// Days after delivery during which a return is accepted.
    pub return_window_days: u32,
    /// Categories that are never returnable (besides lines sold as final sale).
    pub final_sale_categories: Vec<String>,
    /// Resolutions offered: `refund`, `exchange`, `store_credit`.
    pub resolutions: Vec<String>,
    /// Days past the expected delivery after which a delivery is late (a case is opened).
    pub late_after_days: u32,
    /// Days late after which the customer is also handed to a person.
    pub handoff_after_days_late: u32,
    /// Steps one turn may run before the flow stops and hands off (loop protection).
    pub max_steps_per_turn: u32,
    /// Steps the whole flow may run (loop protection across turns).
    pub max_steps_per_flow: u32,
    /// Times a waiting step may ask again before handing off.
    pub max_attempts: u32,
    /// What a failing tool leads to: `handoff` (default) or `retry` (ask the customer to try
    /// again on their next turn, then hand off after `max_attempts`).
    pub on_tool_error: ToolErrorPolicy,
    /// Handoff-queue skill for cases the flow opens.
    pub case_skill: String,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            return_window_days: 30,
            final_sale_categories: Vec::new(),
            resolutions: vec!["refund".into(), "exchange".into(), "store_credit".into()],
            late_after_days: 1,
            handoff_after_days_late: 7,
            max_steps_per_turn: 12,
            max_steps_per_flow: 60,
            max_attempts: 2,
            on_tool_error: ToolErrorPolicy::Handoff,
            case_skill: "cases".into(),
        }
    }
}

/// What a failing tool leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolErrorPolicy {
    /// Tell the customer honestly and hand off to a person.
    Handoff,
    /// Tell the customer honestly and let them try again (then hand off).
    Retry,
}

/// A slot the flow collects.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SlotSpec {
    /// Take the value from the understanding's slot of this kind (`order_id`, `size`, ...).
    pub from: Option<String>,
    /// Canonical value → words and phrases that mean it (any language, matched on
    /// accent-folded lower-case word boundaries).
    pub values: BTreeMap<String, Vec<String>>,
}

/// A developer's tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolSpec {
    /// `webhook` (HTTP POST of JSON) or `grpc` (`parla.v1.ToolService`).
    pub kind: ToolKind,
    /// URL of the webhook, or of the gRPC server.
    pub url: String,
    /// Environment variable holding the HMAC-SHA256 key that signs webhook bodies (webhooks
    /// only: a gRPC tool authenticates with `token_env`).
    #[serde(default)]
    pub secret_env: Option<String>,
    /// Environment variable holding a bearer token, sent on every attempt as
    /// `authorization: Bearer <token>` (a gRPC tool's metadata, a webhook's header). When the
    /// variable is unset at call time the call is not made and fails (nothing was done).
    #[serde(default)]
    pub token_env: Option<String>,
    /// Timeout of one attempt, in milliseconds; a gRPC tool receives it as its deadline
    /// (`grpc-timeout`).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Retries after the first attempt (on 5xx, timeouts and connection errors; gRPC
    /// UNAVAILABLE, DEADLINE_EXCEEDED and CANCELLED).
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// First backoff in milliseconds (doubled each retry).
    #[serde(default = "default_backoff_ms")]
    pub backoff_ms: u64,
    /// The tool changes something in the world (recorded as an action, called once).
    #[serde(default)]
    pub action: bool,
    /// Result keys the tool must return (else the call counts as failed).
    #[serde(default)]
    pub returns: Vec<String>,
}

fn default_timeout_ms() -> u64 {
    3000
}
fn default_retries() -> u32 {
    2
}
fn default_backoff_ms() -> u64 {
    200
}

/// Transport of a developer's tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolKind {
    /// HTTP POST, JSON in and out, HMAC-signed body.
    Webhook,
    /// `parla.v1.ToolService.Call`.
    Grpc,
}

/// One step.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StepSpec {
    /// Tool to call first (built-in such as `order.lookup`, or one of `tools`).
    pub call: Option<String>,
    /// Tool arguments: `{name}` filled from slots and facts.
    pub args: BTreeMap<String, String>,
    /// Message key to say (a reply template step, else the flow's `messages`).
    pub say: Option<String>,
    /// Message key said instead of `say` when a waiting step asks again (the customer's answer
    /// did not fill its slots, or was a question of its own): the question alone, without what
    /// led to it.
    pub ask_again: Option<String>,
    /// Slots the step waits for: it says its message and ends the turn; the next turn resumes
    /// here once every slot is filled (or asks again).
    pub wait_for: Vec<String>,
    /// Transitions, first match wins.
    pub next: Vec<Transition>,
    /// Ends the flow with this outcome (`resolved`, `declined`, ...).
    pub end: Option<String>,
    /// Hands the conversation to a person (with the flow's facts in the context package).
    pub handoff: bool,
}

/// Go to `goto` when `when` holds (or always without `when`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transition {
    /// Condition over facts: `name`, `!name`, `name == value`, `name != value`, `name < x`,
    /// `name <= x`, `name > x`, `name >= x`, `a && b` (x a literal, or `{fact}`).
    #[serde(default)]
    pub when: Option<String>,
    /// Step to go to.
    pub goto: String,
}

/// A message in each language.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageSpec {
    /// English text.
    pub en: String,
    /// Italian text.
    pub it: String,
}
