//! The voice bank: every engine's voices, the default voice of each
//! language, and speaking a planned utterance with the tone's prosody.

use std::path::PathBuf;
use std::sync::Arc;

use crate::config::{Tone, TtsConfig};
use crate::engine::{Gender, Synthesizer, VoiceInfo};
use crate::espeak::EspeakEngine;
use crate::piper::PiperVoice;
use crate::text::Piece;
use crate::TtsError;

/// A voice and the engine that speaks it.
#[derive(Clone)]
pub struct Voice {
    /// What it is.
    pub info: VoiceInfo,
    /// True when it is its language's default.
    pub is_default: bool,
    engine: Arc<dyn Synthesizer>,
}

/// Files the Piper voice needs.
#[derive(Debug, Clone)]
pub struct PiperFiles {
    /// The `.onnx` model (its `.onnx.json` beside it).
    pub model: PathBuf,
    /// `libonnxruntime.so`.
    pub onnxruntime: PathBuf,
}

/// All voices of this service.
pub struct VoiceBank {
    voices: Vec<Voice>,
    config: TtsConfig,
}

impl VoiceBank {
    /// Starts eSpeak NG and, when `piper` is given, loads the Piper voice,
    /// which becomes the default for its language. Blocking.
    pub fn load(config: &TtsConfig, piper: Option<&PiperFiles>) -> Result<Self, TtsError> {
        let espeak = Arc::new(EspeakEngine::start(
            config.espeak_voices.clone(),
            config.espeak_buffer_ms,
        )?);
        let mut engines: Vec<Arc<dyn Synthesizer>> = Vec::new();
        if let Some(files) = piper {
            let voice = PiperVoice::load(
                &config.piper_voice,
                Gender::Male,
                &files.model,
                &files.onnxruntime,
                crate::piper::PiperSettings {
                    sessions: config.piper_sessions,
                    threads: config.piper_threads,
                    spinning: config.piper_spinning,
                    noise_scale: config.piper_noise_scale,
                    noise_w: config.piper_noise_w,
                },
                espeak.clone(),
            )?;
            engines.push(Arc::new(voice));
        }
        engines.push(espeak);
        let mut voices: Vec<Voice> = Vec::new();
        for engine in engines {
            for info in engine.voices() {
                let is_default = !voices.iter().any(|v| v.info.language == info.language);
                voices.push(Voice {
                    info,
                    is_default,
                    engine: engine.clone(),
                });
            }
        }
        voices.sort_by_key(|v| !v.is_default);
        Ok(Self {
            voices,
            config: config.clone(),
        })
    }

    /// Voices, defaults first; only `language`'s when it is not empty.
    pub fn list(&self, language: &str) -> Vec<&Voice> {
        let lang = primary(language);
        self.voices
            .iter()
            .filter(|v| lang.is_empty() || v.info.language == lang)
            .collect()
    }

    /// The voice named `name`, or else the default voice of `language`
    /// (or of the configured default language).
    pub fn resolve(&self, language: &str, name: &str) -> Result<&Voice, TtsError> {
        if !name.is_empty() {
            return self
                .voices
                .iter()
                .find(|v| v.info.name == name)
                .ok_or_else(|| TtsError::UnknownVoice {
                    name: name.to_owned(),
                    available: self.names(),
                });
        }
        let lang = if language.trim().is_empty() {
            primary(&self.config.default_language)
        } else {
            primary(language)
        };
        self.voices
            .iter()
            .find(|v| v.is_default && v.info.language == lang)
            .ok_or_else(|| {
                let mut langs: Vec<&str> = self
                    .voices
                    .iter()
                    .map(|v| v.info.language.as_str())
                    .collect();
                langs.dedup();
                TtsError::UnknownLanguage {
                    language: language.to_owned(),
                    available: langs.join(", "),
                }
            })
    }

    fn names(&self) -> String {
        self.voices
            .iter()
            .map(|v| v.info.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Speaks `pieces` with `voice` in `tone`, passing native PCM to `sink`.
    /// Blocking.
    pub fn speak(
        &self,
        voice: &Voice,
        tone: Tone,
        pieces: &[Piece],
        sink: &mut dyn FnMut(&[i16]),
    ) -> Result<(), TtsError> {
        let table = if voice.engine.engine() == crate::piper::ENGINE {
            &self.config.prosody.piper
        } else {
            &self.config.prosody.espeak
        };
        let base = *table.get(tone);
        let silence =
            |ms: u32| vec![0i16; (voice.info.sample_rate as u64 * u64::from(ms) / 1000) as usize];
        // Audio so far, checked before each piece: a piece is at most one
        // run of `text::MAX_RUN_WORDS` words, so the limit is overshot by
        // at most one run.
        let limit_secs = self.config.max_audio_secs;
        let limit = u64::from(voice.info.sample_rate) * u64::from(limit_secs);
        let spoken = std::cell::Cell::new(0u64);
        let mut sink = |pcm: &[i16]| {
            spoken.set(spoken.get() + pcm.len() as u64);
            sink(pcm)
        };
        for piece in pieces {
            if spoken.get() > limit {
                return Err(TtsError::AudioTooLong { limit_secs });
            }
            match piece {
                Piece::Text {
                    text,
                    rate,
                    pitch,
                    volume,
                } => {
                    let prosody = base.scaled(*rate, *pitch, *volume);
                    voice
                        .engine
                        .speak(&voice.info.name, text, &prosody, &mut sink)?;
                }
                Piece::Break { ms } => sink(&silence(*ms)),
                Piece::SentenceEnd => sink(&silence(base.sentence_pause_ms)),
            }
        }
        Ok(())
    }

    /// The configuration the bank was loaded with.
    pub fn config(&self) -> &TtsConfig {
        &self.config
    }
}

/// Primary language subtag, lowercase: "en-US" -> "en".
pub fn primary(tag: &str) -> String {
    tag.trim()
        .split(['-', '_'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase()
}
