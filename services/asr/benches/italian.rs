//! Italian finals: accuracy against speed (`cargo bench -p parla-asr
//! --bench italian`). The Italian support phrases (`tests/common/phrases.rs`)
//! are spoken by both Festival diphone voices (`pc_diphone`, male;
//! `lp_diphone`, female), sent through an 8 kHz mu-law telephone line and
//! padded with 300 ms of silence on either side, as in the recognition
//! test. For each multilingual encoder margin and beam width it prints the
//! corpus WER (per voice and both) and the time per final: for each
//! utterance the median of its runs, then the median and the longest over
//! utterances. The settings take turns within each run, so a process
//! loading the CPU meanwhile slows all of them alike.
//!
//! `PARLA_IT_MARGINS=0,3000` and `PARLA_IT_BEAMS=1,5` choose the settings
//! (default: 0, 2000, 3000, 5000, 7000 × 1, 5), `PARLA_IT_RUNS` the runs
//! (default 3), `PARLA_IT_WIDEBAND=1` skips the telephone line,
//! `PARLA_IT_TEXTS=1` prints every transcript.

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::Instant;

use common::natural::{festival, telephone};
use common::phrases::ITALIAN;
use common::speech::{silence, trim};
use parla_asr::{
    AsrConfig, LanguageChoice, Models, Pass, PoolSettings, RecognitionRequest, Recognizer,
    WhisperModel, WhisperPool,
};
use parla_text::Lang;

/// One phrase as one voice says it.
struct Utterance {
    phrase: &'static str,
    female: bool,
    audio: Arc<Vec<f32>>,
}

/// One setting under test and what it gave.
struct Setting {
    margin_ms: u32,
    beam: u32,
    pool: WhisperPool,
    /// Per utterance: the text of the first run and the time of each run.
    texts: Vec<String>,
    times_ms: Vec<Vec<f64>>,
}

fn list(var: &str, default: &[u32]) -> Vec<u32> {
    std::env::var(var).map_or_else(
        |_| default.to_vec(),
        |v| {
            v.split(',')
                .map(|s| s.trim().parse().expect("comma-separated numbers"))
                .collect()
        },
    )
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn main() {
    let margins = list("PARLA_IT_MARGINS", &[0, 2000, 3000, 5000, 7000]);
    let beams = list("PARLA_IT_BEAMS", &[1, 5]);
    let runs: usize = std::env::var("PARLA_IT_RUNS").map_or(3, |v| v.parse().expect("runs"));
    let wideband = std::env::var("PARLA_IT_WIDEBAND").is_ok_and(|v| v == "1");

    let utterances: Vec<Utterance> = ITALIAN
        .iter()
        .flat_map(|&phrase| [false, true].map(|female| (phrase, female)))
        .map(|(phrase, female)| {
            let speech = trim(&festival(phrase, female));
            let speech = if wideband { speech } else { telephone(&speech) };
            let audio = [silence(300), speech, silence(300)].concat();
            Utterance {
                phrase,
                female,
                audio: Arc::new(audio),
            }
        })
        .collect();
    let seconds: Vec<f64> = utterances
        .iter()
        .map(|u| u.audio.len() as f64 / 16_000.0)
        .collect();

    let config = AsrConfig::default();
    let base = Arc::new(
        WhisperModel::load(&common::paths().model_multilingual.expect("whisper-base"))
            .expect("base loads"),
    );
    let mut settings: Vec<Setting> = margins
        .iter()
        .flat_map(|&m| beams.iter().map(move |&b| (m, b)))
        .map(|(margin_ms, beam)| {
            let pool = WhisperPool::start(
                Models {
                    english: None,
                    multilingual: Some(Arc::clone(&base)),
                },
                PoolSettings {
                    workers: 1,
                    threads: config.threads,
                    queue_depth: config.queue_depth,
                    job_deadline_ms: config.job_deadline_ms,
                    languages: vec!["it".into()],
                    no_speech_threshold: config.no_speech_threshold,
                    beam_size_multilingual: beam,
                    encoder_margin_ms: config.encoder_margin_ms,
                    partial_encoder_margin_ms: config.partial_encoder_margin_ms,
                    multilingual_encoder_margin_ms: margin_ms,
                },
            )
            .expect("pool starts");
            Setting {
                margin_ms,
                beam,
                pool,
                texts: Vec::new(),
                times_ms: vec![Vec::new(); utterances.len()],
            }
        })
        .collect();

    let started = Instant::now();
    for run in 0..runs {
        for (i, u) in utterances.iter().enumerate() {
            for s in &mut settings {
                let request = RecognitionRequest {
                    audio: Arc::clone(&u.audio),
                    language: LanguageChoice::Fixed("it".into()),
                    pass: Pass::Final,
                };
                let t0 = Instant::now();
                let transcript =
                    futures::executor::block_on(s.pool.recognize(request)).expect("recognize");
                s.times_ms[i].push(t0.elapsed().as_secs_f64() * 1000.0);
                if run == 0 {
                    s.texts.push(transcript.text);
                }
            }
        }
        println!(
            "\nafter run {} of {runs} ({:.0} s):",
            run + 1,
            started.elapsed().as_secs_f64()
        );
        print_table(&settings, &utterances, &seconds, run + 1, wideband);
        if run == 0 && std::env::var("PARLA_IT_TEXTS").is_ok_and(|v| v == "1") {
            for s in &settings {
                for (u, t) in utterances.iter().zip(&s.texts) {
                    let voice = if u.female { "lp" } else { "pc" };
                    println!("{} {} {voice} {:?} -> {t:?}", s.margin_ms, s.beam, u.phrase);
                }
            }
        }
    }
}

/// Prints the figures so far: WER of the first run, times of `runs` runs.
fn print_table(
    settings: &[Setting],
    utterances: &[Utterance],
    seconds: &[f64],
    runs: usize,
    wideband: bool,
) {
    let threads = AsrConfig::default().threads;
    let line = if wideband { "16 kHz" } else { "8 kHz mu-law" };
    println!(
        "Italian phrases: {} × 2 Festival voices ({line}), {} words a voice, {:.1}–{:.1} s each; \
     whisper-base, threads {}, workers 1; time per final: median of {runs} runs per utterance",
        ITALIAN.len(),
        ITALIAN
            .iter()
            .map(|p| common::wer::edits(p, p, Lang::It).1)
            .sum::<usize>(),
        seconds.iter().copied().fold(f64::INFINITY, f64::min),
        seconds.iter().copied().fold(0.0, f64::max),
        threads,
    );
    println!("| margin ms | beam | WER pc (male) | WER lp (female) | WER both | final, median | final, longest |");
    println!("|---|---|---|---|---|---|---|");
    for s in settings {
        let wer_of = |voice: Option<bool>| {
            let pairs = utterances
                .iter()
                .zip(&s.texts)
                .filter(|(u, _)| voice.is_none_or(|f| u.female == f))
                .map(|(u, t)| (u.phrase, t.as_str()));
            common::wer::corpus_wer(pairs, Lang::It) * 100.0
        };
        let per_utterance: Vec<f64> = s.times_ms.iter().map(|t| median(t.clone())).collect();
        println!(
            "| {} | {} | {:.1} % | {:.1} % | {:.1} % | {:.0} ms | {:.0} ms |",
            s.margin_ms,
            s.beam,
            wer_of(Some(false)),
            wer_of(Some(true)),
            wer_of(None),
            median(per_utterance.clone()),
            per_utterance.iter().copied().fold(0.0, f64::max),
        );
    }
}
