//! The dialogue manager (`parla.v1.Dialogue`): understands each turn, runs
//! flows (returns, order status, recommendations), looks the customer up in
//! the CRM, chooses a tone that fits their mood, writes a reply grounded in
//! facts from flows, templates and the CRM, scores sentiment and confidence,
//! and decides when to hand the conversation to a person.
//!
//! The language model sits behind a `LanguageModel` trait (candle running a
//! GGUF model on CPU, or an OpenAI-compatible HTTP backend). This crate is
//! still a shell: it owns its configuration; the manager comes next.

use serde::{Deserialize, Serialize};

/// Settings of the dialogue manager (`[dialogue]` in `parla.toml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DialogueConfig {
    /// Language model: a provisioned model name or a path to a GGUF file.
    pub llm_model: String,
}

impl Default for DialogueConfig {
    fn default() -> Self {
        Self {
            llm_model: "smollm2-135m".to_owned(),
        }
    }
}
