//! Domain types shared by every backend: chat messages, generation parameters,
//! streamed events and the final result with the reason generation stopped.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::constraint::Constraint;
use crate::LlmError;

/// Who wrote a chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions and facts for the model.
    System,
    /// The customer.
    User,
    /// The agent (earlier model replies).
    Assistant,
}

impl Role {
    /// The role name as chat templates and OpenAI-compatible endpoints spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Who wrote it.
    pub role: Role,
    /// What it says.
    pub content: String,
}

impl ChatMessage {
    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        Self {
            role: Role::System,
            content: content.into(),
        }
    }
    /// A customer message.
    pub fn user(content: impl Into<String>) -> Self {
        Self {
            role: Role::User,
            content: content.into(),
        }
    }
    /// An agent message.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self {
            role: Role::Assistant,
            content: content.into(),
        }
    }
}

/// How to sample and when to stop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GenerationParams {
    /// Softmax temperature; 0 means greedy (always the most likely token).
    pub temperature: f32,
    /// Nucleus sampling: keep the smallest set of tokens whose probability reaches this (1 = off).
    pub top_p: f32,
    /// Divide positive logits (multiply negative ones) of tokens already seen by this (1 = off).
    pub repetition_penalty: f32,
    /// How many recent tokens the repetition penalty looks at.
    pub repetition_window: usize,
    /// Generation stops before any of these strings; the string itself is not returned.
    pub stop: Vec<String>,
    /// The most tokens to generate.
    pub max_tokens: usize,
    /// End-of-sequence is suppressed until this many tokens were generated (benchmarks use it
    /// to generate a fixed length).
    pub min_tokens: usize,
    /// The seed of the sampler: the same seed, prompt and parameters give the same text.
    pub seed: u64,
    /// Wall-clock budget for the whole generation, queueing included.
    #[serde(with = "opt_millis")]
    pub time_budget: Option<Duration>,
}

impl Default for GenerationParams {
    fn default() -> Self {
        Self {
            temperature: 0.7,
            top_p: 0.9,
            repetition_penalty: 1.1,
            repetition_window: 64,
            stop: Vec::new(),
            max_tokens: 256,
            min_tokens: 0,
            seed: 42,
            time_budget: None,
        }
    }
}

impl GenerationParams {
    /// Greedy decoding with no penalty: the reference setting for comparisons.
    pub fn greedy(max_tokens: usize) -> Self {
        Self {
            temperature: 0.0,
            top_p: 1.0,
            repetition_penalty: 1.0,
            max_tokens,
            ..Self::default()
        }
    }

    /// Checks the values a caller can get wrong.
    pub fn validate(&self) -> Result<(), LlmError> {
        if !(self.temperature >= 0.0 && self.temperature.is_finite()) {
            return Err(LlmError::InvalidRequest(format!(
                "temperature must be >= 0, got {}",
                self.temperature
            )));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(LlmError::InvalidRequest(format!(
                "top_p must be in (0, 1], got {}",
                self.top_p
            )));
        }
        if !(self.repetition_penalty > 0.0 && self.repetition_penalty.is_finite()) {
            return Err(LlmError::InvalidRequest(format!(
                "repetition_penalty must be > 0, got {}",
                self.repetition_penalty
            )));
        }
        if self.max_tokens == 0 {
            return Err(LlmError::InvalidRequest(
                "max_tokens must be at least 1".into(),
            ));
        }
        if self.stop.iter().any(String::is_empty) {
            return Err(LlmError::InvalidRequest(
                "stop sequences must not be empty strings".into(),
            ));
        }
        Ok(())
    }
}

mod opt_millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(v: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(d) => s.serialize_some(&(d.as_millis() as u64)),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_millis))
    }
}

/// One generation to run.
#[derive(Debug, Clone)]
pub struct GenerationRequest {
    /// The conversation this turn belongs to: the key of the prefix cache and of fair scheduling.
    pub conversation_id: String,
    /// The whole conversation so far, system prompt first, ending with the customer's turn.
    pub messages: Vec<ChatMessage>,
    /// Sampling and stopping.
    pub params: GenerationParams,
    /// Optional structured-output constraint (labels or a JSON shape).
    pub constraint: Option<Constraint>,
    /// Cancelled when the caller barges in or the client goes away; checked before every token.
    pub cancel: CancellationToken,
}

impl GenerationRequest {
    /// A request with default parameters and a fresh cancellation token.
    pub fn new(conversation_id: impl Into<String>, messages: Vec<ChatMessage>) -> Self {
        Self {
            conversation_id: conversation_id.into(),
            messages,
            params: GenerationParams::default(),
            constraint: None,
            cancel: CancellationToken::new(),
        }
    }
}

/// Why generation stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The model ended its turn (end-of-sequence token), or a constrained output was complete.
    Eos,
    /// A stop sequence was produced.
    Stop,
    /// `max_tokens` were generated.
    MaxTokens,
    /// The time budget ran out.
    TimeBudget,
    /// The cancellation token was cancelled.
    Cancelled,
}

/// Counters of one generation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GenerationUsage {
    /// Tokens in the rendered prompt.
    pub prompt_tokens: usize,
    /// Prompt tokens whose keys and values came from the prefix cache.
    pub cached_prompt_tokens: usize,
    /// Prompt tokens run through the model for this turn.
    pub processed_prompt_tokens: usize,
    /// Tokens generated.
    pub completion_tokens: usize,
    /// Milliseconds from submission to the first text delta (or to the end if there was none).
    pub time_to_first_token_ms: f64,
    /// Milliseconds from submission to the end.
    pub total_ms: f64,
    /// Oldest non-system messages dropped because the prompt did not fit the context window.
    #[serde(default)]
    pub dropped_messages: usize,
    /// Tokens cut from the start of the prompt when one message alone did not fit.
    #[serde(default)]
    pub dropped_prompt_tokens: usize,
}

/// The result of a finished generation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerationOutput {
    /// The whole generated text (stop sequences excluded).
    pub text: String,
    /// Why it stopped.
    pub stop_reason: StopReason,
    /// Counters.
    pub usage: GenerationUsage,
}

/// What a generation stream yields.
#[derive(Debug, Clone, PartialEq)]
pub enum GenerationEvent {
    /// A piece of text to append to the reply.
    Delta(String),
    /// The end, with the full text and why it stopped. Always the last event.
    Done(GenerationOutput),
}

/// The receiving end of a generation: text deltas, then [`GenerationEvent::Done`] or an error.
#[derive(Debug)]
pub struct GenerationStream {
    rx: mpsc::UnboundedReceiver<Result<GenerationEvent, LlmError>>,
}

/// The sending end of a generation stream. Unbounded so an engine thread never blocks on a
/// slow reader; a reply is at most `max_tokens` deltas.
pub type EventSender = mpsc::UnboundedSender<Result<GenerationEvent, LlmError>>;

impl GenerationStream {
    /// A stream and the sender a backend feeds it through.
    pub fn channel() -> (EventSender, Self) {
        let (tx, rx) = mpsc::unbounded_channel();
        (tx, Self { rx })
    }

    /// The next event; `None` after the last one.
    pub async fn next(&mut self) -> Option<Result<GenerationEvent, LlmError>> {
        self.rx.recv().await
    }

    /// The next event, blocking the thread (for benchmarks and non-async callers).
    pub fn blocking_next(&mut self) -> Option<Result<GenerationEvent, LlmError>> {
        self.rx.blocking_recv()
    }

    /// Waits for the end, ignoring deltas.
    pub async fn finish(mut self) -> Result<GenerationOutput, LlmError> {
        while let Some(event) = self.next().await {
            if let GenerationEvent::Done(out) = event? {
                return Ok(out);
            }
        }
        Err(LlmError::EngineStopped)
    }

    /// Waits for the end, blocking the thread.
    pub fn blocking_finish(mut self) -> Result<GenerationOutput, LlmError> {
        while let Some(event) = self.blocking_next() {
            if let GenerationEvent::Done(out) = event? {
                return Ok(out);
            }
        }
        Err(LlmError::EngineStopped)
    }
}
