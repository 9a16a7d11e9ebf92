//! Speech recognition (`parla.v1.Asr`): hears callers. Batch and streaming
//! speech-to-text with whisper.cpp (through `whisper-rs`) on a pool of
//! dedicated worker threads, Silero voice activity detection and Smart
//! Turn end-of-turn detection (ONNX, through `ort`), per-utterance
//! confidence and language, telephone encodings.
//!
//! Layers: [`Recognizer`] (the engine seam) and [`WhisperPool`] (its
//! whisper.cpp implementation); [`TurnDetector`] (VAD + end of turn in
//! stream time); [`AsrEngine`] (everything loaded); [`AsrService`] (the
//! tonic adapter, the only layer that knows gRPC).

mod audio;
mod config;
mod cue;
mod decoded_text;
mod endpoint;
mod engine;
mod error;
mod mel;
mod onnx;
mod pool;
mod recognizer;
mod service;
mod session;
mod turn;
mod whisper;

pub use audio::{decode_utterance, decode_wav, AudioSpec, Encoding, StreamDecoder};
pub use config::{AsrConfig, ConfigProblem};
pub use cue::{text_cue, text_cue_in, TextCue, MIN_CLAUSE_WORDS};
pub use decoded_text::strip_non_speech;
pub use endpoint::JudgedPause;
pub use engine::{AsrEngine, AsrPaths};
pub use error::AsrError;
pub use mel::LogMel;
pub use onnx::{environment, SileroVad, SmartTurn, VadState, TURN_WINDOW, VAD_FRAME};
pub use pool::{Models, PoolSettings, WhisperPool};
pub use recognizer::{
    LanguageChoice, Pass, RecognitionRequest, Recognizer, Transcript, Word, SAMPLE_RATE,
};
pub use service::AsrService;
pub use turn::{
    PauseTranscriber, PendingTranscript, TranscriptStarter, TurnDetector, TurnEnd, TurnEvent,
    TurnSettings,
};
pub use whisper::{audio_ctx, WhisperModel};
