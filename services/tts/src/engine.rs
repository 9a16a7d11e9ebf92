//! The engine seam: a [`Synthesizer`] turns a piece of plain, already
//! normalized text into PCM with one of its voices and a [`Prosody`]. It
//! knows nothing of gRPC, SSML, sentences or output formats; those live in
//! the pipeline around it.

use crate::TtsError;

/// How to say something, relative to the engine's normal voice: `1.0`
/// everywhere is the engine's default. Each engine maps these to its own
/// controls (words per minute and pitch for eSpeak NG, length scale and a
/// pitch shift for Piper).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Prosody {
    /// Speaking rate; 0.8 is 20% slower.
    pub rate: f32,
    /// Mean pitch; 1.1 is 10% higher.
    pub pitch: f32,
    /// Loudness as a gain; 0.8 is softer.
    pub volume: f32,
    /// Silence after each sentence, in milliseconds.
    pub sentence_pause_ms: u32,
}

impl Default for Prosody {
    fn default() -> Self {
        Self {
            rate: 1.0,
            pitch: 1.0,
            volume: 1.0,
            sentence_pause_ms: 250,
        }
    }
}

impl Prosody {
    /// This prosody scaled by a relative change (an SSML `<prosody>`).
    pub fn scaled(&self, rate: f32, pitch: f32, volume: f32) -> Self {
        Self {
            rate: self.rate * rate,
            pitch: self.pitch * pitch,
            volume: self.volume * volume,
            ..*self
        }
    }
}

/// The gender a voice presents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Gender {
    /// Female.
    Female,
    /// Male.
    Male,
    /// Neither or unknown.
    Neutral,
}

/// A voice an engine can speak with.
#[derive(Debug, Clone, PartialEq)]
pub struct VoiceInfo {
    /// Name used to pick it ("joe", "espeak-it").
    pub name: String,
    /// Primary language subtag ("en", "it").
    pub language: String,
    /// Presented gender.
    pub gender: Gender,
    /// Engine behind it ("piper", "espeak-ng").
    pub engine: &'static str,
    /// Native sample rate in Hz.
    pub sample_rate: u32,
}

/// A speech engine. Calls block until the text is spoken: call them from a
/// blocking thread, never from an async task.
pub trait Synthesizer: Send + Sync {
    /// The engine's name, which also selects its prosody table.
    fn engine(&self) -> &'static str;

    /// Voices this engine speaks with.
    fn voices(&self) -> Vec<VoiceInfo>;

    /// Speaks `text` (plain text, numbers and symbols already expanded)
    /// with `voice`, passing 16-bit PCM at the voice's rate to `sink` as it
    /// is produced, possibly in several pieces.
    fn speak(
        &self,
        voice: &str,
        text: &str,
        prosody: &Prosody,
        sink: &mut dyn FnMut(&[i16]),
    ) -> Result<(), TtsError>;
}
