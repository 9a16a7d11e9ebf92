//! What a pause costs, with the real VAD and Smart Turn and a counting
//! stand-in for Whisper (the transcriber is the seam under test, so the
//! test runs no speech recognition): Smart Turn runs first and a pause it
//! finds implausible costs no Whisper pass; a pass made at the pause that
//! ends the turn is the final, without a second one.

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use common::speech::{espeak, silence, trim};
use parla_asr::{
    environment, AsrConfig, SileroVad, SmartTurn, Transcript, TurnDetector, TurnEnd, TurnEvent,
    TurnSettings,
};

/// Runs `audio` through a detector whose transcriber answers `text` and
/// counts its calls; returns the events and the count.
fn detect(audio: &[f32], text: &'static str) -> (Vec<TurnEvent>, u32) {
    let paths = common::paths();
    let env = environment(&paths.onnxruntime).expect("onnxruntime");
    let vad = Arc::new(SileroVad::load(&env, &paths.vad).expect("vad"));
    let turn = Arc::new(SmartTurn::load(&env, &paths.turn, 1).expect("smart turn"));
    let calls = Arc::new(AtomicU32::new(0));
    let counter = calls.clone();
    let mut detector = TurnDetector::new(vad, turn, TurnSettings::from(&AsrConfig::default()))
        .with_transcriber(Box::new(move |audio: Arc<Vec<f32>>| {
            counter.fetch_add(1, Ordering::SeqCst);
            Some(Transcript {
                text: text.into(),
                language: "en".into(),
                confidence: 0.9,
                audio_ms: (audio.len() / 16) as u32,
                ..Transcript::default()
            })
        }));
    let mut events = Vec::new();
    for chunk in audio.chunks(320) {
        events.extend(detector.push(chunk).expect("push"));
    }
    events.extend(detector.finish().expect("finish"));
    assert_eq!(detector.pause_passes(), calls.load(Ordering::SeqCst));
    (events, calls.load(Ordering::SeqCst))
}

fn ended(events: &[TurnEvent]) -> Vec<(TurnEnd, bool)> {
    events
        .iter()
        .filter_map(|e| match e {
            TurnEvent::Ended {
                reason, transcript, ..
            } => Some((*reason, transcript.is_some())),
            _ => None,
        })
        .collect()
}

#[test]
fn the_pass_at_the_final_pause_is_the_final() {
    let text = "I want to return the jacket I bought last week.";
    let audio = [silence(300), trim(&espeak(text, "en-us")), silence(2500)].concat();
    let (events, passes) = detect(&audio, text);
    println!("passes {passes}, turns {:?}", ended(&events));
    assert_eq!(ended(&events), vec![(TurnEnd::Complete, true)]);
    assert_eq!(passes, 1, "one Whisper pass for the whole turn");
}

#[test]
fn an_implausible_pause_costs_no_pass() {
    // Smart Turn scores the pause after "four five," high (0.93) and the
    // one after "seven two nine." low (0.01): the first is decoded (and the
    // dangling number keeps the turn open), the second is not, and the
    // turn ends by silence with the final still to decode.
    let first = trim(&espeak("My order number is four five,", "en-us"));
    let second = trim(&espeak("seven two nine.", "en-us"));
    let audio = [silence(300), first, silence(700), second, silence(2500)].concat();
    let (events, passes) = detect(&audio, "My order number is 45.");
    let pauses: Vec<f32> = events
        .iter()
        .filter_map(|e| match e {
            TurnEvent::SpeechEnded { probability, .. } => Some(*probability),
            _ => None,
        })
        .collect();
    println!(
        "pauses {pauses:?}, passes {passes}, turns {:?}",
        ended(&events)
    );
    let plausible = pauses.iter().filter(|p| **p >= 0.3).count() as u32;
    assert_eq!(passes, plausible, "a pass only where Smart Turn >= 0.3");
    assert!(passes < pauses.len() as u32, "{pauses:?}");
    assert_eq!(ended(&events).len(), 1);
}
