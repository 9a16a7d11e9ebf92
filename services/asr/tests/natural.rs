//! Natural caller speech, held out: the 64 lines of
//! `tests/data/natural_test.txt` (EN and IT, pauses of 250–700 ms inside
//! each turn, hesitations, answers to a question), spoken and sent through
//! a telephone line, run through the turn detector with the default
//! settings. Each line is one turn: the figures are how many lines were
//! cut before their last word, how soon after a cut the caller went on
//! (before an answer could be heard, the gateway merges the pieces) and
//! how soon after the last word the turn ended. The
//! corpus was written by someone who had not seen the detector and is
//! never edited; the defaults were chosen on `natural_dev.txt`
//! (`cargo bench -p parla-asr --bench endpointing`).

mod common;

use std::sync::Arc;

use common::natural::{corpus, detect, speak, summarize, Transcripts};
use parla_asr::{AsrConfig, AsrEngine, TurnSettings};

#[test]
#[ignore = "target not met on the held-out lines yet (2026-12-07: 87.5 % within 700 ms, a caller going on 448 ms after a cut; after the words chose their waits, English 84.4 % within 700 ms; ASR README, End of turn on natural speech)"]
fn natural_speech_ends_each_turn_once_and_soon() {
    let config = AsrConfig::default();
    let engine = Arc::new(AsrEngine::load(&common::paths(), &config).expect("engine"));
    let settings = TurnSettings::from(&config);
    let cache = Transcripts::default();
    let lines = corpus("natural_test.txt");
    let mut outcomes = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let spoken = speak(line, i);
        let o = detect(&engine, settings, line, &spoken, &cache);
        println!(
            "{:8} cuts {} (went on after {:?} ms) end {:>5} ms {:?} {:?}",
            line.id,
            o.cuts,
            o.resumed_after_ms,
            o.end_of_turn_ms.map_or(-1, i64::from),
            o.reason,
            o.texts
        );
        outcomes.push(o);
    }
    for lang in ["en", "it"] {
        let of: Vec<_> = lines
            .iter()
            .zip(&outcomes)
            .filter(|(l, _)| l.lang == lang)
            .map(|(_, o)| o.clone())
            .collect();
        println!("{lang}: {:?}", summarize(&of));
    }
    let all = summarize(&outcomes);
    println!("all: {all:?}");
    assert_eq!(all.lines, 64);
    // A cut is harmless when the caller's next words are detected before
    // any answer to the fragment can be heard: the gateway then takes the
    // turn back and answers the pieces as one (an answer needs the final,
    // the dialogue and the first synthesized audio, ~500 ms in English).
    assert!(
        all.longest_resume_ms <= 300,
        "a caller went on {} ms after a cut: its fragment could be answered alone",
        all.longest_resume_ms
    );
    assert!(
        all.within_700 >= 0.95,
        "only {:.1} % of the lines ended whole within 700 ms of their last word",
        all.within_700 * 100.0
    );
}
