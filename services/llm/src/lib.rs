//! Parla's language model engine.
//!
//! The dialogue manager talks to a [`LanguageModel`]: it sends a conversation and generation
//! parameters, and receives a stream of text deltas ending with a [`GenerationOutput`] that says
//! why generation stopped. Two backends implement it:
//!
//! - [`CandleModel`]: a GGUF chat model (Llama or Qwen2 family) on the CPU, on its own thread,
//!   with per-conversation prefix caching, fair round-robin scheduling and a hybrid forward
//!   (dense weights for prompt batches; for single-token decoding the file's Q4_1 blocks as
//!   they are, other types as Q8_0);
//! - [`OpenAiModel`]: any OpenAI-compatible chat completions endpoint, streamed over SSE.
//!
//! [`Constraint`] restricts output to a label set or a simple JSON object by masking logits.

mod candle;
mod config;
mod constraint;
mod error;
mod openai;
mod sampler;
mod text;
mod types;

pub use crate::candle::{CandleModel, EngineStats, Kernels, ModelInfo, MAX_KERNELS_ENV};
pub use config::{FastForward, LlmBackend, LlmConfig, OpenAiConfig};
pub use constraint::{Constraint, JsonField};
pub use error::LlmError;
pub use openai::OpenAiModel;
pub use types::{
    ChatMessage, EventSender, GenerationEvent, GenerationOutput, GenerationParams,
    GenerationRequest, GenerationStream, GenerationUsage, Role, StopReason,
};

/// A chat language model: the seam between the dialogue manager and an engine.
///
/// `generate` only queues the work and returns at once; the text arrives on the stream.
/// Cancelling the request's token stops generation before the next token.
pub trait LanguageModel: Send + Sync {
    /// Starts a generation.
    fn generate(&self, request: GenerationRequest) -> Result<GenerationStream, LlmError>;

    /// A short description of the model, for logs and health output.
    fn describe(&self) -> String;
}
