//! The loaded speech recognition engine: the whisper pool, the VAD and the
//! end-of-turn model, with the settings streams need. `AsrEngine::load` is
//! what the service's readiness waits for.

use std::path::PathBuf;
use std::sync::Arc;

use crate::onnx::{environment, SileroVad, SmartTurn, VadState, VAD_FRAME};
use crate::pool::{Models, PoolSettings, WhisperPool};
use crate::recognizer::{
    LanguageChoice, Pass, RecognitionRequest, Recognizer, Transcript, SAMPLE_RATE,
};
use crate::turn::TurnSettings;
use crate::whisper::WhisperModel;
use crate::{AsrConfig, AsrError};

/// Files the engine loads, resolved from the configuration.
#[derive(Debug, Clone)]
pub struct AsrPaths {
    /// English whisper.cpp model, if any.
    pub model_en: Option<PathBuf>,
    /// Multilingual whisper.cpp model, if any.
    pub model_multilingual: Option<PathBuf>,
    /// Silero VAD ONNX.
    pub vad: PathBuf,
    /// Smart Turn v3.2 ONNX.
    pub turn: PathBuf,
    /// The ONNX Runtime shared library.
    pub onnxruntime: PathBuf,
}

/// Everything the service needs to recognize speech.
pub struct AsrEngine {
    /// The recognizer (whisper pool).
    pub recognizer: Arc<dyn Recognizer>,
    pool: Arc<WhisperPool>,
    /// Voice activity detector.
    pub vad: Arc<SileroVad>,
    /// End-of-turn model.
    pub turn: Arc<SmartTurn>,
    /// The configuration it was loaded with.
    pub config: AsrConfig,
}

impl AsrEngine {
    /// Loads the models and starts the workers. Blocking.
    pub fn load(paths: &AsrPaths, config: &AsrConfig) -> Result<Self, AsrError> {
        let env = environment(&paths.onnxruntime)?;
        let vad = Arc::new(SileroVad::load(&env, &paths.vad)?);
        let turn = Arc::new(SmartTurn::load(&env, &paths.turn, 1)?);
        let load = |p: &Option<PathBuf>| p.as_deref().map(WhisperModel::load).transpose();
        let models = Models {
            english: load(&paths.model_en)?.map(Arc::new),
            multilingual: load(&paths.model_multilingual)?.map(Arc::new),
        };
        let pool = Arc::new(WhisperPool::start(
            models,
            PoolSettings {
                workers: config.workers,
                threads: config.threads,
                queue_depth: config.queue_depth,
                job_deadline_ms: config.job_deadline_ms,
                languages: config.languages.clone(),
                no_speech_threshold: config.no_speech_threshold,
                beam_size_multilingual: config.beam_size_multilingual,
                encoder_margin_ms: config.encoder_margin_ms,
                partial_encoder_margin_ms: config.partial_encoder_margin_ms,
                multilingual_encoder_margin_ms: config.multilingual_encoder_margin_ms,
            },
        )?);
        Ok(Self {
            recognizer: pool.clone(),
            pool,
            vad,
            turn,
            config: config.clone(),
        })
    }

    /// False while the watchdog has stopped a recognition and none has
    /// finished in time since: health reports NOT_SERVING.
    pub fn healthy(&self) -> bool {
        self.pool.healthy()
    }

    /// Checks a requested language before any audio is processed.
    pub fn check_language(&self, language: &LanguageChoice) -> Result<(), AsrError> {
        self.pool.check_language(language)
    }

    /// Turn detection thresholds.
    pub fn turn_settings(&self) -> TurnSettings {
        TurnSettings::from(&self.config)
    }

    /// Milliseconds of speech Silero hears in `audio`. Blocking.
    pub fn speech_ms(&self, audio: &[f32]) -> Result<u32, AsrError> {
        let mut state = VadState::default();
        let mut speech = 0usize;
        for frame in audio.chunks(VAD_FRAME) {
            if self.vad.probability(&mut state, frame)? >= self.config.vad_threshold {
                speech += frame.len();
            }
        }
        Ok((speech as u64 * 1000 / SAMPLE_RATE as u64) as u32)
    }

    /// Recognizes one whole utterance: audio without speech (by the VAD)
    /// gives an empty transcript without running Whisper, so silence and
    /// noise cannot turn into invented text.
    pub async fn recognize_utterance(
        self: &Arc<Self>,
        audio: Vec<f32>,
        language: LanguageChoice,
    ) -> Result<Transcript, AsrError> {
        let audio = Arc::new(audio);
        let audio_ms = (audio.len() as u64 * 1000 / SAMPLE_RATE as u64) as u32;
        let engine = Arc::clone(self);
        let vad_audio = Arc::clone(&audio);
        let speech_ms = tokio::task::spawn_blocking(move || engine.speech_ms(&vad_audio))
            .await
            .map_err(|_| AsrError::Stopped)??;
        if speech_ms < self.config.min_speech_ms {
            tracing::debug!(speech_ms, audio_ms, "no speech in utterance");
            return Ok(Transcript::silence(&language_tag(&language), audio_ms));
        }
        self.recognizer
            .recognize(RecognitionRequest {
                audio,
                language,
                pass: Pass::Final,
            })
            .await
    }
}

/// The tag to report for a language choice when nothing was recognized.
pub fn language_tag(language: &LanguageChoice) -> String {
    match language {
        LanguageChoice::Auto => String::new(),
        LanguageChoice::Fixed(tag) => tag.clone(),
    }
}
