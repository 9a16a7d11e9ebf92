//! whisper.cpp through whisper-rs: loading a ggml model and turning one
//! decoding pass into a [`Transcript`] with word timestamps and a
//! confidence. Runs on the pool's worker threads only.

use std::path::{Path, PathBuf};
use std::time::Instant;

use whisper_rs::{
    FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters, WhisperState,
};

use crate::decoded_text::{loop_start, repeats, strip_non_speech};
use crate::recognizer::{Pass, Transcript, Word, SAMPLE_RATE};
use crate::AsrError;

/// Shortest input whisper.cpp decodes (it skips anything under 1 s).
const MIN_SAMPLES: usize = SAMPLE_RATE as usize * 21 / 20;

/// A loaded Whisper model, shared by the recognizer's worker threads.
pub struct WhisperModel {
    context: WhisperContext,
    path: PathBuf,
}

impl WhisperModel {
    /// Loads a whisper.cpp ggml model. Blocking: call it off the async
    /// runtime.
    pub fn load(path: &Path) -> Result<Self, AsrError> {
        // whisper.cpp and ggml log through tracing instead of writing to
        // standard error.
        static LOG_HOOKS: std::sync::Once = std::sync::Once::new();
        LOG_HOOKS.call_once(|| {
            whisper_rs::install_logging_hooks();
            // SAFETY: `whisper_log` has the callback's signature and reads
            // only the text whisper.cpp passes; it lives for the program.
            unsafe {
                whisper_rs::whisper_rs_sys::whisper_log_set(Some(whisper_log), std::ptr::null_mut())
            };
        });
        let started = Instant::now();
        let context = WhisperContext::new_with_params(path, WhisperContextParameters::default())
            .map_err(|e| AsrError::ModelLoad {
                path: path.to_owned(),
                reason: e.to_string(),
            })?;
        tracing::info!(
            model = %path.display(),
            multilingual = context.is_multilingual(),
            load_ms = started.elapsed().as_millis() as u64,
            "whisper model loaded"
        );
        Ok(Self {
            context,
            path: path.to_owned(),
        })
    }

    /// The whisper.cpp context, for creating decoding states.
    pub fn context(&self) -> &WhisperContext {
        &self.context
    }

    /// The model file it was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// True when the model knows more languages than English.
    pub fn is_multilingual(&self) -> bool {
        self.context.is_multilingual()
    }

    /// A decoding state for one worker.
    pub fn new_state(&self) -> Result<WhisperState, AsrError> {
        self.context
            .create_state()
            .map_err(|e| AsrError::ModelLoad {
                path: self.path.clone(),
                reason: format!("cannot create a decoding state: {e}"),
            })
    }
}

/// Settings of one decoding pass.
#[derive(Debug, Clone, Copy)]
pub struct DecodeSettings {
    /// CPU threads.
    pub threads: u32,
    /// No-speech probability above which a low-probability segment is
    /// dropped as non-speech.
    pub no_speech_threshold: f32,
    /// Beam width of final passes; 0 or 1 decodes greedily.
    pub beam_size: u32,
    /// Encoder window beyond the audio, in ms: the encoder runs on the
    /// audio's length plus this margin instead of Whisper's fixed 30 s
    /// (`audio_ctx`). `None` encodes the full 30 s window.
    pub encoder_margin_ms: Option<u32>,
}

/// Encoder positions Whisper has (30 s at 20 ms each).
const FULL_AUDIO_CTX: usize = 1500;

/// whisper.cpp's log lines, through tracing. A pass stopped by its abort
/// callback (a partial preempted by a final, a stream that has gone) makes
/// whisper.cpp log "failed to encode" / "failed to decode" as errors; the pool
/// reports those stops itself, so they are debug lines here. Model-loading
/// chatter (info) is debug too.
unsafe extern "C" fn whisper_log(
    level: whisper_rs::whisper_rs_sys::ggml_log_level,
    text: *const std::ffi::c_char,
    _user: *mut std::ffi::c_void,
) {
    use whisper_rs::whisper_rs_sys as sys;
    if text.is_null() {
        return;
    }
    // SAFETY: whisper.cpp passes a NUL-terminated string valid for the call.
    let text = unsafe { std::ffi::CStr::from_ptr(text) }.to_string_lossy();
    let text = text.trim();
    if text.is_empty() {
        return;
    }
    let stopped = text.contains("failed to encode") || text.contains("failed to decode");
    match level {
        sys::ggml_log_level_GGML_LOG_LEVEL_ERROR if !stopped => tracing::error!("{text}"),
        sys::ggml_log_level_GGML_LOG_LEVEL_WARN => tracing::warn!("{text}"),
        sys::ggml_log_level_GGML_LOG_LEVEL_ERROR | sys::ggml_log_level_GGML_LOG_LEVEL_INFO => {
            tracing::debug!("{text}")
        }
        _ => tracing::trace!("{text}"),
    }
}

/// Encoder positions for `samples` of 16 kHz audio plus `margin_ms`
/// (one position per 20 ms), capped at the full window.
pub fn audio_ctx(samples: usize, margin_ms: u32) -> usize {
    let per_position = SAMPLE_RATE as usize / 50;
    let positions = samples.div_ceil(per_position) + margin_ms as usize / 20;
    positions.min(FULL_AUDIO_CTX)
}

/// Detects the language of `audio` among `allowed` (BCP-47 primary tags)
/// with a multilingual model. Returns the tag and its probability.
pub fn detect_language(
    state: &mut WhisperState,
    audio: &[f32],
    allowed: &[String],
    threads: u32,
) -> Result<(String, f32), AsrError> {
    let padded = pad(audio);
    let fail = |e: whisper_rs::WhisperError| AsrError::Inference {
        engine: "whisper",
        reason: format!("language detection: {e}"),
    };
    state.pcm_to_mel(&padded, threads as usize).map_err(fail)?;
    let (_, probs) = state.lang_detect(0, threads as usize).map_err(fail)?;
    let best = allowed
        .iter()
        .filter_map(|tag| {
            let id = whisper_rs::get_lang_id(tag)?;
            Some((tag.clone(), probs.get(id as usize).copied().unwrap_or(0.0)))
        })
        .max_by(|a, b| a.1.total_cmp(&b.1));
    best.ok_or_else(|| AsrError::UnsupportedLanguage {
        language: "auto".into(),
        allowed: allowed.join(", "),
    })
}

/// Asks whether a running pass should stop (its caller has gone, or a
/// final needs the worker); checked by whisper.cpp between graph nodes.
pub type AbortCheck<'a> = &'a (dyn Fn() -> bool + Sync);

/// whisper.cpp's abort callback: `data` points at an [`AbortCheck`] that
/// lives on the decoding thread's stack for the whole pass.
unsafe extern "C" fn abort_requested(data: *mut std::ffi::c_void) -> bool {
    // SAFETY: `decode` passes a pointer to its `AbortCheck`, which outlives
    // the `state.full` call during which whisper.cpp calls this.
    let check = unsafe { &*(data as *const AbortCheck<'_>) };
    check()
}

/// Runs one decoding pass of `audio` (16 kHz mono) in `language`; stops
/// with [`AsrError::Aborted`] as soon as `abort` says so.
pub fn decode(
    state: &mut WhisperState,
    audio: &[f32],
    language: &str,
    pass: Pass,
    settings: DecodeSettings,
    abort: AbortCheck<'_>,
) -> Result<Transcript, AsrError> {
    let started = Instant::now();
    let audio_ms = (audio.len() as u64 * 1000 / SAMPLE_RATE as u64) as u32;
    let padded = pad(audio);
    let strategy = if pass == Pass::Final && settings.beam_size > 1 {
        SamplingStrategy::BeamSearch {
            beam_size: settings.beam_size as i32,
            patience: -1.0,
        }
    } else {
        SamplingStrategy::Greedy { best_of: 1 }
    };
    let mut params = FullParams::new(strategy);
    params.set_n_threads(settings.threads as i32);
    params.set_language(Some(language));
    params.set_translate(false);
    params.set_no_context(true);
    params.set_print_special(false);
    params.set_print_progress(false);
    params.set_print_realtime(false);
    params.set_print_timestamps(false);
    params.set_suppress_blank(true);
    // Non-speech tokens ("[Music]", "(laughs)") are where hallucinations
    // on noise start.
    params.set_suppress_nst(true);
    params.set_no_speech_thold(settings.no_speech_threshold);
    params.set_token_timestamps(pass == Pass::Final);
    // No temperature fallback: on a loaded CPU its re-decodes multiply the
    // latency (measured: minutes for 5 s of Italian); the beam does better.
    params.set_temperature_inc(0.0);
    if pass == Pass::Partial {
        // A hypothesis: one segment, no timestamp tokens to decode, and no
        // more tokens than the audio can hold, so a pass caught in a loop
        // ("and so and so ...") ends in milliseconds instead of running to
        // the context's end (measured: 94 s for 716 ms on a loaded CPU).
        params.set_single_segment(true);
        params.set_no_timestamps(true);
        params.set_max_tokens(partial_token_cap(audio_ms));
    }
    if let Some(margin) = settings.encoder_margin_ms {
        params.set_audio_ctx(audio_ctx(padded.len(), margin) as i32);
    }
    let check: AbortCheck<'_> = abort;
    // SAFETY: `check` lives until the end of this function, after
    // `state.full` (the only caller of the callback) has returned.
    unsafe {
        params.set_abort_callback(Some(abort_requested));
        params
            .set_abort_callback_user_data(&check as *const AbortCheck<'_> as *mut std::ffi::c_void);
    }
    let outcome = state.full(params, &padded);
    if abort() {
        return Err(AsrError::Aborted);
    }
    outcome.map_err(|e| AsrError::Inference {
        engine: "whisper",
        reason: e.to_string(),
    })?;
    let mut transcript = collect(state, language, settings.no_speech_threshold, audio_ms);
    // A final caught in a repetition loop ("$120. $20. $20. ..." on 8 kHz
    // audio, a sentence said twice) is decoded once more over Whisper's
    // full 30 s window with a beam, which do not loop on that audio.
    if pass == Pass::Final && settings.encoder_margin_ms.is_some() && repeats(&transcript.text) {
        tracing::debug!(
            words = transcript.text.split_whitespace().count(),
            "repetition loop: decoding again (full window, beam)"
        );
        let again = DecodeSettings {
            encoder_margin_ms: None,
            beam_size: settings.beam_size.max(REPEAT_BEAM),
            ..settings
        };
        return decode(state, audio, language, pass, again, abort);
    }
    // A partial in a loop ("and so my fellow and so my fellow ..." at the
    // cut end of the audio, "Wait. Wait. Wait. Wait.") keeps its first round,
    // which is usually what was said, scored by that round's words alone: a
    // loop's repeats are near-certain tokens that would lift a doubtful
    // first word ("Hello?" heard in a short "Mm-hmm").
    if pass == Pass::Partial {
        if let Some(end) = loop_start(&transcript.text) {
            tracing::debug!(
                words = transcript.text.split_whitespace().count(),
                "partial in a repetition loop: first round kept"
            );
            let round = &transcript.words[..end.min(transcript.words.len())];
            if !round.is_empty() {
                transcript.confidence =
                    mean(&round.iter().map(|w| w.confidence).collect::<Vec<_>>());
            }
            transcript.text = transcript
                .text
                .split_whitespace()
                .take(end)
                .collect::<Vec<_>>()
                .join(" ");
            transcript.words.clear();
        }
    }
    transcript.processing_ms = started.elapsed().as_millis() as u32;
    Ok(transcript)
}

/// Most tokens a partial of `audio_ms` may decode: 8 a second and 4 more
/// (English speech runs at about 4 tokens a second).
fn partial_token_cap(audio_ms: u32) -> i32 {
    (4 + audio_ms as u64 * PARTIAL_TOKENS_PER_SECOND / 1000).min(i32::MAX as u64) as i32
}

/// See [`partial_token_cap`].
const PARTIAL_TOKENS_PER_SECOND: u64 = 8;

/// Beam of the second pass of a final that looped.
const REPEAT_BEAM: u32 = 5;

/// Pads short audio with trailing silence to what whisper.cpp decodes.
fn pad(audio: &[f32]) -> Vec<f32> {
    let mut padded = audio.to_vec();
    if padded.len() < MIN_SAMPLES {
        padded.resize(MIN_SAMPLES, 0.0);
    }
    padded
}

/// Builds the transcript from the state's segments, dropping segments
/// Whisper itself judges to be non-speech.
fn collect(
    state: &WhisperState,
    language: &str,
    no_speech_threshold: f32,
    audio_ms: u32,
) -> Transcript {
    let mut words: Vec<Word> = Vec::new();
    let mut word_probs: Vec<f32> = Vec::new();
    let mut log_prob_sum = 0.0f64;
    let mut token_count = 0usize;
    let mut max_no_speech = 0.0f32;
    for segment in state.as_iter() {
        let no_speech = segment.no_speech_probability();
        let mut seg_tokens: Vec<(String, f32, i64, i64)> = Vec::new();
        for i in 0..segment.n_tokens() {
            let Some(token) = segment.get_token(i) else {
                continue;
            };
            let data = token.token_data();
            let Ok(text) = token.to_str_lossy() else {
                continue;
            };
            // Special tokens ([_BEG_], <|endoftext|>, timestamps) are
            // bracketed; they carry no text.
            if text.starts_with("[_") || text.starts_with("<|") {
                continue;
            }
            seg_tokens.push((text.into_owned(), data.p, data.t0, data.t1));
        }
        if seg_tokens.is_empty() {
            continue;
        }
        let seg_logprob = seg_tokens
            .iter()
            .map(|t| (t.1.max(1e-6) as f64).ln())
            .sum::<f64>()
            / seg_tokens.len() as f64;
        // OpenAI's rule: a segment both likely silent and decoded with low
        // probability is not speech.
        if no_speech > no_speech_threshold && seg_logprob < -1.0 {
            tracing::debug!(no_speech, seg_logprob, "segment dropped as non-speech");
            continue;
        }
        max_no_speech = max_no_speech.max(no_speech);
        for (text, p, t0, t1) in seg_tokens {
            log_prob_sum += (p.max(1e-6) as f64).ln();
            token_count += 1;
            let starts_word = text.starts_with(' ') || words.is_empty();
            let (start_ms, end_ms) = ((t0.max(0) * 10) as u32, (t1.max(0) * 10) as u32);
            if starts_word {
                if let (Some(last), false) = (words.last_mut(), word_probs.is_empty()) {
                    last.confidence = mean(&word_probs);
                }
                word_probs.clear();
                words.push(Word {
                    text: text.trim_start().to_owned(),
                    start_ms,
                    end_ms,
                    confidence: 0.0,
                });
            } else if let Some(last) = words.last_mut() {
                last.text.push_str(&text);
                last.end_ms = end_ms.max(last.end_ms);
            }
            word_probs.push(p);
        }
        if let (Some(last), false) = (words.last_mut(), word_probs.is_empty()) {
            last.confidence = mean(&word_probs);
        }
        word_probs.clear();
    }
    words.retain(|w| !w.text.trim().is_empty());
    let text = words
        .iter()
        .map(|w| w.text.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    let text = strip_non_speech(&text);
    if text.is_empty() {
        let mut silent = Transcript::silence(language, audio_ms);
        silent.no_speech_probability = max_no_speech.max(0.5);
        return silent;
    }
    let token_confidence = (log_prob_sum / token_count.max(1) as f64).exp() as f32;
    Transcript {
        text,
        words,
        language: language.to_owned(),
        confidence: (token_confidence * (1.0 - max_no_speech)).clamp(0.0, 1.0),
        no_speech_probability: max_no_speech,
        audio_ms,
        processing_ms: 0,
    }
}

fn mean(values: &[f32]) -> f32 {
    values.iter().sum::<f32>() / values.len().max(1) as f32
}

#[cfg(test)]
mod tests {
    #[test]
    fn partials_decode_no_more_tokens_than_the_audio_holds() {
        assert_eq!(super::partial_token_cap(716), 9);
        assert_eq!(super::partial_token_cap(10_000), 84);
        assert_eq!(super::partial_token_cap(0), 4);
    }
}
