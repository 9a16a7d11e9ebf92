//! Errors of the language model engines, one enum for every backend so the dialogue
//! service converts them to gRPC statuses in one place.

use std::path::PathBuf;

/// Everything that can go wrong when loading a model or generating text.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// The model file is missing from the cache or the given path.
    #[error("language model unavailable: {0}")]
    ModelMissing(#[from] parla_models::ModelError),
    /// The model file exists but cannot be read as a supported GGUF chat model.
    #[error("cannot load language model {path}: {reason}")]
    ModelLoad {
        /// The file that failed to load.
        path: PathBuf,
        /// What was wrong with it.
        reason: String,
    },
    /// The GGUF file's architecture has no forward pass here.
    #[error("unsupported model architecture `{0}` (supported: llama, qwen2)")]
    UnsupportedArchitecture(String),
    /// The chat template in the model could not be rendered for these messages.
    #[error("chat template failed: {0}")]
    Template(String),
    /// The request itself is invalid (empty messages, bad parameter values, empty label set).
    #[error("invalid generation request: {0}")]
    InvalidRequest(String),
    /// The tensor library failed during a forward pass.
    #[error("inference failed: {0}")]
    Inference(String),
    /// The engine thread has stopped (the process is shutting down or the engine panicked).
    #[error("language model engine is not running")]
    EngineStopped,
    /// The remote endpoint could not be reached or answered with an error.
    #[error("language model endpoint {url}: {reason}")]
    Endpoint {
        /// The endpoint URL.
        url: String,
        /// What happened.
        reason: String,
    },
    /// The remote endpoint refused the request as rate-limited or overloaded, after all retries.
    #[error("language model endpoint {url} still answers {status} after {attempts} attempts")]
    Overloaded {
        /// The endpoint URL.
        url: String,
        /// The last HTTP status.
        status: u16,
        /// How many attempts were made.
        attempts: u32,
    },
    /// The remote stream broke off before it said it was finished.
    #[error("language model stream from {url} ended before completion: {reason}")]
    Disconnected {
        /// The endpoint URL.
        url: String,
        /// What was observed.
        reason: String,
    },
    /// The model declined to answer: a `refusal` message, or its output stopped by a content
    /// filter. Nothing it wrote is kept; say the reply another way (a template).
    #[error("language model at {url} refused to answer ({reason}); use another wording")]
    Refused {
        /// The endpoint URL.
        url: String,
        /// How the refusal came (never the model's text).
        reason: String,
    },
    /// The output broke a structured-output constraint (remote backends cannot mask logits).
    #[error("model output {output:?} does not satisfy the requested constraint")]
    ConstraintViolated {
        /// The text the model produced.
        output: String,
    },
}

impl From<candle_core::Error> for LlmError {
    fn from(e: candle_core::Error) -> Self {
        LlmError::Inference(e.to_string())
    }
}
