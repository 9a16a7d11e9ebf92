//! The end-of-turn trade-off on natural caller speech (`cargo bench -p
//! parla-asr --bench endpointing`): for each pair of `min_endpoint_ms`
//! and `complete_silence_ms`, the share of lines cut before their last
//! word against the mean end of turn, on the development corpus
//! (`tests/data/natural_dev.txt`; `PARLA_CORPUS=natural_test.txt` for the
//! held-out one, to report, never to choose). `PARLA_CORPUS_LANG=en` or
//! `it` keeps one language;
//! `PARLA_DETAIL=500,800` prints each line's turns for one pair.

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;

use common::natural::{corpus, detect, speak, summarize, Transcripts};
use parla_asr::{AsrConfig, AsrEngine, TurnSettings};

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
    let cache = Transcripts::default();
    println!(
        "{file}, {} lines; defaults min_endpoint_ms {} complete_silence_ms {}",
        lines.len(),
        config.min_endpoint_ms,
        config.complete_silence_ms
    );
    if let Some((m, c)) = std::env::var("PARLA_DETAIL").ok().and_then(|v| {
        let (m, c) = v.split_once(',')?;
        Some((m.parse().ok()?, c.parse().ok()?))
    }) {
        let settings = TurnSettings::from(&AsrConfig {
            min_endpoint_ms: m,
            complete_silence_ms: c,
            ..config.clone()
        });
        for (l, s) in lines.iter().zip(&spoken) {
            let o = detect(&engine, settings, l, s, &cache);
            println!(
                "{} cuts {} resumed after {:?} end {:?} {:?} {:?}",
                l.id, o.cuts, o.resumed_after_ms, o.end_of_turn_ms, o.reason, o.texts
            );
        }
        return;
    }
    println!("| min_endpoint_ms | complete_silence_ms | lines cut | cuts | mean end of turn | last word's turn within 700 ms | longest wait after a cut | ended by max silence |");
    println!("|---|---|---|---|---|---|---|---|");
    for min_endpoint in [200, 300, 400, 500, 600, 700] {
        for complete in [400, 600, 800, 1000] {
            if complete < min_endpoint {
                continue;
            }
            let settings = TurnSettings::from(&AsrConfig {
                min_endpoint_ms: min_endpoint,
                complete_silence_ms: complete,
                ..config.clone()
            });
            let outcomes: Vec<_> = lines
                .iter()
                .zip(&spoken)
                .map(|(l, s)| detect(&engine, settings, l, s, &cache))
                .collect();
            let s = summarize(&outcomes);
            println!(
                "| {min_endpoint} | {complete} | {:.1} % ({}/{}) | {} | {:.0} ms | {:.1} % | {} ms | {} |",
                s.cut_lines as f64 * 100.0 / s.lines as f64,
                s.cut_lines,
                s.lines,
                s.cuts,
                s.mean_end_of_turn_ms,
                s.within_700 * 100.0,
                s.longest_resume_ms,
                s.timeouts
            );
        }
    }
}
