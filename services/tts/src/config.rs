//! Settings of the speech synthesis service (`[tts]` in `parla.toml`),
//! including the tone-to-prosody table of each engine.

use serde::{Deserialize, Serialize};

use crate::engine::Prosody;
use crate::espeak::{self, EspeakVoiceConfig};

/// The manner of a reply, as chosen by the dialogue manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tone {
    /// Plain and factual (also when unset).
    Neutral,
    /// Friendly and personal.
    Warm,
    /// Acknowledges feelings first.
    Empathetic,
    /// Owns a failure.
    Apologetic,
    /// Cheerful.
    Upbeat,
    /// Slow and steady.
    Calm,
}

impl Tone {
    /// Every tone.
    pub const ALL: [Tone; 6] = [
        Tone::Neutral,
        Tone::Warm,
        Tone::Empathetic,
        Tone::Apologetic,
        Tone::Upbeat,
        Tone::Calm,
    ];
}

/// Prosody for each tone, for one engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ToneTable {
    /// Neutral.
    pub neutral: Prosody,
    /// Warm.
    pub warm: Prosody,
    /// Empathetic.
    pub empathetic: Prosody,
    /// Apologetic.
    pub apologetic: Prosody,
    /// Upbeat.
    pub upbeat: Prosody,
    /// Calm.
    pub calm: Prosody,
}

fn p(rate: f32, pitch: f32, volume: f32, sentence_pause_ms: u32) -> Prosody {
    Prosody {
        rate,
        pitch,
        volume,
        sentence_pause_ms,
    }
}

impl ToneTable {
    /// The prosody of `tone`.
    pub fn get(&self, tone: Tone) -> &Prosody {
        match tone {
            Tone::Neutral => &self.neutral,
            Tone::Warm => &self.warm,
            Tone::Empathetic => &self.empathetic,
            Tone::Apologetic => &self.apologetic,
            Tone::Upbeat => &self.upbeat,
            Tone::Calm => &self.calm,
        }
    }

    fn espeak_default() -> Self {
        Self {
            neutral: p(1.0, 1.0, 1.0, 250),
            warm: p(0.95, 1.08, 1.0, 300),
            empathetic: p(0.8, 0.84, 0.9, 450),
            apologetic: p(0.85, 0.88, 0.9, 400),
            upbeat: p(1.15, 1.2, 1.1, 200),
            calm: p(0.8, 0.9, 0.85, 500),
        }
    }

    fn piper_default() -> Self {
        Self {
            neutral: p(1.0, 1.0, 1.0, 250),
            warm: p(0.97, 1.04, 1.0, 300),
            empathetic: p(0.85, 0.93, 0.9, 450),
            apologetic: p(0.88, 0.95, 0.9, 400),
            upbeat: p(1.12, 1.08, 1.05, 200),
            calm: p(0.84, 0.96, 0.85, 500),
        }
    }
}

impl Default for ToneTable {
    fn default() -> Self {
        Self::espeak_default()
    }
}

/// Tone tables per engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProsodyTables {
    /// eSpeak NG (rate maps to words per minute around 175, pitch to its
    /// 0-100 base pitch around 50, volume to 0-200 around 100).
    pub espeak: ToneTable,
    /// Piper (rate divides the length scale; pitch shifts by resampling).
    pub piper: ToneTable,
}

impl Default for ProsodyTables {
    fn default() -> Self {
        Self {
            espeak: ToneTable::espeak_default(),
            piper: ToneTable::piper_default(),
        }
    }
}

/// Settings of the speech synthesis service (`[tts]` in `parla.toml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TtsConfig {
    /// Language used when a request names neither a language nor a voice.
    pub default_language: String,
    /// The Piper English voice: a provisioned model name ("piper-joe") or a
    /// path to a Piper `.onnx` file with its `.onnx.json` beside it; empty
    /// disables it (eSpeak NG then speaks English).
    pub piper_model: String,
    /// Name under which the Piper voice is listed.
    pub piper_voice: String,
    /// ONNX Runtime shared library: a model name ("onnxruntime") or a path.
    pub onnxruntime: String,
    /// Piper sessions (sentences synthesized at once).
    pub piper_sessions: usize,
    /// ONNX Runtime intra-op threads of each Piper session. 2 (default)
    /// takes a lone sentence's first audio from 194 to 116 ms on an idle
    /// 2-core machine (capacity 22 → 19 real-time streams, README); 1 keeps
    /// `piper_sessions` sentences on as many cores without
    /// oversubscription.
    pub piper_threads: usize,
    /// Whether ONNX Runtime's intra-op threads spin while they wait for
    /// work (off by default: spinning takes CPU from speech recognition and
    /// the language model in the same process).
    pub piper_spinning: bool,
    /// Piper's VITS noise scale; unset: the voice's own (`.onnx.json`).
    /// With `piper_noise_w` 0, 0 makes every rendition the same (tests).
    pub piper_noise_scale: Option<f32>,
    /// Piper's duration noise; unset: the voice's own.
    pub piper_noise_w: Option<f32>,
    /// eSpeak NG voices offered.
    pub espeak_voices: Vec<EspeakVoiceConfig>,
    /// Audio eSpeak NG hands back per callback, in ms (smaller: earlier
    /// first audio).
    pub espeak_buffer_ms: u32,
    /// Longest text accepted in one request or stream, in characters.
    pub max_text_chars: usize,
    /// Longest audio one request or stream may produce, in seconds; a
    /// request that would go on is refused with what it already cost.
    pub max_audio_secs: u32,
    /// Duration of each streamed audio chunk in ms (20 for telephony).
    pub chunk_ms: u32,
    /// Tone to prosody, per engine.
    pub prosody: ProsodyTables,
}

impl Default for TtsConfig {
    fn default() -> Self {
        Self {
            default_language: "en".to_owned(),
            piper_model: "piper-joe".to_owned(),
            piper_voice: "joe".to_owned(),
            onnxruntime: "onnxruntime".to_owned(),
            piper_sessions: 2,
            piper_threads: 2,
            piper_spinning: false,
            piper_noise_scale: None,
            piper_noise_w: None,
            espeak_voices: espeak::default_voices(),
            espeak_buffer_ms: 20,
            max_text_chars: 5000,
            max_audio_secs: 600,
            chunk_ms: 20,
            prosody: ProsodyTables::default(),
        }
    }
}

/// A setting with a value this service cannot use.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("`{key}` {problem}")]
pub struct ConfigProblem {
    /// The full key, e.g. `tts.chunk_ms`.
    pub key: String,
    /// What is wrong and what is allowed.
    pub problem: String,
}

fn range<T: PartialOrd + std::fmt::Display>(
    key: &str,
    v: T,
    lo: T,
    hi: T,
) -> Result<(), ConfigProblem> {
    if v < lo || v > hi {
        return Err(ConfigProblem {
            key: key.to_owned(),
            problem: format!("is {v}; allowed: {lo} to {hi}"),
        });
    }
    Ok(())
}

impl TtsConfig {
    /// Checks values; the error names the key and what is allowed.
    pub fn validate(&self) -> Result<(), ConfigProblem> {
        range("tts.chunk_ms", self.chunk_ms, 5, 1000)?;
        range("tts.max_text_chars", self.max_text_chars, 1, 1_000_000)?;
        range("tts.max_audio_secs", self.max_audio_secs, 1, 86_400)?;
        range("tts.piper_sessions", self.piper_sessions, 1, 16)?;
        range("tts.piper_threads", self.piper_threads, 1, 16)?;
        for (key, v) in [
            ("tts.piper_noise_scale", self.piper_noise_scale),
            ("tts.piper_noise_w", self.piper_noise_w),
        ] {
            if let Some(v) = v {
                range(key, v, 0.0, 2.0)?;
            }
        }
        range("tts.espeak_buffer_ms", self.espeak_buffer_ms, 10, 1000)?;
        if self.espeak_voices.is_empty() {
            return Err(ConfigProblem {
                key: "tts.espeak_voices".into(),
                problem: "is empty; eSpeak NG needs at least one voice".into(),
            });
        }
        for (engine, table) in [
            ("espeak", &self.prosody.espeak),
            ("piper", &self.prosody.piper),
        ] {
            for tone in Tone::ALL {
                let pr = table.get(tone);
                let name = serde_json::to_string(&tone).unwrap_or_default();
                let key = format!("tts.prosody.{engine}.{}", name.trim_matches('"'));
                range(&format!("{key}.rate"), pr.rate, 0.25, 4.0)?;
                range(&format!("{key}.pitch"), pr.pitch, 0.5, 2.0)?;
                range(&format!("{key}.volume"), pr.volume, 0.0, 2.0)?;
                range(
                    &format!("{key}.sentence_pause_ms"),
                    pr.sentence_pause_ms,
                    0,
                    5000,
                )?;
            }
        }
        Ok(())
    }
}
