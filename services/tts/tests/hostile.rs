//! Requests an attacker or a careless integrator could send, against the
//! real voices behind the gRPC service on 127.0.0.1:0, with the limits at
//! their defaults: a 400-word sentence with no full stop and a say-as of
//! thousands of digits (`audio_limit.rs`: audio over its limit). Each
//! must get a clear status (or its audio) without taking the process's
//! memory up by more than the bound printed here.

mod common;

use std::time::Instant;

use parla_proto::v1 as pb;

/// Most the process's resident memory may grow while serving one hostile
/// request (one run of 4,900 phonemes used to take gigabytes).
const RSS_GROWTH_BOUND_MIB: u64 = 600;

/// This process's resident set (VmRSS), in MiB.
fn rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS in /proc/self/status");
    kib / 1024
}

fn request(text: String, ssml: bool) -> pb::SynthesizeRequest {
    pb::SynthesizeRequest {
        text,
        config: Some(pb::SynthesisConfig {
            language: "en".into(),
            voice: "joe".into(),
            tone: pb::Tone::Neutral as i32,
            output_format: Some(pb::AudioFormat {
                encoding: pb::AudioEncoding::Mulaw as i32,
                sample_rate_hz: 8000,
            }),
            ssml,
        }),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_synthesis_requests_are_bounded() {
    let mut c = common::client().await;
    // Warm up: the voice's first run allocates its buffers.
    c.synthesize(request("Hello there.".into(), false))
        .await
        .expect("a short sentence is spoken");
    let base = rss_mib();

    // 400 words with no punctuation: spoken whole, in bounded runs.
    let words = [
        "the", "parcel", "was", "left", "at", "the", "door", "and", "nobody", "told", "me",
    ];
    let long: Vec<&str> = words.iter().cycle().take(400).copied().collect();
    let started = Instant::now();
    let r = c
        .synthesize(request(long.join(" "), false))
        .await
        .expect("400 unpunctuated words are spoken")
        .into_inner();
    let long_rss = rss_mib();
    println!(
        "400 words, no full stop: {} ms of audio in {} ms; RSS {} -> {} MiB",
        r.audio_ms,
        started.elapsed().as_millis(),
        base,
        long_rss
    );
    // About 0.3 s a word at least: every word was said, none dropped.
    assert!(r.audio_ms > 400 * 250, "{} ms", r.audio_ms);
    assert!(
        long_rss.saturating_sub(base) < RSS_GROWTH_BOUND_MIB,
        "RSS grew {} MiB (bound {RSS_GROWTH_BOUND_MIB})",
        long_rss - base
    );

    // Thousands of digits read one by one: refused before any synthesis.
    let digits = "4".repeat(4900);
    let started = Instant::now();
    let status = c
        .synthesize(request(
            format!(r#"<speak><say-as interpret-as="digits">{digits}</say-as></speak>"#),
            true,
        ))
        .await
        .expect_err("4,900 digits read out exceed the expansion limit");
    let digits_rss = rss_mib();
    println!(
        "say-as of 4,900 digits: {:?} in {} ms; RSS {} MiB",
        status.code(),
        started.elapsed().as_millis(),
        digits_rss
    );
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(
        status.message().contains("tts.max_text_chars"),
        "{}",
        status.message()
    );
    assert!(digits_rss.saturating_sub(base) < RSS_GROWTH_BOUND_MIB);

    // The service still answers.
    let r = c
        .synthesize(request("Still here.".into(), false))
        .await
        .expect("the service still speaks")
        .into_inner();
    assert!(r.audio_ms > 300);
}
