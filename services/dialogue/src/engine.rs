//! Loading the dialogue engine: the understanding (lexicons from the model cache, intent models
//! trained at load), the reply templates and the configured language model. Blocking: the
//! service's `load` runs it on a blocking thread, and the service answers only after it.

use std::path::Path;

use parla_models::ModelCache;

use crate::{DialogueConfig, DialogueError, DialogueModel, Engine, Templates, Understanding};

impl Engine {
    /// Loads everything the configuration names; an error names the setting or the fetch command.
    pub fn load(config: &DialogueConfig, cache: &ModelCache) -> Result<Engine, DialogueError> {
        let nlu = Understanding::load_with(cache, config.sentence_encoder)?;
        let templates = if config.prompts_dir.is_empty() {
            Templates::shipped()?
        } else {
            Templates::load(Path::new(&config.prompts_dir))?
        };
        let llm = DialogueModel::load(config, cache)?;
        Ok(Engine {
            nlu,
            templates,
            llm,
        })
    }
}
