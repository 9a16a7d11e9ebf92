//! The end-of-turn trade-off on natural caller speech (`cargo bench -p
//! parla-asr --bench endpointing`), on the development corpus
//! (`tests/data/natural_dev.txt`; `PARLA_CORPUS=natural_test.txt` for the
//! held-out one, to report, never to choose). By default it prints each
//! line's turns with the default settings, the figures per language, then
//! one table per wait the words choose (`unpunctuated_silence_ms`,
//! `fragment_silence_ms`, `dictation_silence_ms`), each swept with the
//! others at their defaults: the share of lines cut before their last
//! word against the end of turn. `PARLA_SWEEP=pair` sweeps
//! `min_endpoint_ms` against `complete_silence_ms` instead.
//! `PARLA_CORPUS_LANG=en` or `it` keeps one language; `PARLA_DETAIL=500,800`
//! prints each line's turns for one pair and stops.

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;

use common::natural::{corpus, detect, speak, summarize, Line, Outcome, Spoken, Transcripts};
use parla_asr::{AsrConfig, AsrEngine, TurnSettings};

/// The lines, spoken, and the models that judge them.
struct Bench {
    engine: Arc<AsrEngine>,
    lines: Vec<Line>,
    spoken: Vec<Spoken>,
    cache: Transcripts,
}

impl Bench {
    fn run(&self, config: &AsrConfig) -> Vec<Outcome> {
        let settings = TurnSettings::from(config);
        self.lines
            .iter()
            .zip(&self.spoken)
            .map(|(l, s)| detect(&self.engine, settings, l, s, &self.cache))
            .collect()
    }

    fn detail(&self, config: &AsrConfig) {
        let outcomes = self.run(config);
        for (l, o) in self.lines.iter().zip(&outcomes) {
            println!(
                "{} cuts {} resumed after {:?} end {:?} {:?} {:?}",
                l.id, o.cuts, o.resumed_after_ms, o.end_of_turn_ms, o.reason, o.texts
            );
        }
        for lang in ["en", "it"] {
            let of: Vec<_> = self
                .lines
                .iter()
                .zip(&outcomes)
                .filter(|(l, _)| l.lang == lang)
                .map(|(_, o)| o.clone())
                .collect();
            if !of.is_empty() {
                println!("{lang}: {:?}", summarize(&of));
            }
        }
        println!("all: {:?}", summarize(&outcomes));
    }
}

const COLUMNS: &str = "| lines cut | cuts | mean end of turn | last word's turn within 700 ms | longest wait after a cut | ended by max silence |";

fn row(outcomes: &[Outcome]) -> String {
    let s = summarize(outcomes);
    format!(
        "| {:.1} % ({}/{}) | {} | {:.0} ms | {:.1} % | {} ms | {} |",
        s.cut_lines as f64 * 100.0 / s.lines as f64,
        s.cut_lines,
        s.lines,
        s.cuts,
        s.mean_end_of_turn_ms,
        s.within_700 * 100.0,
        s.longest_resume_ms,
        s.timeouts
    )
}

fn main() {
    let file = std::env::var("PARLA_CORPUS").unwrap_or_else(|_| "natural_dev.txt".into());
    let only = std::env::var("PARLA_CORPUS_LANG").ok();
    let config = AsrConfig::default();
    let engine = Arc::new(AsrEngine::load(&common::paths(), &config).expect("engine"));
    let lines: Vec<_> = corpus(&file)
        .into_iter()
        .filter(|l| only.as_deref().is_none_or(|o| o == l.lang))
        .collect();
    let spoken: Vec<_> = lines.iter().enumerate().map(|(i, l)| speak(l, i)).collect();
    let bench = Bench {
        engine,
        lines,
        spoken,
        cache: Transcripts::default(),
    };
    println!(
        "{file}, {} lines; defaults min_endpoint_ms {} complete_silence_ms {} unpunctuated_silence_ms {} fragment_silence_ms {} dictation_silence_ms {}",
        bench.lines.len(),
        config.min_endpoint_ms,
        config.complete_silence_ms,
        config.unpunctuated_silence_ms,
        config.fragment_silence_ms,
        config.dictation_silence_ms,
    );
    if let Some((m, c)) = std::env::var("PARLA_DETAIL").ok().and_then(|v| {
        let (m, c) = v.split_once(',')?;
        Some((m.parse().ok()?, c.parse().ok()?))
    }) {
        bench.detail(&AsrConfig {
            min_endpoint_ms: m,
            complete_silence_ms: c,
            ..config.clone()
        });
        return;
    }
    if std::env::var("PARLA_SWEEP").is_ok_and(|v| v == "pair") {
        println!("| min_endpoint_ms | complete_silence_ms {COLUMNS}");
        println!("|---|---|---|---|---|---|---|---|");
        for min_endpoint_ms in [200, 300, 400, 500, 600, 700] {
            for complete_silence_ms in [400, 600, 800, 1000] {
                if complete_silence_ms < min_endpoint_ms {
                    continue;
                }
                let outcomes = bench.run(&AsrConfig {
                    min_endpoint_ms,
                    complete_silence_ms,
                    ..config.clone()
                });
                println!(
                    "| {min_endpoint_ms} | {complete_silence_ms} {}",
                    row(&outcomes)
                );
            }
        }
        return;
    }
    bench.detail(&config);
    type Key = fn(&mut AsrConfig, u32);
    let keys: [(&str, Key, &[u32]); 3] = [
        (
            "unpunctuated_silence_ms",
            |c, v| c.unpunctuated_silence_ms = v,
            &[600, 700, 800, 1000, 1500],
        ),
        (
            "fragment_silence_ms",
            |c, v| c.fragment_silence_ms = v,
            &[600, 800, 1000, 1200, 1500],
        ),
        (
            "dictation_silence_ms",
            |c, v| c.dictation_silence_ms = v,
            &[600, 700, 800, 900, 1000, 1500],
        ),
    ];
    for (name, set, values) in keys {
        println!();
        println!("| {name} {COLUMNS}");
        println!("|---|---|---|---|---|---|---|");
        for &v in values {
            let mut c = config.clone();
            set(&mut c, v);
            println!("| {v} {}", row(&bench.run(&c)));
        }
    }
}
