//! Speech synthesis (`parla.v1.Tts`): turns reply text into telephone-ready
//! audio, streamed sentence by sentence, with a prosody (rate, pitch, volume,
//! pauses) that follows the tone the dialogue manager chose.
//!
//! Engines sit behind the [`Synthesizer`] trait: eSpeak NG through its C
//! library (its callback hands back PCM, which a phone line needs) for
//! English and Italian, and the Piper neural English voice run with ONNX
//! Runtime and phonemized by eSpeak NG. [`VoiceBank`] holds the voices;
//! [`text`] reads SSML, numbers and money; [`output`] resamples, encodes
//! G.711 and cuts chunks; [`service`] is the gRPC layer.

pub mod config;
pub mod engine;
mod error;
pub mod espeak;
pub mod output;
pub mod piper;
pub mod service;
pub mod text;
pub mod voices;

pub use config::{Tone, TtsConfig};
pub use engine::{Gender, Prosody, Synthesizer, VoiceInfo};
pub use error::TtsError;
pub use service::TtsService;
pub use voices::{PiperFiles, VoiceBank};
