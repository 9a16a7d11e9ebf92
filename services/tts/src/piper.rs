//! The Piper neural voice (VITS, ONNX), run with ONNX Runtime through `ort`.
//! Text is phonemized to IPA by eSpeak NG, mapped to ids with the voice's
//! `.onnx.json`, and the model returns 22,050 Hz float audio for a whole
//! sentence.
//!
//! Concurrency: `Session::run` needs exclusive access, so the voice keeps
//! `sessions` sessions (each with `threads` intra-op threads, 1 by default)
//! and a request takes a free one; with two sessions on two cores, two
//! sentences are synthesized at once. Each session runs once at load, so
//! the first caller does not pay ONNX Runtime's first-run setup.
//!
//! First audio: the model returns a whole run at once, so a sentence with
//! a clause break (`,`, `;`, `:`) is synthesized in two runs, the first
//! clause alone, and its audio is handed on before the rest is computed.
//! Pitch has no control in the model: it is raised or lowered by
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

/// How a Piper voice runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PiperSettings {
    /// ONNX sessions (sentences synthesized at once).
    pub sessions: usize,
    /// Intra-op threads of each session.
    pub threads: usize,
    /// Whether ONNX Runtime's intra-op threads spin while waiting for
    /// work (lower latency on an idle machine, burnt CPU on a busy one).
    pub spinning: bool,
    /// VITS noise scale (`None`: the voice's `.onnx.json`); 0 with
    /// `noise_w` 0 makes the audio the same on every run.
    pub noise_scale: Option<f32>,
    /// VITS duration noise (`None`: the voice's `.onnx.json`).
    pub noise_w: Option<f32>,
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
    /// `settings.sessions` sessions of `settings.threads` intra-op threads
    /// each, and runs each once. Blocking (about 0.5 s a session).
    pub fn load(
        name: &str,
        gender: Gender,
        model: &Path,
        onnxruntime: &Path,
        settings: PiperSettings,
        espeak: Arc<EspeakEngine>,
    ) -> Result<Self, TtsError> {
        let PiperSettings {
            sessions, threads, ..
        } = settings;
        let json_path = model.with_extension("onnx.json");
        let json = std::fs::read_to_string(&json_path)
            .map_err(|e| startup(format!("{}: {e}", json_path.display())))?;
        let file: VoiceFile = serde_json::from_str(&json)
            .map_err(|e| startup(format!("{}: {e}", json_path.display())))?;
        let env = parla_audio::onnx::environment(onnxruntime).map_err(startup)?;
        let mut free = Vec::new();
        for _ in 0..sessions.max(1) {
            let session = Session::builder(&env)
                .and_then(|b| b.with_intra_threads(threads.max(1)).map_err(Into::into))
                .and_then(|b| {
                    b.with_intra_op_spinning(settings.spinning)
                        .map_err(Into::into)
                })
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
        let voice = Self {
            name: name.to_owned(),
            language,
            gender,
            espeak,
            espeak_voice: file.espeak.voice,
            ids,
            sample_rate: file.audio.sample_rate,
            noise_scale: settings.noise_scale.unwrap_or(file.inference.noise_scale),
            length_scale: file.inference.length_scale,
            noise_w: settings.noise_w.unwrap_or(file.inference.noise_w),
            free: Mutex::new(Vec::new()),
            returned: Condvar::new(),
        };
        let count = free.len();
        let warm = voice.phoneme_ids("həlˈoʊ.");
        for mut session in free {
            run_session(&mut session, &voice, warm.clone(), voice.length_scale)
                .map_err(|e| startup(format!("warm-up run: {e}")))?;
            voice
                .free
                .lock()
                .map_err(|_| startup("session pool poisoned"))?
                .push(session);
        }
        tracing::info!(voice = name, model = %model.display(), sessions = count, threads, spinning = settings.spinning, "piper voice ready");
        Ok(voice)
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
        let result = run_session(&mut session, self, ids, length_scale);
        if let Ok(mut free) = self.free.lock() {
            free.push(session);
            self.returned.notify_one();
        }
        result
    }
}

/// One model run: phoneme ids in, 22,050 Hz float audio out.
fn run_session(
    session: &mut Session,
    voice: &PiperVoice,
    ids: Vec<i64>,
    length_scale: f32,
) -> Result<Vec<f32>, TtsError> {
    let n = ids.len();
    let input = Tensor::from_array(([1usize, n], ids)).map_err(err)?;
    let lengths = Tensor::from_array(([1usize], vec![n as i64])).map_err(err)?;
    let scales = Tensor::from_array((
        [3usize],
        vec![voice.noise_scale, length_scale, voice.noise_w],
    ))
    .map_err(err)?;
    let outputs = session
        .run(ort::inputs!["input" => input, "input_lengths" => lengths, "scales" => scales])
        .map_err(err)?;
    let (_, audio) = outputs[0].try_extract_tensor::<f32>().map_err(err)?;
    Ok(audio.to_vec())
}

/// Words a part of a sentence needs on each side of a clause break before
/// the sentence is synthesized in two runs.
const MIN_CLAUSE_WORDS: usize = 3;

/// Cuts a phonemized sentence after its first clause break (`,`, `;`,
/// `:`) when both sides have at least [`MIN_CLAUSE_WORDS`] words, so the
/// first clause can be heard while the rest is synthesized.
pub fn split_first_clause(phonemes: &str) -> (&str, &str) {
    let words = |s: &str| s.split_whitespace().count();
    for (i, c) in phonemes.char_indices() {
        if matches!(c, ',' | ';' | ':') {
            let (head, tail) = phonemes.split_at(i + c.len_utf8());
            if words(head) >= MIN_CLAUSE_WORDS && words(tail) >= MIN_CLAUSE_WORDS {
                return (head, tail.trim_start());
            }
            if words(head) >= MIN_CLAUSE_WORDS {
                break;
            }
        }
    }
    (phonemes, "")
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
        let (head, tail) = split_first_clause(&phonemes);
        // The first run's peak sets the gain of both, so the level does
        // not jump between the clauses.
        let mut gain = None;
        for part in [head, tail] {
            if part.trim().is_empty() {
                continue;
            }
            let audio = self.run(self.phoneme_ids(part), length_scale)?;
            let audio = if shifted_rate != self.sample_rate {
                parla_audio::resample(&audio, shifted_rate, self.sample_rate).map_err(err)?
            } else {
                audio
            };
            // Piper's own output step: normalize the peak (of the first
            // clause, so that the voice keeps one loudness), then apply
            // the volume; a louder later clause or a raised volume is
            // bent softly under -1 dBFS instead of clipping.
            let gain = *gain.get_or_insert_with(|| {
                let peak = audio.iter().fold(0.01f32, |m, x| m.max(x.abs()));
                PEAK * prosody.volume.clamp(0.0, 2.0) / peak
            });
            let pcm: Vec<i16> = audio
                .iter()
                .map(|x| (soft_limit(x * gain) * 32767.0) as i16)
                .collect();
            sink(&pcm);
        }
        Ok(())
    }
}

/// Peak of a clause at volume 1: -1.9 dBFS.
const PEAK: f32 = 0.8;
/// Headroom above `PEAK` that `soft_limit` bends into: no sample goes over
/// `PEAK + KNEE` = 0.88 (-1.1 dBFS), so telephone audio never clips.
const KNEE: f32 = 0.08;

/// `x` unchanged up to `PEAK`, then bent smoothly towards `PEAK + KNEE`.
fn soft_limit(x: f32) -> f32 {
    let a = x.abs();
    if a <= PEAK {
        return x;
    }
    (PEAK + KNEE * ((a - PEAK) / KNEE).tanh()).copysign(x)
}

#[cfg(test)]
mod limit_tests {
    use super::soft_limit;

    #[test]
    fn loud_samples_bend_under_minus_1_dbfs_and_quiet_ones_pass() {
        let minus_1_dbfs = 10f32.powf(-1.0 / 20.0);
        for x in [0.9f32, 1.0, 1.5, 3.0, 100.0] {
            for s in [x, -x] {
                let y = soft_limit(s);
                assert!(y.abs() < minus_1_dbfs, "{s} -> {y}");
                assert_eq!(y.signum(), s.signum());
            }
        }
        assert!(soft_limit(1.0) > soft_limit(0.9), "louder stays louder");
        for x in [0.0f32, 0.3, -0.5, 0.8] {
            assert_eq!(soft_limit(x), x);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::split_first_clause;

    #[test]
    fn first_clause_is_cut_when_both_sides_are_long_enough() {
        assert_eq!(
            split_first_clause("aɪv ɪʃuːd ə ɹɪfʌnd, wɪtʃ juː wɪl siː"),
            ("aɪv ɪʃuːd ə ɹɪfʌnd,", "wɪtʃ juː wɪl siː")
        );
        // Too short a head or tail: one run.
        assert_eq!(split_first_clause("jɛs, ʃʊɹ"), ("jɛs, ʃʊɹ", ""));
        assert_eq!(
            split_first_clause("aɪ æm sɒɹi tuː, juː"),
            ("aɪ æm sɒɹi tuː, juː", "")
        );
        assert_eq!(split_first_clause("nəʊ bɹeɪk hɪə"), ("nəʊ bɹeɪk hɪə", ""));
    }
}
