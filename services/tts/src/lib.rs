//! Speech synthesis (`parla.v1.Tts`): turns reply text into telephone-ready
//! audio, streamed sentence by sentence, with a prosody (rate, pitch, volume,
//! pauses) that follows the tone the dialogue manager chose.
//!
//! Engines sit behind a `Synthesizer` trait: eSpeak NG through its C library
//! (its callback hands back PCM, which a phone line needs) for English and
//! Italian, and a Piper neural English voice run with ONNX Runtime. This
//! crate is still a shell: it owns its configuration and reports ready; the
//! engines and the gRPC service come next.

use serde::{Deserialize, Serialize};

/// Settings of the speech synthesis service (`[tts]` in `parla.toml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TtsConfig {
    /// Default voice per language when the request names none, e.g. "en".
    pub default_language: String,
}

impl Default for TtsConfig {
    fn default() -> Self {
        Self {
            default_language: "en".to_owned(),
        }
    }
}
