//! Natural caller speech: the corpus in `tests/data/natural_*.txt` (one
//! caller turn a line, with the pauses inside it written `<ms>`), spoken
//! piece by piece (English with the Piper voice, Italian with Festival's
//! two diphone voices in turn) and joined with those silences, then sent
//! through a telephone line (8 kHz G.711 mu-law and back). Each line is
//! run through a real [`TurnDetector`] (Silero, Smart Turn, Whisper at
//! the pauses) to see where it ends: a turn that ends before the line's
//! last word is a cut, and the end of turn is measured from the end of
//! speech, in stream time.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use parla_asr::{
    AsrEngine, LanguageChoice, Pass, RecognitionRequest, Transcript, TurnDetector, TurnEnd,
    TurnEvent, TurnSettings,
};

use super::speech::{mulaw_8k, piper, silence, trim};

/// Silence before the caller speaks, in ms.
const LEAD_MS: usize = 400;
/// Silence after the caller's last word, in ms: longer than any
/// `max_silence_ms` measured.
const TAIL_MS: usize = 2500;

/// One caller turn of the corpus.
#[derive(Debug, Clone)]
pub struct Line {
    /// Its id (`en-t01`).
    pub id: String,
    /// `en` or `it`.
    pub lang: String,
    /// The agent had just asked the caller a question.
    pub answering: bool,
    /// What is said between pauses, and the pause after it (0 after the
    /// last piece), in ms.
    pub pieces: Vec<(String, u32)>,
}

impl Line {
    /// The words, without the pauses.
    pub fn text(&self) -> String {
        let words: Vec<&str> = self.pieces.iter().map(|(t, _)| t.as_str()).collect();
        words.join(" ")
    }
}

/// The lines of a corpus file (`natural_dev.txt`, `natural_test.txt`).
pub fn corpus(file: &str) -> Vec<Line> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(file);
    let text = std::fs::read_to_string(&path).expect("corpus file");
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let fields: Vec<&str> = l.splitn(4, '|').collect();
            assert_eq!(fields.len(), 4, "bad corpus line {l:?}");
            Line {
                id: fields[0].to_owned(),
                lang: fields[1].to_owned(),
                answering: fields[2] == "question",
                pieces: pieces(fields[3]),
            }
        })
        .collect()
}

fn pieces(text: &str) -> Vec<(String, u32)> {
    let mut out: Vec<(String, u32)> = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('<') {
        let close = rest[open..].find('>').expect("closed pause") + open;
        let pause: u32 = rest[open + 1..close].trim().parse().expect("pause in ms");
        let said = rest[..open].trim();
        if !said.is_empty() {
            out.push((said.to_owned(), pause));
        } else if let Some(last) = out.last_mut() {
            last.1 += pause;
        }
        rest = &rest[close + 1..];
    }
    if !rest.trim().is_empty() {
        out.push((rest.trim().to_owned(), 0));
    }
    out
}

/// A line as heard on the phone, at 16 kHz.
pub struct Spoken {
    /// The audio, silence before and after included.
    pub audio: Vec<f32>,
    /// Where the last word ends, in ms.
    pub speech_end_ms: u32,
}

/// Speaks `line`: each piece with its voice, the pauses as silence, the
/// whole through a mu-law telephone line. `index` picks the Italian voice
/// (even: `pc_diphone`, male; odd: `lp_diphone`, female).
pub fn speak(line: &Line, index: usize) -> Spoken {
    let mut audio = silence(LEAD_MS);
    for (said, pause) in &line.pieces {
        let voice = match line.lang.as_str() {
            "it" => trim(&festival(said, index % 2 == 1)),
            _ => trim(&piper(said)),
        };
        audio.extend_from_slice(&voice);
        audio.extend(silence(*pause as usize));
    }
    let speech_end_ms = (audio.len() / 16) as u32;
    audio.extend(silence(TAIL_MS));
    Spoken {
        audio: telephone(&audio),
        speech_end_ms,
    }
}

/// Through 8 kHz mu-law and back to 16 kHz, as a SIP call hears it.
pub fn telephone(audio: &[f32]) -> Vec<f32> {
    let line = parla_audio::mulaw_decode(&mulaw_8k(audio));
    let back =
        parla_audio::resample(&parla_audio::i16_to_f32(&line), 8_000, 16_000).expect("resample");
    back[..back.len().min(audio.len())].to_vec()
}

/// Italian speech from Festival (`text2wave`, Debian `festival` with
/// `festvox-itapc16k` / `festvox-italp16k`), 16 kHz. Its text must be
/// ISO-8859-1.
pub fn festival(text: &str, female: bool) -> Vec<f32> {
    parla_audio::festival::festival(text, female)
        .unwrap_or_else(|e| panic!("festival for {text:?}: {e}"))
}

/// Whisper's words for the audio given at a pause, shared between runs
/// of the same line (the pause's audio is the same whatever the settings
/// until they cut the line differently).
#[derive(Default, Clone)]
pub struct Transcripts(Arc<Mutex<HashMap<(String, usize), Transcript>>>);

/// How one line ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Turns that ended before the last word (the line was cut).
    pub cuts: usize,
    /// From the end of speech to the decision of the turn that holds the
    /// last word, in ms of stream time (None: no turn held it).
    pub end_of_turn_ms: Option<u32>,
    /// Why that turn ended.
    pub reason: Option<TurnEnd>,
    /// The transcripts at the pauses that ended turns, in order.
    pub texts: Vec<String>,
    /// For each cut, from the decision that ended it to the moment the
    /// caller's next words are detected (their start plus `min_speech_ms`),
    /// in ms of stream time (negative: the caller went on before
    /// the decision). The gateway merges a fragment when the caller goes
    /// on before any of its answer is heard, and an answer takes the
    /// recognizer's final, the dialogue and the first synthesized audio
    /// after the decision (about 500 ms in English on this machine).
    pub resumed_after_ms: Vec<i64>,
}

/// Runs `spoken` through a detector with `settings` on `engine`'s models
/// and recognizer, 20 ms at a time.
pub fn detect(
    engine: &Arc<AsrEngine>,
    settings: TurnSettings,
    line: &Line,
    spoken: &Spoken,
    cache: &Transcripts,
) -> Outcome {
    let language = LanguageChoice::Fixed(line.lang.clone());
    let (recognizer, cache, id) = (engine.recognizer.clone(), cache.clone(), line.id.clone());
    let mut detector = TurnDetector::new(engine.vad.clone(), engine.turn.clone(), settings)
        .with_transcriber(Box::new(move |audio: Arc<Vec<f32>>| {
            let key = (id.clone(), audio.len());
            if let Some(t) = cache.0.lock().expect("cache").get(&key) {
                return Some(t.clone());
            }
            let request = RecognitionRequest {
                audio,
                language: language.clone(),
                pass: Pass::Final,
            };
            let t = futures::executor::block_on(recognizer.recognize(request)).ok()?;
            cache.0.lock().expect("cache").insert(key, t.clone());
            Some(t)
        }));
    detector.set_answering(line.answering);
    let mut events = Vec::new();
    for chunk in spoken.audio.chunks(320) {
        events.extend(detector.push(chunk).expect("push"));
    }
    events.extend(detector.finish().expect("finish"));
    let mut outcome = Outcome {
        cuts: 0,
        end_of_turn_ms: None,
        reason: None,
        texts: Vec::new(),
        resumed_after_ms: Vec::new(),
    };
    let mut cut_end = None;
    // A turn whose speech ends more than a VAD frame and the hangover
    // before the last word is a cut.
    let last_word = spoken.speech_end_ms.saturating_sub(150);
    for e in events {
        if let (TurnEvent::SpeechStarted { offset_ms }, Some(decided)) = (&e, cut_end) {
            outcome
                .resumed_after_ms
                .push(i64::from(*offset_ms + settings.min_speech_ms) - i64::from(decided));
            cut_end = None;
        }
        if let TurnEvent::Ended {
            end_ms,
            decided_ms,
            reason,
            transcript,
            ..
        } = e
        {
            outcome
                .texts
                .push(transcript.map(|t| t.text).unwrap_or_default());
            if end_ms < last_word {
                outcome.cuts += 1;
                cut_end = Some(decided_ms);
            } else if outcome.end_of_turn_ms.is_none() {
                outcome.end_of_turn_ms = Some(decided_ms.saturating_sub(spoken.speech_end_ms));
                outcome.reason = Some(reason);
            }
        }
    }
    outcome
}

/// The figures of a corpus run.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Lines run.
    pub lines: usize,
    /// Lines cut at least once.
    pub cut_lines: usize,
    /// Cuts in all.
    pub cuts: usize,
    /// Mean end of turn of the turns holding the last word, in ms.
    pub mean_end_of_turn_ms: f64,
    /// Share of lines whose last word's turn ended within 700 ms of it
    /// (fragments before it merged).
    pub within_700: f64,
    /// The longest time a caller took to go on after the decision of a
    /// cut, in ms (0 without cuts).
    pub longest_resume_ms: i64,
    /// Lines whose turn ended only at the maximum silence.
    pub timeouts: usize,
}

/// Sums up outcomes.
pub fn summarize(outcomes: &[Outcome]) -> Summary {
    let ends: Vec<u32> = outcomes.iter().filter_map(|o| o.end_of_turn_ms).collect();
    let within = outcomes
        .iter()
        .filter(|o| o.end_of_turn_ms.is_some_and(|e| e <= 700))
        .count();
    Summary {
        lines: outcomes.len(),
        cut_lines: outcomes.iter().filter(|o| o.cuts > 0).count(),
        cuts: outcomes.iter().map(|o| o.cuts).sum(),
        mean_end_of_turn_ms: ends.iter().map(|&e| f64::from(e)).sum::<f64>()
            / ends.len().max(1) as f64,
        within_700: within as f64 / outcomes.len().max(1) as f64,
        longest_resume_ms: outcomes
            .iter()
            .flat_map(|o| o.resumed_after_ms.iter().copied())
            .max()
            .unwrap_or(0),
        timeouts: outcomes
            .iter()
            .filter(|o| o.reason == Some(TurnEnd::Timeout))
            .count(),
    }
}
