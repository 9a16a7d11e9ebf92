//! The dialogue manager's understanding half (`parla.v1.Dialogue` builds on it): intent and
//! slots of each turn, sentiment and its trend, redaction of personal data, the tone policy, the
//! hand-off policy and reply templates, for English and Italian. Domain types only: the gRPC
//! service converts them at its edge.
//!
//! ```no_run
//! # fn main() -> Result<(), parla_dialogue::DialogueError> {
//! use parla_dialogue::{Language, Understanding};
//! let cache = parla_models::ModelCache::from_env()?;
//! let nlu = Understanding::load(&cache)?;
//! let a = nlu.analyze("Dov'è il mio ordine A1042?", Language::It);
//! assert_eq!(a.intent.as_str(), "order_status");
//! # Ok(()) }
//! ```

pub mod confidence;
mod config;
mod conversation;
pub mod converse;
pub mod encoder;
mod engine;
pub mod grounding;
mod handoff;
pub mod history;
pub mod intent;
mod language;
mod llm;
mod model_health;
pub mod phrasing;
pub mod products;
mod redact;
mod sensitive;
pub mod sentiment;
pub mod shop;
pub mod slots;
mod templates;
pub mod text;
pub mod tiebreak;
mod tone;
pub mod turn;
mod understanding;

pub use config::{DialogueConfig, InvalidSetting, Phrasing};
pub use conversation::{ConversationMood, Progress};
pub use converse::{DialogueService, Engine};
pub use handoff::{HandoffDecision, HandoffPolicy, HandoffReason, HandoffSignals};
pub use intent::Intent;
pub use llm::{DialogueModel, CAPABLE_PARAMETERS};
pub use model_health::{ModelHealth, PROBE_EVERY};
pub use redact::{codice_fiscale_valid, iban_valid, luhn_valid, redact, PiiKind, Redacted};
pub use sensitive::{detect as detect_sensitive, SensitiveExample, SensitiveModel, SensitiveTopic};
pub use sentiment::{Sentiment, SentimentLabel, SentimentTrend, TrendSummary};
pub use slots::{Slot, SlotKind};
pub use templates::{RenderRequest, Templates};
pub use tone::{Tone, ToneInput, TonePolicy, ToneRule};
pub use understanding::{
    Analysis, Understanding, INTENT_TEMPERATURE, MAX_CHARS, PATTERN_IT_MODEL, VADER_MODEL,
};

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Languages Parla understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// English.
    En,
    /// Italian.
    It,
}

impl From<Language> for parla_text::Lang {
    fn from(lang: Language) -> Self {
        match lang {
            Language::En => parla_text::Lang::En,
            Language::It => parla_text::Lang::It,
        }
    }
}

impl Language {
    /// ISO 639-1 code.
    pub fn code(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::It => "it",
        }
    }

    /// Parses a code or BCP 47 tag ("it", "it-IT", "EN"); `None` if unsupported.
    pub fn parse(tag: &str) -> Option<Language> {
        let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        match primary.as_str() {
            "en" => Some(Language::En),
            "it" => Some(Language::It),
            _ => None,
        }
    }
}

/// Where the conversation happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// Phone: short spoken sentences, no lists or markup.
    Voice,
    /// Web chat: concise, short lists allowed.
    Chat,
}

impl Channel {
    /// Lower-case name, as in templates.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Voice => "voice",
            Channel::Chat => "chat",
        }
    }
}

/// Errors of the dialogue crate.
#[derive(Debug, thiserror::Error)]
pub enum DialogueError {
    /// A model or lexicon is not provisioned or is corrupt.
    #[error(transparent)]
    Model(#[from] parla_models::ModelError),
    /// The language model could not be loaded.
    #[error(transparent)]
    Llm(#[from] parla_llm::LlmError),
    /// A resource file could not be read or parsed.
    #[error("cannot use {path}: {reason}")]
    Resource {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// No template for a step in a language (in any tone or channel).
    #[error("no reply template for step `{step}` in {lang} (tone {tone}, channel {channel}); add it to prompts/replies/{lang}.yaml")]
    MissingTemplate {
        /// Flow step.
        step: String,
        /// Language code.
        lang: String,
        /// Tone asked for.
        tone: String,
        /// Channel asked for.
        channel: String,
    },
    /// A template names a variable the caller did not give.
    #[error("reply template `{step}` needs variable `{name}`")]
    MissingVariable {
        /// Flow step.
        step: String,
        /// Variable name.
        name: String,
    },
}
