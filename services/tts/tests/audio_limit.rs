//! `tts.max_audio_secs`: a request whose audio would run past the limit is
//! refused soon after it, with an error naming the setting. Its own test
//! binary, because it loads a voice bank with its own configuration and
//! eSpeak NG has one global state per process.

mod common;

use parla_tts::{Tone, TtsConfig, VoiceBank};

#[test]
fn audio_over_the_limit_is_refused_after_at_most_one_run() {
    let config = TtsConfig {
        max_audio_secs: 3,
        ..TtsConfig::default()
    };
    let bank = VoiceBank::load(&config, Some(&common::piper_files())).expect("voices load");
    let v = bank.resolve("en", "espeak-en").expect("voice").clone();
    let text = "Your parcel is on its way and will arrive tomorrow. ".repeat(8);
    let pieces = parla_tts::text::plan(&text, false, parla_tts::text::Lang::En).expect("plan");
    let mut samples = 0u64;
    let err = bank
        .speak(&v, Tone::Neutral, &pieces, &mut |p| {
            samples += p.len() as u64
        })
        .expect_err("about 20 s of speech is over a 3 s limit");
    assert!(err.to_string().contains("tts.max_audio_secs"), "{err}");
    let secs = samples as f64 / f64::from(v.info.sample_rate);
    // Stopped soon after the limit: at most one sentence and its pause more.
    assert!((3.0..9.0).contains(&secs), "{secs:.1} s produced");
}
