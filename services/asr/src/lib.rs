//! Speech recognition (`parla.v1.Asr`): hears callers. Batch and streaming
//! speech-to-text with whisper.cpp (through `whisper-rs`), voice activity
//! detection and end-of-turn detection, per-utterance confidence and
//! language.
//!
//! So far this crate loads the Whisper model, which is what readiness waits
//! for; the recognizer, the streams and the gRPC service come next.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use whisper_rs::{WhisperContext, WhisperContextParameters};

/// Settings of the speech recognition service (`[asr]` in `parla.toml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AsrConfig {
    /// English model: a provisioned model name or a path to a whisper.cpp
    /// ggml file.
    pub model_en: String,
    /// Threads each recognition uses.
    pub threads: u32,
}

impl Default for AsrConfig {
    fn default() -> Self {
        Self {
            model_en: "whisper-tiny-en".to_owned(),
            threads: 2,
        }
    }
}

/// Why the recognizer could not start.
#[derive(Debug, thiserror::Error)]
pub enum AsrError {
    /// whisper.cpp refused the model file.
    #[error("whisper.cpp could not load {path}: {reason}")]
    ModelLoad {
        /// The model file.
        path: PathBuf,
        /// What whisper.cpp said.
        reason: String,
    },
}

/// A loaded Whisper model, shared by the recognizer's worker threads.
pub struct WhisperModel {
    context: WhisperContext,
    path: PathBuf,
}

impl WhisperModel {
    /// Loads a whisper.cpp ggml model. Blocking: call it off the async
    /// runtime.
    pub fn load(path: &Path) -> Result<Self, AsrError> {
        // whisper.cpp logs through tracing (at debug level) instead of
        // writing to standard error.
        static LOG_HOOKS: std::sync::Once = std::sync::Once::new();
        LOG_HOOKS.call_once(whisper_rs::install_logging_hooks);
        let started = Instant::now();
        let context = WhisperContext::new_with_params(path, WhisperContextParameters::default())
            .map_err(|e| AsrError::ModelLoad {
                path: path.to_owned(),
                reason: e.to_string(),
            })?;
        tracing::info!(
            model = %path.display(),
            load_ms = started.elapsed().as_millis() as u64,
            "whisper model loaded"
        );
        Ok(Self {
            context,
            path: path.to_owned(),
        })
    }

    /// The whisper.cpp context, for creating decoding states.
    pub fn context(&self) -> &WhisperContext {
        &self.context
    }

    /// The model file it was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }
}
