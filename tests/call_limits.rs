//! Silences and time limits of voice calls through the real binary: a
//! silent caller is prompted once, then the call is closed politely; a call
//! that reaches the maximum duration is closed with a goodbye; after the
//! calls end (and a client that hangs up mid-reply) the metrics endpoint
//! shows no call left active.

mod common;
mod voice;

use std::io::{Read, Write};
use std::time::Duration;

use parla_gateway::call::client::{is_audio, is_end};
use parla_gateway::call::Format;
use parla_proto::v1::call_event::Event as Out;
use voice::{call, seeded_server, speech, GIULIA};

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn metrics(addr: &str) -> anyhow::Result<String> {
    let mut s = std::net::TcpStream::connect(addr)?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n")?;
    let mut body = String::new();
    s.read_to_string(&mut body)?;
    Ok(body)
}

/// Stream positions where agent utterances start (gaps over 500 ms).
fn utterance_starts(frames: &[u64]) -> Vec<u64> {
    let mut starts = Vec::new();
    let mut last = None;
    for &at in frames {
        if last.is_none_or(|l: u64| at > l + 500) {
            starts.push(at);
        }
        last = Some(at);
    }
    starts
}

#[tokio::test]
async fn silence_prompts_once_then_closes_and_long_calls_end() -> anyhow::Result<()> {
    let port = free_port()?;
    let addr = format!("127.0.0.1:{port}");
    let (server, _data) = seeded_server(&[
        ("PARLA_GATEWAY__CALL__GREET", "false"),
        ("PARLA_GATEWAY__CALL__SILENCE_PROMPT_SECS", "2"),
        ("PARLA_GATEWAY__CALL__SILENCE_CLOSE_SECS", "2"),
        ("PARLA_GATEWAY__CALL__MAX_CALL_SECS", "10"),
        ("PARLA_GATEWAY__CALL__METRICS_LISTEN", &addr),
    ])
    .await?;
    let format = Format::from_pb(Some(&voice::pcm16k()))?;

    // A caller who says nothing.
    let mut silent = call(&server, GIULIA).await?;
    let ended = silent
        .wait_for(Duration::from_secs(120), is_end)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the silent call did not end"))?;
    let reason = match &ended.event.event {
        Some(Out::Ended(e)) => e.reason.clone(),
        _ => String::new(),
    };
    assert_eq!(reason, "silence");
    let frames: Vec<u64> = silent.agent_frames().iter().map(|(at, _)| *at).collect();
    let starts = utterance_starts(&frames);
    assert_eq!(
        starts.len(),
        2,
        "expected a prompt and a goodbye, got utterances at {starts:?}"
    );
    // Decided at 2 s of stream time; it plays once synthesized.
    assert!(
        starts[0] >= 2000 && starts[0] < 8000,
        "prompt at {} ms, expected after 2 s of silence",
        starts[0]
    );
    println!(
        "silent call: prompt at {} ms, goodbye at {} ms, ended at {} ms",
        starts[0], starts[1], ended.at_ms
    );

    // A caller who keeps talking past the maximum duration.
    let talk = speech(
        &server,
        "I would like to tell you a long story about my order and the jacket and the weather in Milan, \
         and then another story about my order and the parcel and the courier who never rang the bell.",
        format,
    )
    .await?;
    let mut talker = call(&server, GIULIA).await?;
    talker.say([talk.clone(), talk].concat()).await;
    let ended = talker
        .wait_for(Duration::from_secs(180), is_end)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the long call did not end"))?;
    let reason = match &ended.event.event {
        Some(Out::Ended(e)) => e.reason.clone(),
        _ => String::new(),
    };
    assert_eq!(reason, "max_duration");
    let goodbye = talker
        .agent_frames()
        .iter()
        .map(|(at, _)| *at)
        .filter(|at| *at >= 10_000)
        .count();
    assert!(goodbye > 50, "only {goodbye} frames of goodbye after 10 s");
    assert!(ended.at_ms >= 10_000, "ended at {} ms", ended.at_ms);

    // A caller who hangs up while the agent is speaking.
    let mut quitter = call(&server, GIULIA).await?;
    quitter
        .say(speech(&server, "Where is my order?", format).await?)
        .await;
    quitter.wait_for(Duration::from_secs(180), is_audio).await?;
    quitter.hangup().await;
    quitter.wait_for(Duration::from_secs(10), is_end).await?;
    drop(quitter);

    // Everything is freed.
    let mut text = String::new();
    for _ in 0..50 {
        text = metrics(&addr)?;
        if text.contains("parla_calls_active 0") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(text.contains("parla_calls_active 0"), "{text}");
    assert!(text.contains("parla_calls_started_total 3"), "{text}");
    assert!(
        text.contains("parla_call_voice_to_voice_ms_count"),
        "{text}"
    );
    Ok(())
}
