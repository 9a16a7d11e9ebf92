//! The `[asr]` section of `parla.toml`: models, the whisper worker pool,
//! the end-of-turn thresholds and the stream limits. Every threshold's
//! default comes from the measurements recorded in the crate's README.

use serde::{Deserialize, Serialize};

/// Settings of the speech recognition service (`[asr]` in `parla.toml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AsrConfig {
    /// English model: a provisioned model name or a path to a whisper.cpp
    /// ggml file.
    pub model_en: String,
    /// Multilingual model (Italian, language detection): a provisioned
    /// model name or a path to a whisper.cpp ggml file.
    pub model_multilingual: String,
    /// Voice activity detector: Silero VAD ONNX (model name or path).
    pub vad_model: String,
    /// End-of-turn model: Smart Turn v3.2 ONNX (model name or path).
    pub turn_model: String,
    /// The ONNX Runtime shared library (model name or path).
    pub onnxruntime: String,
    /// Threads each recognition uses.
    pub threads: u32,
    /// Whisper workers (one decoding state per model each): how many
    /// recognitions run at once.
    pub workers: u32,
    /// Recognitions that may wait for a worker; one more is refused with
    /// RESOURCE_EXHAUSTED.
    pub queue_depth: u32,
    /// Longest one recognition may run on a worker, in ms. Past it the
    /// watchdog stops it (DEADLINE_EXCEEDED) and the service reports
    /// NOT_SERVING until a recognition finishes in time again.
    pub job_deadline_ms: u32,
    /// Languages `auto` detection chooses from (BCP-47).
    pub languages: Vec<String>,
    /// Silero speech probability at or above which a 32 ms frame is speech.
    pub vad_threshold: f32,
    /// Speech needed before a turn starts, in milliseconds.
    pub min_speech_ms: u32,
    /// Silence after speech at which the pause's Whisper pass starts, in
    /// ms (capped at `min_silence_ms`): the pass runs while the pause goes
    /// on, so the words (and the final) are ready when the pause is judged.
    pub speculate_ms: u32,
    /// Silence after speech before the end-of-turn model is asked, in ms.
    pub min_silence_ms: u32,
    /// Silence before a pause the end-of-turn model and the words judged
    /// complete ends the turn, in ms (at least `min_silence_ms`): callers
    /// pause inside one thought, so "complete" is not yet "over".
    pub min_endpoint_ms: u32,
    /// Silence after which a sentence Whisper closed (`.`, `?`, `!`, no
    /// dangling word or dictated number) ends the turn whatever Smart Turn
    /// says, in ms.
    pub complete_silence_ms: u32,
    /// Silence after which a clause Whisper left without final
    /// punctuation, but that ends on a content word ("because I'm moving on
    /// Friday"), ends the turn whatever Smart Turn says, in ms.
    pub unpunctuated_silence_ms: u32,
    /// Silence after which a lone word ("Yes," after a question, a
    /// greeting Whisper misheard) ends the turn, in ms: callers go on
    /// after one.
    pub fragment_silence_ms: u32,
    /// Silence after which a number or a name being dictated ("the number
    /// is four five", "T H O M") ends the turn, in ms: callers breathe
    /// between the groups.
    pub dictation_silence_ms: u32,
    /// Silence after which the turn ends whatever the model says, in ms.
    pub max_silence_ms: u32,
    /// Smart Turn probability at or above which the turn is complete.
    pub turn_threshold: f32,
    /// The same when Whisper ended the transcript with `.`, `?` or `!`.
    pub turn_threshold_punctuated: f32,
    /// New speech between partial hypotheses, in milliseconds.
    pub partial_interval_ms: u32,
    /// Longest turn, in seconds; a longer one is finalized in pieces.
    pub max_turn_secs: u32,
    /// Largest audio chunk accepted, in bytes.
    pub max_chunk_bytes: u32,
    /// Longest stream, in seconds of audio.
    pub max_stream_secs: u32,
    /// Longest unary request, in seconds of audio.
    pub max_utterance_secs: u32,
    /// Seconds a stream may go without a message before it is closed with
    /// DEADLINE_EXCEEDED.
    pub idle_timeout_secs: u32,
    /// Whisper no-speech probability above which a segment is dropped.
    pub no_speech_threshold: f32,
    /// Encoder window beyond the audio, in ms: Whisper's encoder runs on
    /// the audio's length plus this margin (`audio_ctx`) instead of its
    /// fixed 30 s. 0 encodes the full 30 s window. Final passes of the
    /// English model; tiny.en drops words below about 7 s (measured in the
    /// README).
    pub encoder_margin_ms: u32,
    /// The same for final passes of the multilingual model. 2000
    /// (default): on Festival's Italian voices through the phone line, base
    /// with beam 5 heard 16.4 % WER with it and 17.1 % with the full window
    /// (0), its finals 4.5 times faster (README, *Italian finals*).
    pub multilingual_encoder_margin_ms: u32,
    /// The same for partial passes: a hypothesis may lose a word, so a
    /// shorter window keeps partials coming every `partial_interval_ms`.
    pub partial_encoder_margin_ms: u32,
    /// Beam width of final recognitions with the multilingual model (0 or
    /// 1: greedy). Italian needs the beam; English (tiny.en) is greedy.
    pub beam_size_multilingual: u32,
}

impl Default for AsrConfig {
    fn default() -> Self {
        Self {
            model_en: "whisper-tiny-en".to_owned(),
            model_multilingual: "whisper-base".to_owned(),
            vad_model: "silero-vad".to_owned(),
            turn_model: "smart-turn-v3.2".to_owned(),
            onnxruntime: "onnxruntime".to_owned(),
            threads: 2,
            workers: 1,
            queue_depth: 8,
            job_deadline_ms: 20_000,
            languages: vec!["en".to_owned(), "it".to_owned()],
            vad_threshold: 0.5,
            min_speech_ms: 96,
            speculate_ms: 64,
            min_silence_ms: 200,
            min_endpoint_ms: 500,
            complete_silence_ms: 600,
            unpunctuated_silence_ms: 700,
            fragment_silence_ms: 1000,
            dictation_silence_ms: 900,
            max_silence_ms: 1500,
            turn_threshold: 0.5,
            turn_threshold_punctuated: 0.3,
            partial_interval_ms: 400,
            max_turn_secs: 28,
            max_chunk_bytes: 64_000,
            max_stream_secs: 3600,
            max_utterance_secs: 30,
            idle_timeout_secs: 10,
            no_speech_threshold: 0.6,
            encoder_margin_ms: 7000,
            partial_encoder_margin_ms: 1000,
            multilingual_encoder_margin_ms: 2000,
            beam_size_multilingual: 5,
        }
    }
}

/// A setting whose value is not allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{key}` {problem}")]
pub struct ConfigProblem {
    /// Dotted key, e.g. `asr.turn_threshold`.
    pub key: String,
    /// What is wrong and what is allowed.
    pub problem: String,
}

fn problem(key: &str, problem: String) -> ConfigProblem {
    ConfigProblem {
        key: format!("asr.{key}"),
        problem,
    }
}

impl AsrConfig {
    /// Checks the values; the problem names the key and what is allowed.
    pub fn validate(&self) -> Result<(), ConfigProblem> {
        for (key, v) in [
            ("vad_threshold", self.vad_threshold),
            ("turn_threshold", self.turn_threshold),
            ("turn_threshold_punctuated", self.turn_threshold_punctuated),
            ("no_speech_threshold", self.no_speech_threshold),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(problem(key, format!("is {v}; allowed: 0.0 to 1.0")));
            }
        }
        for (key, v) in [
            ("threads", self.threads),
            ("workers", self.workers),
            ("partial_interval_ms", self.partial_interval_ms),
            ("max_chunk_bytes", self.max_chunk_bytes),
            ("max_stream_secs", self.max_stream_secs),
            ("max_utterance_secs", self.max_utterance_secs),
            ("idle_timeout_secs", self.idle_timeout_secs),
            ("job_deadline_ms", self.job_deadline_ms),
        ] {
            if v == 0 {
                return Err(problem(key, "is 0; allowed: 1 or more".into()));
            }
        }
        for (key, v) in [
            ("complete_silence_ms", self.complete_silence_ms),
            ("unpunctuated_silence_ms", self.unpunctuated_silence_ms),
            ("fragment_silence_ms", self.fragment_silence_ms),
            ("dictation_silence_ms", self.dictation_silence_ms),
        ] {
            if v > self.max_silence_ms {
                return Err(problem(
                    key,
                    format!(
                        "is {v} but `asr.max_silence_ms` is {}; allowed: at most max_silence_ms",
                        self.max_silence_ms
                    ),
                ));
            }
        }
        if self.min_endpoint_ms > self.max_silence_ms {
            return Err(problem(
                "min_endpoint_ms",
                format!(
                    "is {} but `asr.max_silence_ms` is {}; allowed: at most max_silence_ms",
                    self.min_endpoint_ms, self.max_silence_ms
                ),
            ));
        }
        if self.max_silence_ms < self.min_silence_ms {
            return Err(problem(
                "max_silence_ms",
                format!(
                    "is {} but `asr.min_silence_ms` is {}; allowed: at least min_silence_ms",
                    self.max_silence_ms, self.min_silence_ms
                ),
            ));
        }
        if !(1..=29).contains(&self.max_turn_secs) {
            return Err(problem(
                "max_turn_secs",
                format!(
                    "is {}; allowed: 1 to 29 (Whisper hears 30 s at most)",
                    self.max_turn_secs
                ),
            ));
        }
        if self.max_utterance_secs > 30 {
            return Err(problem(
                "max_utterance_secs",
                format!(
                    "is {}; allowed: 1 to 30 (Whisper hears 30 s at most)",
                    self.max_utterance_secs
                ),
            ));
        }
        if self.beam_size_multilingual > 16 {
            return Err(problem(
                "beam_size_multilingual",
                format!("is {}; allowed: 0 to 16", self.beam_size_multilingual),
            ));
        }
        if self.languages.is_empty() {
            return Err(problem(
                "languages",
                "is empty; allowed: one or more BCP-47 tags (en, it, ...)".into(),
            ));
        }
        Ok(())
    }
}
