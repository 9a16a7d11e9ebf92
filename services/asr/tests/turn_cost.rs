//! What a pause costs and decides, with the real VAD and Smart Turn and a
//! counting stand-in for Whisper (the transcriber is the seam under test,
//! so the test runs no speech recognition): each pause starts one pass at
//! `speculate_ms` of silence (a pass whose pause ends in new speech is
//! dropped); the pass of the pause that ends the turn is the final, without
//! a second one, whether the turn ends as complete or by silence; a
//! sentence Whisper closed ends the turn after `complete_silence_ms` even
//! when Smart Turn doubts it.

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
    // One pass per gap of `speculate_ms` (64 ms) or more: eSpeak leaves one
    // inside this sentence, whose pass is dropped when speech resumes.
    assert!((1..=2).contains(&passes), "{passes} passes");
}

#[test]
fn the_pass_of_the_last_pause_is_the_final_of_a_silence_end() {
    // Smart Turn scores the pause after "four five," high (0.93) and the
    // one after "seven two nine." low (0.01); the transcript's number
    // being dictated holds the turn at both for `dictation_silence_ms`
    // (longer than the 700 ms breath, whatever Smart Turn says), the turn
    // ends by that silence, and its final is the pass started at the last
    // pause.
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
    assert_eq!(pauses.len(), 2, "{pauses:?}");
    assert!(passes >= 2, "a pass at each pause: {passes}");
    assert_eq!(ended(&events), vec![(TurnEnd::Complete, true)]);
    let waited: Vec<u32> = events
        .iter()
        .filter_map(|e| match e {
            TurnEvent::Ended {
                end_ms, decided_ms, ..
            } => Some(decided_ms - end_ms),
            _ => None,
        })
        .collect();
    let wait = AsrConfig::default().dictation_silence_ms;
    assert!(
        waited.iter().all(|&w| (wait..wait + 32).contains(&w)),
        "ended {waited:?} ms after speech, not after {wait} ms"
    );
}

#[test]
fn a_closed_sentence_ends_the_turn_when_smart_turn_doubts_it() {
    // Smart Turn scores the end of this eSpeak sentence 0.03: only the
    // closed transcript ends the turn before `max_silence_ms`.
    let text = "Hello, I bought a blue jacket last week and I would like to return it please.";
    let audio = [silence(300), trim(&espeak(text, "en-us")), silence(2500)].concat();
    let (events, _) = detect(&audio, text);
    let waited: Vec<u32> = events
        .iter()
        .filter_map(|e| match e {
            TurnEvent::Ended {
                end_ms, decided_ms, ..
            } => Some(decided_ms - end_ms),
            _ => None,
        })
        .collect();
    println!(
        "turns {:?}, decided {waited:?} ms after speech",
        ended(&events)
    );
    assert_eq!(ended(&events), vec![(TurnEnd::Complete, true)]);
    let limit = AsrConfig::default().complete_silence_ms + 32;
    assert!(waited[0] <= limit, "decided {} ms after speech", waited[0]);
}
