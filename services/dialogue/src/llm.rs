//! The dialogue's language model (crate `parla-llm`): loaded at start from `[dialogue]`
//! (`llm_model`, `llm_backend`, `[dialogue.openai]`), and told whether it may phrase replies.
//! The default SmolLM2-135M echoes customers (../shared/LLM.md), so it never phrases free
//! replies; an OpenAI-compatible backend or a local model of at least 1 B parameters does, when
//! `phrasing = "auto"`. Its [`ModelHealth`] says whether it currently answers: a model that
//! fails degrades phrasing to the templates, never a customer's turn.

use std::sync::Arc;

use parla_llm::{CandleModel, LanguageModel, LlmBackend, LlmConfig, OpenAiModel};
use parla_models::ModelCache;

use crate::config::Phrasing;
use crate::{DialogueConfig, DialogueError, ModelHealth};

/// Parameters from which a local model counts as capable of phrasing replies.
pub const CAPABLE_PARAMETERS: usize = 1_000_000_000;

/// A loaded language model and what the dialogue may use it for.
#[derive(Clone)]
pub struct DialogueModel {
    /// The engine.
    pub model: Arc<dyn LanguageModel>,
    /// Whether it words replies (else only templates do).
    pub phrases: bool,
    /// Short description for logs.
    pub description: String,
    /// Whether it answers (degraded: replies keep their templates), with counters.
    pub health: Arc<ModelHealth>,
}

impl std::fmt::Debug for DialogueModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DialogueModel")
            .field("description", &self.description)
            .field("phrases", &self.phrases)
            .field("degraded", &self.health.is_degraded())
            .finish()
    }
}

impl DialogueModel {
    /// Wraps an engine (tests, other backends).
    pub fn new(model: Arc<dyn LanguageModel>, phrases: bool) -> Self {
        let description = model.describe();
        DialogueModel {
            model,
            phrases,
            description,
            health: Arc::default(),
        }
    }

    /// Loads the configured model (blocking: call from a blocking thread); `None` when
    /// `llm_model` is empty with the `candle` backend.
    pub fn load(
        config: &DialogueConfig,
        cache: &ModelCache,
    ) -> Result<Option<DialogueModel>, DialogueError> {
        let (model, capable): (Arc<dyn LanguageModel>, bool) = match config.llm_backend {
            LlmBackend::Openai => (Arc::new(OpenAiModel::new(&config.openai)?), true),
            LlmBackend::Candle => {
                if config.llm_model.trim().is_empty() {
                    return Ok(None);
                }
                let llm = LlmConfig {
                    model: config.llm_model.trim().to_owned(),
                    ..LlmConfig::default()
                };
                let m = CandleModel::load(&llm, cache)?;
                let capable = m.info().parameters >= CAPABLE_PARAMETERS;
                tracing::info!(
                    model = %m.info().name, parameters = m.info().parameters,
                    load_ms = m.info().load_ms, "dialogue language model loaded"
                );
                (Arc::new(m), capable)
            }
        };
        let phrases = match config.phrasing {
            Phrasing::Auto => capable,
            Phrasing::Templates => false,
            Phrasing::Model => true,
        };
        let loaded = DialogueModel::new(model, phrases);
        tracing::info!(model = %loaded.description, phrases, "dialogue language model ready");
        Ok(Some(loaded))
    }
}
