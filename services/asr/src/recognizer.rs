//! The recognizer seam: what the service asks of a speech-to-text engine,
//! in domain types that know nothing of gRPC. The whisper.cpp pool is the
//! real implementation; a second engine is a new impl of [`Recognizer`].

use std::sync::Arc;

use futures::future::BoxFuture;

use crate::AsrError;

/// Sample rate of all audio handed to a recognizer.
pub const SAMPLE_RATE: u32 = 16_000;

/// Which language to recognize.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LanguageChoice {
    /// Detect it among the configured languages.
    Auto,
    /// A BCP-47 primary tag such as `en` or `it`.
    Fixed(String),
}

impl LanguageChoice {
    /// Parses a request's language field: empty or `auto` detects.
    pub fn parse(field: &str) -> Self {
        let tag = field.trim().to_ascii_lowercase();
        // "en-US" and "it_IT" name the same Whisper language as "en", "it".
        let primary = tag.split(['-', '_']).next().unwrap_or("").to_owned();
        if primary.is_empty() || primary == "auto" {
            Self::Auto
        } else {
            Self::Fixed(primary)
        }
    }
}

/// How much work a recognition is worth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// The result the caller keeps: word timestamps and temperature
    /// fallback on.
    Final,
    /// A quick hypothesis while the caller still speaks.
    Partial,
}

/// One recognition to run.
#[derive(Debug, Clone)]
pub struct RecognitionRequest {
    /// Mono samples at 16 kHz in [-1, 1].
    pub audio: Arc<Vec<f32>>,
    /// Language to recognize.
    pub language: LanguageChoice,
    /// Final or partial.
    pub pass: Pass,
}

/// A recognized word.
#[derive(Debug, Clone, PartialEq)]
pub struct Word {
    /// The word as written.
    pub text: String,
    /// Start in milliseconds from the start of the audio.
    pub start_ms: u32,
    /// End in milliseconds from the start of the audio.
    pub end_ms: u32,
    /// Mean probability of its tokens.
    pub confidence: f32,
}

/// What a recognizer heard.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Transcript {
    /// The text; empty when nothing was said.
    pub text: String,
    /// Words with timestamps (final passes only).
    pub words: Vec<Word>,
    /// Language recognized (BCP-47 primary tag).
    pub language: String,
    /// Confidence in [0, 1]: token probabilities and the no-speech
    /// probability combined.
    pub confidence: f32,
    /// Whisper's probability that the audio held no speech.
    pub no_speech_probability: f32,
    /// Length of the audio in milliseconds.
    pub audio_ms: u32,
    /// Time spent recognizing in milliseconds (excluding queueing).
    pub processing_ms: u32,
}

impl Transcript {
    /// An empty transcript for audio without speech.
    pub fn silence(language: &str, audio_ms: u32) -> Self {
        Self {
            language: language.to_owned(),
            no_speech_probability: 1.0,
            audio_ms,
            ..Self::default()
        }
    }
}

/// A speech-to-text engine. Implementations run inference off the async
/// runtime; the returned future only waits for the answer.
pub trait Recognizer: Send + Sync {
    /// Recognizes one utterance. Errors with [`AsrError::Busy`] when the
    /// engine's queue is full, without waiting.
    fn recognize(
        &self,
        request: RecognitionRequest,
    ) -> BoxFuture<'static, Result<Transcript, AsrError>>;
}
