//! The Piper neural voice (VITS, ONNX), run with ONNX Runtime through `ort`.
//! Text is phonemized to IPA by eSpeak NG, mapped to ids with the voice's
//! `.onnx.json`, and the model returns 22,050 Hz float audio for a whole
//! sentence.
//!
//! Concurrency: `Session::run` needs exclusive access, so the voice keeps
//! `sessions` sessions (each single-threaded) and a request takes a free
//! one; with two sessions on two cores, two sentences are synthesized at
//! once. Pitch has no control in the model: it is raised or lowered by
//! synthesizing with a proportionally longer or shorter length scale and
//! resampling the result, which keeps the intended duration.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};

use ort::session::Session;
use ort::value::Tensor;

use crate::engine::{Gender, Prosody, Synthesizer, VoiceInfo};
use crate::espeak::EspeakEngine;
use crate::TtsError;

/// Engine name.
pub const ENGINE: &str = "piper";

fn err(reason: impl ToString) -> TtsError {
    TtsError::Engine {
        engine: ENGINE,
        reason: reason.to_string(),
    }
}

fn startup(reason: impl ToString) -> TtsError {
    TtsError::Startup {
        engine: ENGINE,
        reason: reason.to_string(),
    }
}

#[derive(serde::Deserialize)]
struct VoiceFile {
    audio: AudioSection,
    espeak: EspeakSection,
    inference: InferenceSection,
    phoneme_id_map: HashMap<String, Vec<i64>>,
}

#[derive(serde::Deserialize)]
struct AudioSection {
    sample_rate: u32,
}

#[derive(serde::Deserialize)]
struct EspeakSection {
    voice: String,
}

#[derive(serde::Deserialize)]
struct InferenceSection {
    noise_scale: f32,
    length_scale: f32,
    noise_w: f32,
}

/// A loaded Piper voice.
pub struct PiperVoice {
    name: String,
    language: String,
    gender: Gender,
    espeak: Arc<EspeakEngine>,
    espeak_voice: String,
    ids: HashMap<char, Vec<i64>>,
    sample_rate: u32,
    noise_scale: f32,
    length_scale: f32,
    noise_w: f32,
    free: Mutex<Vec<Session>>,
    returned: Condvar,
}

impl PiperVoice {
    /// Loads `model` (`.onnx`, with its `.onnx.json` beside it) into
    /// `sessions` single-threaded sessions. Blocking (about 0.3 s a session).
    pub fn load(
        name: &str,
        gender: Gender,
        model: &Path,
        onnxruntime: &Path,
        sessions: usize,
        espeak: Arc<EspeakEngine>,
    ) -> Result<Self, TtsError> {
        let json_path = model.with_extension("onnx.json");
        let json = std::fs::read_to_string(&json_path)
            .map_err(|e| startup(format!("{}: {e}", json_path.display())))?;
        let file: VoiceFile = serde_json::from_str(&json)
            .map_err(|e| startup(format!("{}: {e}", json_path.display())))?;
        let env = parla_audio::onnx::environment(onnxruntime).map_err(startup)?;
        let mut free = Vec::new();
        for _ in 0..sessions.max(1) {
            let session = Session::builder(&env)
                .and_then(|b| b.with_intra_threads(1).map_err(Into::into))
                .and_then(|mut b| b.commit_from_file(model))
                .map_err(|e| startup(format!("{}: {e}", model.display())))?;
            free.push(session);
        }
        let ids = file
            .phoneme_id_map
            .into_iter()
            .filter_map(|(k, v)| {
                let mut chars = k.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => Some((c, v)),
                    _ => None,
                }
            })
            .collect();
        let language = file
            .espeak
            .voice
            .split('-')
            .next()
            .unwrap_or("en")
            .to_owned();
        tracing::info!(voice = name, model = %model.display(), sessions = free.len(), "piper voice ready");
        Ok(Self {
            name: name.to_owned(),
            language,
            gender,
            espeak,
            espeak_voice: file.espeak.voice,
            ids,
            sample_rate: file.audio.sample_rate,
            noise_scale: file.inference.noise_scale,
            length_scale: file.inference.length_scale,
            noise_w: file.inference.noise_w,
            free: Mutex::new(free),
            returned: Condvar::new(),
        })
    }

    /// Phoneme ids: `^`, each phoneme followed by the pad, then `$`.
    fn phoneme_ids(&self, phonemes: &str) -> Vec<i64> {
        let pad = self
            .ids
            .get(&'_')
            .and_then(|v| v.first())
            .copied()
            .unwrap_or(0);
        let mut out = Vec::with_capacity(phonemes.len() * 2 + 3);
        out.extend(self.ids.get(&'^').into_iter().flatten());
        out.push(pad);
        for c in phonemes.chars() {
            if let Some(ids) = self.ids.get(&c) {
                out.extend(ids);
                out.push(pad);
            }
        }
        out.extend(self.ids.get(&'$').into_iter().flatten());
        out
    }

    fn run(&self, ids: Vec<i64>, length_scale: f32) -> Result<Vec<f32>, TtsError> {
        let mut session = {
            let mut free = self.free.lock().map_err(|_| err("session pool poisoned"))?;
            loop {
                if let Some(s) = free.pop() {
                    break s;
                }
                free = self
                    .returned
                    .wait(free)
                    .map_err(|_| err("session pool poisoned"))?;
            }
        };
        let n = ids.len();
        let result = (|| {
            let input = Tensor::from_array(([1usize, n], ids)).map_err(err)?;
            let lengths = Tensor::from_array(([1usize], vec![n as i64])).map_err(err)?;
            let scales =
                Tensor::from_array(([3usize], vec![self.noise_scale, length_scale, self.noise_w]))
                    .map_err(err)?;
            let outputs = session
                .run(ort::inputs!["input" => input, "input_lengths" => lengths, "scales" => scales])
                .map_err(err)?;
            let (_, audio) = outputs[0].try_extract_tensor::<f32>().map_err(err)?;
            Ok(audio.to_vec())
        })();
        if let Ok(mut free) = self.free.lock() {
            free.push(session);
            self.returned.notify_one();
        }
        result
    }
}

impl Synthesizer for PiperVoice {
    fn engine(&self) -> &'static str {
        ENGINE
    }

    fn voices(&self) -> Vec<VoiceInfo> {
        vec![VoiceInfo {
            name: self.name.clone(),
            language: self.language.clone(),
            gender: self.gender,
            engine: ENGINE,
            sample_rate: self.sample_rate,
        }]
    }

    fn speak(
        &self,
        voice: &str,
        text: &str,
        prosody: &Prosody,
        sink: &mut dyn FnMut(&[i16]),
    ) -> Result<(), TtsError> {
        if voice != self.name {
            return Err(TtsError::UnknownVoice {
                name: voice.to_owned(),
                available: self.name.clone(),
            });
        }
        let phonemes = self.espeak.phonemize(&self.espeak_voice, text)?;
        if phonemes.trim().is_empty() {
            return Ok(());
        }
        // Pitch shift by resampling: generate at a rate `pitch` times the
        // native one (longer by `pitch`), then play it back at the native
        // rate. The source rate is rounded to 50 Hz to keep the ratio small.
        let pitch = prosody.pitch.clamp(0.5, 2.0);
        let shifted_rate = ((self.sample_rate as f32 * pitch / 50.0).round() as u32 * 50).max(50);
        let pitch = shifted_rate as f32 / self.sample_rate as f32;
        let length_scale = self.length_scale / prosody.rate.clamp(0.25, 4.0) * pitch;
        let audio = self.run(self.phoneme_ids(&phonemes), length_scale)?;
        let audio = if shifted_rate != self.sample_rate {
            parla_audio::resample(&audio, shifted_rate, self.sample_rate).map_err(err)?
        } else {
            audio
        };
        // Piper's own output step: normalize the peak, then apply the volume.
        let peak = audio.iter().fold(0.01f32, |m, x| m.max(x.abs()));
        let gain = 0.9 * prosody.volume.clamp(0.0, 2.0) / peak;
        let pcm: Vec<i16> = audio
            .iter()
            .map(|x| (x * gain * 32767.0).clamp(-32768.0, 32767.0) as i16)
            .collect();
        sink(&pcm);
        Ok(())
    }
}
