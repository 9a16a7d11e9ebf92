//! eSpeak NG through its C library, in synchronous mode with the PCM
//! callback.
//!
//! Concurrency: eSpeak NG keeps one global state per process (voice,
//! parameters, callback). All calls go through one engine thread fed by a
//! channel, so requests from any number of streams are serialized: one
//! utterance at a time, in arrival order. Audio reaches the caller while it
//! is produced (in pieces of `buffer_ms`), so a long utterance still starts
//! playing early; since eSpeak NG is far faster than real time (RTF about
//! 0.02 here), one thread serves dozens of live streams. The same thread
//! phonemizes text for the Piper voice.

mod ffi;

use std::ffi::{c_void, CStr, CString};
use std::os::raw::{c_int, c_short};
use std::sync::mpsc;
use std::thread;

use crate::engine::{Gender, Prosody, Synthesizer, VoiceInfo};
use crate::TtsError;

/// Engine name.
pub const ENGINE: &str = "espeak-ng";
const NORMAL_RATE_WPM: f32 = 175.0;

/// An eSpeak NG voice offered by Parla.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EspeakVoiceConfig {
    /// Name clients use ("espeak-it").
    pub name: String,
    /// Primary language subtag ("it").
    pub language: String,
    /// eSpeak NG voice, optionally with a variant ("it", "en-us+f3").
    pub espeak_voice: String,
    /// Presented gender.
    pub gender: Gender,
}

enum Job {
    Speak {
        espeak_voice: CString,
        text: CString,
        prosody: Prosody,
        audio: mpsc::Sender<Piece>,
    },
    Phonemize {
        espeak_voice: CString,
        text: String,
        reply: mpsc::Sender<Result<String, String>>,
    },
}

enum Piece {
    Pcm(Vec<i16>),
    Done(Result<(), String>),
}

/// The eSpeak NG engine: a handle to its thread.
pub struct EspeakEngine {
    jobs: mpsc::Sender<Job>,
    voices: Vec<EspeakVoiceConfig>,
    sample_rate: u32,
}

fn engine_err(reason: impl Into<String>) -> TtsError {
    TtsError::Engine {
        engine: ENGINE,
        reason: reason.into(),
    }
}

fn cstring(s: &str) -> Result<CString, TtsError> {
    CString::new(s.replace('\0', " ")).map_err(|e| engine_err(e.to_string()))
}

/// Called by eSpeak NG on the engine thread with each piece of audio.
unsafe extern "C" fn on_audio(wav: *mut c_short, n: c_int, events: *mut ffi::EspeakEvent) -> c_int {
    if events.is_null() || wav.is_null() || n <= 0 {
        return 0;
    }
    // SAFETY: eSpeak passes the user_data given to espeak_Synth in every
    // event; it points to the Sender owned by `run_speak`, alive for the call.
    let sender = unsafe { (*events).user_data as *const mpsc::Sender<Piece> };
    if sender.is_null() {
        return 0;
    }
    // SAFETY: eSpeak guarantees `n` samples at `wav`.
    let pcm = unsafe { std::slice::from_raw_parts(wav, n as usize) }.to_vec();
    // A closed receiver means the client went away: abort synthesis.
    match unsafe { (*sender).send(Piece::Pcm(pcm)) } {
        Ok(()) => 0,
        Err(_) => 1,
    }
}

impl EspeakEngine {
    /// Starts the engine thread and initializes eSpeak NG on it, checking
    /// that every configured voice exists.
    pub fn start(voices: Vec<EspeakVoiceConfig>, buffer_ms: u32) -> Result<Self, TtsError> {
        let (jobs, rx) = mpsc::channel::<Job>();
        let (ready_tx, ready_rx) = mpsc::channel::<Result<u32, String>>();
        let names: Vec<String> = voices.iter().map(|v| v.espeak_voice.clone()).collect();
        thread::Builder::new()
            .name("espeak-ng".into())
            .spawn(move || {
                // SAFETY: eSpeak NG is used from this thread only.
                let rate = unsafe {
                    ffi::espeak_Initialize(
                        ffi::AUDIO_OUTPUT_SYNCHRONOUS,
                        buffer_ms as c_int,
                        std::ptr::null(),
                        ffi::INITIALIZE_DONT_EXIT,
                    )
                };
                if rate <= 0 {
                    let _ = ready_tx.send(Err(
                        "espeak_Initialize failed (is espeak-ng-data installed?)".into(),
                    ));
                    return;
                }
                unsafe { ffi::espeak_SetSynthCallback(on_audio) };
                for name in &names {
                    let Ok(c) = CString::new(name.as_str()) else {
                        continue;
                    };
                    if unsafe { ffi::espeak_SetVoiceByName(c.as_ptr()) } != ffi::EE_OK {
                        let _ = ready_tx.send(Err(format!("eSpeak NG has no voice `{name}`")));
                        return;
                    }
                }
                let _ = ready_tx.send(Ok(rate as u32));
                for job in rx {
                    match job {
                        Job::Speak {
                            espeak_voice,
                            text,
                            prosody,
                            audio,
                        } => {
                            let result = run_speak(&espeak_voice, &text, &prosody, &audio);
                            let _ = audio.send(Piece::Done(result));
                        }
                        Job::Phonemize {
                            espeak_voice,
                            text,
                            reply,
                        } => {
                            let _ = reply.send(run_phonemize(&espeak_voice, &text));
                        }
                    }
                }
            })
            .map_err(|e| TtsError::Startup {
                engine: ENGINE,
                reason: e.to_string(),
            })?;
        let sample_rate = ready_rx
            .recv()
            .map_err(|_| TtsError::Startup {
                engine: ENGINE,
                reason: "engine thread died".into(),
            })?
            .map_err(|reason| TtsError::Startup {
                engine: ENGINE,
                reason,
            })?;
        tracing::info!(sample_rate, voices = voices.len(), "espeak-ng ready");
        Ok(Self {
            jobs,
            voices,
            sample_rate,
        })
    }

    /// Native sample rate (22,050 Hz for the standard voices).
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// IPA phonemes of `text` as eSpeak NG's `espeak_voice` says it, clause by
    /// clause, keeping clause punctuation (what Piper voices were trained on).
    pub fn phonemize(&self, espeak_voice: &str, text: &str) -> Result<String, TtsError> {
        let (reply, rx) = mpsc::channel();
        self.jobs
            .send(Job::Phonemize {
                espeak_voice: cstring(espeak_voice)?,
                text: text.to_owned(),
                reply,
            })
            .map_err(|_| engine_err("engine thread stopped"))?;
        rx.recv()
            .map_err(|_| engine_err("engine thread stopped"))?
            .map_err(engine_err)
    }
}

fn apply_prosody(p: &Prosody) {
    let rate = (NORMAL_RATE_WPM * p.rate).clamp(80.0, 450.0) as c_int;
    let pitch = (50.0 * p.pitch).clamp(0.0, 100.0) as c_int;
    let volume = (100.0 * p.volume).clamp(0.0, 200.0) as c_int;
    // SAFETY: plain parameter setters, engine thread only.
    unsafe {
        ffi::espeak_SetParameter(ffi::PARAM_RATE, rate, 0);
        ffi::espeak_SetParameter(ffi::PARAM_PITCH, pitch, 0);
        ffi::espeak_SetParameter(ffi::PARAM_VOLUME, volume, 0);
        ffi::espeak_SetParameter(ffi::PARAM_RANGE, 50, 0);
        ffi::espeak_SetParameter(ffi::PARAM_WORDGAP, 0, 0);
    }
}

fn run_speak(
    voice: &CStr,
    text: &CStr,
    prosody: &Prosody,
    audio: &mpsc::Sender<Piece>,
) -> Result<(), String> {
    // SAFETY: engine thread only; `text` is NUL-terminated and outlives the
    // synchronous call; `audio` outlives it too (see on_audio).
    unsafe {
        if ffi::espeak_SetVoiceByName(voice.as_ptr()) != ffi::EE_OK {
            return Err(format!("eSpeak NG has no voice {voice:?}"));
        }
        apply_prosody(prosody);
        let bytes = text.to_bytes_with_nul();
        let rc = ffi::espeak_Synth(
            bytes.as_ptr().cast(),
            bytes.len(),
            0,
            ffi::POS_CHARACTER,
            0,
            ffi::CHARS_UTF8 as u32,
            std::ptr::null_mut(),
            audio as *const mpsc::Sender<Piece> as *mut c_void,
        );
        if rc != ffi::EE_OK {
            return Err(format!("espeak_Synth returned {rc}"));
        }
    }
    Ok(())
}

/// Cuts `text` after each clause mark (`,` `;` `:`) that a space follows:
/// eSpeak NG's `espeak_TextToPhonemes` returns a whole sentence as one
/// clause and drops its commas, so clauses are phonemized one by one.
pub fn clauses(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if matches!(c, ',' | ';' | ':') && chars.peek().is_some_and(|(_, n)| n.is_whitespace()) {
            out.push(&text[start..i + 1]);
            start = i + 1;
        }
    }
    out.push(&text[start..]);
    out.into_iter().filter(|p| !p.trim().is_empty()).collect()
}

fn run_phonemize(voice: &CStr, text: &str) -> Result<String, String> {
    // SAFETY: engine thread only.
    if unsafe { ffi::espeak_SetVoiceByName(voice.as_ptr()) } != ffi::EE_OK {
        return Err(format!("eSpeak NG has no voice {voice:?}"));
    }
    let mut out = String::new();
    for clause in clauses(text) {
        out.push_str(&phonemize_clause(clause.trim())?);
        out.push(' ');
    }
    Ok(out.trim().to_owned())
}

/// Phonemizes one clause with the voice already set, keeping its final
/// punctuation.
fn phonemize_clause(text: &str) -> Result<String, String> {
    let c = CString::new(text.replace('\0', " ")).map_err(|e| e.to_string())?;
    let start = c.as_ptr();
    let total = c.as_bytes().len();
    let mut ptr: *const c_void = start.cast();
    let mut out = String::new();
    while !ptr.is_null() {
        let before = ptr as usize - start as usize;
        // SAFETY: ptr points into `c`; eSpeak advances it or sets it to NULL.
        let ph =
            unsafe { ffi::espeak_TextToPhonemes(&mut ptr, ffi::CHARS_UTF8, ffi::PHONEMES_IPA) };
        let after = if ptr.is_null() {
            total
        } else {
            ptr as usize - start as usize
        };
        if !ph.is_null() {
            let clause = unsafe { CStr::from_ptr(ph) }.to_string_lossy();
            out.push_str(clause.trim());
        }
        // eSpeak drops the clause's punctuation; Piper was trained with it.
        let consumed = &c.as_bytes()[before.min(after)..after];
        let punct = String::from_utf8_lossy(consumed)
            .trim_end()
            .chars()
            .last()
            .filter(|ch| matches!(ch, '.' | ',' | ';' | ':' | '!' | '?'));
        if let Some(p) = punct {
            out.push(p);
        }
        out.push(' ');
        if after <= before {
            break;
        }
    }
    Ok(out.trim().to_owned())
}

impl Synthesizer for EspeakEngine {
    fn engine(&self) -> &'static str {
        ENGINE
    }

    fn voices(&self) -> Vec<VoiceInfo> {
        self.voices
            .iter()
            .map(|v| VoiceInfo {
                name: v.name.clone(),
                language: v.language.clone(),
                gender: v.gender,
                engine: ENGINE,
                sample_rate: self.sample_rate,
            })
            .collect()
    }

    fn speak(
        &self,
        voice: &str,
        text: &str,
        prosody: &Prosody,
        sink: &mut dyn FnMut(&[i16]),
    ) -> Result<(), TtsError> {
        let cfg = self
            .voices
            .iter()
            .find(|v| v.name == voice)
            .ok_or_else(|| TtsError::UnknownVoice {
                name: voice.to_owned(),
                available: self
                    .voices
                    .iter()
                    .map(|v| v.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        let (audio, rx) = mpsc::channel();
        self.jobs
            .send(Job::Speak {
                espeak_voice: cstring(&cfg.espeak_voice)?,
                text: cstring(text)?,
                prosody: *prosody,
                audio,
            })
            .map_err(|_| engine_err("engine thread stopped"))?;
        for piece in rx {
            match piece {
                Piece::Pcm(pcm) => sink(&pcm),
                Piece::Done(result) => return result.map_err(engine_err),
            }
        }
        Err(engine_err("engine thread stopped"))
    }
}

/// The voices eSpeak NG offers by default: English and Italian, male and
/// female.
pub fn default_voices() -> Vec<EspeakVoiceConfig> {
    let v = |name: &str, language: &str, espeak_voice: &str, gender| EspeakVoiceConfig {
        name: name.into(),
        language: language.into(),
        espeak_voice: espeak_voice.into(),
        gender,
    };
    vec![
        v("espeak-en", "en", "en-us", Gender::Male),
        v("espeak-en-f", "en", "en-us+f3", Gender::Female),
        v("espeak-it", "it", "it", Gender::Male),
        v("espeak-it-f", "it", "it+f3", Gender::Female),
    ]
}

#[cfg(test)]
mod tests {
    use super::clauses;

    #[test]
    fn clauses_are_cut_after_marks_followed_by_a_space() {
        assert_eq!(
            clauses("I'm so sorry, your order is late; sorry."),
            vec!["I'm so sorry,", " your order is late;", " sorry."]
        );
        assert_eq!(clauses("12,50 euro"), vec!["12,50 euro"]);
        assert_eq!(clauses("end,"), vec!["end,"]);
    }
}
