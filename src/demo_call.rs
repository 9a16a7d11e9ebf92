//! The scripted phone call of `parla demo`: Giulia Rossi (a seeded
//! customer) calls to return the jacket she bought. Her lines are
//! synthesized by Parla's TTS (the Piper voice) and sent into
//! `Conversation.Call` in real time, 20 ms at a time, as a phone would; the
//! agent's replies, tone, sentiment, hand-off and per-turn stage timings
//! are printed, and the audio is written to WAV files.

use std::path::{Path, PathBuf};
use std::time::Duration;

use parla_gateway::call::client::{self, CallClient, Logged};
use parla_gateway::call::Format;
use parla_proto::v1 as pb;
use parla_proto::v1::call_event::Event as Out;
use parla_proto::v1::reply_event::Event as Reply;
use parla_proto::PeerChannel;

/// The caller's number: Giulia Rossi in `parla crm seed`'s demo data.
const CALLER_ID: &str = "+390255512345";

/// What the caller says, in order, as a person says it: phrases with the
/// pause after each (ms), so a thought has commas and short silences in it
/// and Parla must wait for the whole of it.
const SCRIPT: [&[(&str, u64)]; 3] = [
    &[
        ("Hi,", 400),
        ("I bought a jacket last week", 350),
        ("and I would like to return it.", 0),
    ],
    &[("The order number is", 450), ("A 1 0 4 2.", 0)],
    &[("Thank you,", 400), ("that's all.", 300), ("Goodbye.", 0)],
];

/// A line as printed: its phrases with their pauses, `Hi, ⟨400 ms⟩ I…`.
fn spoken_text(line: &[(&str, u64)]) -> String {
    line.iter()
        .map(|(phrase, pause)| {
            if *pause > 0 {
                format!("{phrase} ⟨{pause} ms⟩")
            } else {
                (*phrase).to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The caller's voice (Piper's: the clearest to Whisper of the voices here).
const CALLER_VOICE: &str = "joe";

/// How long one turn may take on a slow machine.
const TURN_TIMEOUT: Duration = Duration::from_secs(240);

/// Places the scripted call on `channel` and writes the agent's audio to
/// `wav` (and the whole conversation beside it).
pub async fn run(channel: PeerChannel, wav: &Path) -> anyhow::Result<()> {
    let format = Format::from_pb(Some(&pb::AudioFormat {
        encoding: pb::AudioEncoding::Pcm16le as i32,
        sample_rate_hz: 16000,
    }))?;
    println!("scripted call: Giulia Rossi ({CALLER_ID}) returns a jacket");
    let mut lines = Vec::new();
    for line in SCRIPT {
        let mut audio = Vec::new();
        for (phrase, pause_ms) in line {
            let pad = if *pause_ms > 0 { *pause_ms } else { 200 };
            audio.extend(
                client::synthesize(channel.clone(), phrase, CALLER_VOICE, format, pad).await?,
            );
        }
        lines.push(audio);
    }
    let start = pb::CallStart {
        caller_id: CALLER_ID.into(),
        language: "en".into(),
        format: Some(format.to_pb()),
        conversation_id: String::new(),
    };
    let mut caller = CallClient::start(channel, start, Duration::from_millis(20)).await?;
    let mut printed = 0;
    anyhow::ensure!(
        caller.wait_agent_done(400, TURN_TIMEOUT).await?,
        "the agent did not greet within {} s",
        TURN_TIMEOUT.as_secs()
    );
    printed = print_new(&caller.history, printed);
    let mut spoken = Vec::new();
    for (line, script) in lines.into_iter().zip(SCRIPT) {
        if ended(&caller.history) {
            break;
        }
        let text = spoken_text(script);
        spoken.push((caller.position_ms(), line.clone()));
        println!("  [caller speaks at {:>6} ms] {text}", caller.position_ms());
        caller.say(line).await;
        let replied = caller
            .wait_for(TURN_TIMEOUT, |l| {
                matches!(
                    &l.event.event,
                    Some(Out::Reply(pb::ReplyEvent {
                        event: Some(Reply::Final(_))
                    })) | Some(Out::Ended(_))
                )
            })
            .await?;
        anyhow::ensure!(
            replied.is_some(),
            "no reply within {} s",
            TURN_TIMEOUT.as_secs()
        );
        caller.wait_agent_done(600, TURN_TIMEOUT).await?;
        printed = print_new(&caller.history, printed);
    }
    if !ended(&caller.history) {
        // A hand-off ends the call itself once its reply has played.
        caller
            .wait_for(Duration::from_secs(3), client::is_end)
            .await?;
    }
    if !ended(&caller.history) {
        caller.hangup().await;
        caller
            .wait_for(Duration::from_secs(10), client::is_end)
            .await?;
    }
    print_new(&caller.history, printed);
    write_wavs(&caller, &spoken, wav)?;
    Ok(())
}

fn ended(history: &[Logged]) -> bool {
    history.iter().any(client::is_end)
}

/// Prints the events after `from`; returns the new count.
fn print_new(history: &[Logged], from: usize) -> usize {
    for l in &history[from.min(history.len())..] {
        let at = l.at_ms;
        match &l.event.event {
            Some(Out::ConversationId(id)) => println!("  conversation {id}"),
            Some(Out::CallerFinal(t)) => println!("  [{at:>6} ms] caller (heard): {t}"),
            Some(Out::Reply(pb::ReplyEvent {
                event: Some(Reply::Final(f)),
            })) => {
                let sentiment = f.sentiment.as_ref().map_or(0.0, |s| s.score);
                let tone = pb::Tone::try_from(f.tone)
                    .map(|t| t.as_str_name().trim_start_matches("TONE_").to_lowercase())
                    .unwrap_or_default();
                println!(
                    "  [{at:>6} ms] parla ({tone}, sentiment {sentiment:+.2}): {}",
                    parla_gateway::call::strip_tags(&f.text)
                );
                if let Some(h) = f.handoff.as_ref().filter(|h| h.handoff) {
                    println!("           hand-off: {} (ticket {})", h.explanation, h.ticket_id);
                }
            }
            Some(Out::Timings(t)) => println!(
                "           timings: end of turn {} ms, ASR final {} ms, first reply text {} ms, first TTS audio {} ms, voice-to-voice {} ms",
                t.end_of_turn_ms, t.asr_ms, t.dialogue_first_text_ms, t.tts_first_audio_ms, t.voice_to_voice_ms
            ),
            Some(Out::BargeIn(b)) => println!(
                "  [{at:>6} ms] caller barged in; {} characters of the reply were heard",
                b.heard_chars
            ),
            Some(Out::Ended(e)) => println!("  [{at:>6} ms] call ended: {}", e.reason),
            _ => {}
        }
    }
    history.len()
}

/// Writes the agent's audio at its stream positions to `wav`, and the
/// caller and agent mixed to `*-conversation.wav`.
fn write_wavs(caller: &CallClient, spoken: &[(u64, Vec<u8>)], wav: &Path) -> anyhow::Result<()> {
    let format = caller.format;
    let rate = u64::from(format.rate);
    let at = |ms: u64| (ms * rate / 1000) as usize;
    let end = at(caller.position_ms() + 1000);
    let mut agent = vec![0i16; end];
    for (offset, data) in caller.agent_frames() {
        for (i, s) in format.decode(data).into_iter().enumerate() {
            if let Some(slot) = agent.get_mut(at(offset) + i) {
                *slot = s;
            }
        }
    }
    let mut mixed = agent.clone();
    for (offset, data) in spoken {
        for (i, s) in format.decode(data).into_iter().enumerate() {
            if let Some(slot) = mixed.get_mut(at(*offset) + i) {
                *slot = slot.saturating_add(s);
            }
        }
    }
    client::write_wav(wav, format.rate, &agent)?;
    let conversation = conversation_path(wav);
    client::write_wav(&conversation, format.rate, &mixed)?;
    println!(
        "agent audio: {} ({:.1} s); whole conversation: {}",
        wav.display(),
        agent.len() as f64 / rate as f64,
        conversation.display()
    );
    Ok(())
}

fn conversation_path(wav: &Path) -> PathBuf {
    let stem = wav
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "parla-demo-call".into());
    wav.with_file_name(format!("{stem}-conversation.wav"))
}
