//! Errors of the speech recognition engine and streams; the gRPC layer
//! maps each to a status code once, in `service.rs`.

use std::path::PathBuf;

/// What went wrong while loading a model or recognizing speech.
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
    /// ONNX Runtime could not load the library or a model.
    #[error("ONNX Runtime could not load {path}: {reason}")]
    OnnxLoad {
        /// The library or model file.
        path: PathBuf,
        /// What ONNX Runtime said.
        reason: String,
    },
    /// Inference failed inside an engine.
    #[error("{engine} failed: {reason}")]
    Inference {
        /// Which engine (whisper, silero-vad, smart-turn).
        engine: &'static str,
        /// What it said.
        reason: String,
    },
    /// All workers are busy and the queue is full.
    #[error("speech recognition is busy: {queued} recognitions are already waiting; retry later")]
    Busy {
        /// Queue depth reached.
        queued: u32,
    },
    /// A recognition was stopped before its end: its caller went away, or
    /// a partial gave the worker up to a final.
    #[error("the recognition was stopped: its result is no longer needed")]
    Aborted,
    /// The watchdog stopped a recognition that ran past its deadline.
    #[error("speech recognition stopped a recognition after {ms} ms (`asr.job_deadline_ms`); the engine is overloaded or stuck, retry shortly")]
    Stalled {
        /// How long it had run.
        ms: u64,
    },
    /// The engine has stopped.
    #[error("speech recognition workers have stopped")]
    Stopped,
    /// The request asked for a language no loaded model speaks.
    #[error("language `{language}` is not available; allowed: {allowed}")]
    UnsupportedLanguage {
        /// What was asked.
        language: String,
        /// What is available.
        allowed: String,
    },
    /// The audio is malformed.
    #[error("{0}")]
    BadAudio(String),
    /// The audio is longer than allowed.
    #[error("{0}")]
    TooLong(String),
}
