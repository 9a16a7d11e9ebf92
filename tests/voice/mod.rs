//! Helpers of the voice-call tests: a seeded server with every service,
//! a scripted caller and the events it saw.

#![allow(dead_code)]

use std::time::Duration;

use parla_gateway::call::client::{self, CallClient, Logged};
use parla_gateway::call::Format;
use parla_proto::v1 as pb;
use parla_proto::v1::call_event::Event as Out;

use crate::common::{ParlaServer, SeededCrm};

/// The seeded customer Giulia Rossi (order A1042, delivered).
pub const GIULIA: &str = "+390255512345";

/// 16-bit PCM at 16 kHz.
pub fn pcm16k() -> pb::AudioFormat {
    pb::AudioFormat {
        encoding: pb::AudioEncoding::Pcm16le as i32,
        sample_rate_hz: 16000,
    }
}

/// A server with every service over a freshly seeded CRM; `envs` adds
/// settings. The data directory lives as long as the returned guard.
pub async fn seeded_server(
    envs: &[(&str, &str)],
) -> anyhow::Result<(ParlaServer, tempfile::TempDir)> {
    let crm = SeededCrm::new()?;
    let server = crm.serve(&[], envs, Duration::from_secs(180)).await?;
    Ok((server, crm.dir))
}

/// Places a call as `caller_id` in English, 16 kHz PCM, real-time pace.
pub async fn call(server: &ParlaServer, caller_id: &str) -> anyhow::Result<CallClient> {
    let start = pb::CallStart {
        caller_id: caller_id.into(),
        language: "en".into(),
        format: Some(pcm16k()),
        conversation_id: String::new(),
    };
    Ok(CallClient::start(server.peer().await?, start, Duration::from_millis(20)).await?)
}

/// Caller speech in the call's format (eSpeak NG female voice).
pub async fn speech(server: &ParlaServer, text: &str, format: Format) -> anyhow::Result<Vec<u8>> {
    Ok(client::synthesize(server.peer().await?, text, "espeak-en-f", format, 200).await?)
}

/// The first reply final after history index `from`.
pub fn reply_final(history: &[Logged], from: usize) -> Option<(usize, pb::ReplyFinal)> {
    history
        .iter()
        .enumerate()
        .skip(from)
        .find_map(|(i, l)| match &l.event.event {
            Some(Out::Reply(pb::ReplyEvent {
                event: Some(pb::reply_event::Event::Final(f)),
            })) => Some((i, f.clone())),
            _ => None,
        })
}

/// True for a reply final event.
pub fn is_reply_final(l: &Logged) -> bool {
    matches!(
        &l.event.event,
        Some(Out::Reply(pb::ReplyEvent {
            event: Some(pb::reply_event::Event::Final(_))
        }))
    )
}

/// Final caller transcripts seen.
pub fn caller_finals(history: &[Logged]) -> Vec<String> {
    history
        .iter()
        .filter_map(|l| match &l.event.event {
            Some(Out::CallerFinal(t)) => Some(t.clone()),
            _ => None,
        })
        .collect()
}
