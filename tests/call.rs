//! `Conversation.Call` end to end through the real binary and real models:
//! a caller asks about their order and hears the answer (transcribed back
//! by Parla's ASR), with transcripts, reply, tone, sentiment and stage
//! timings as events; beside it, bad calls (audio before the start, a
//! frame in the wrong format, a client that vanishes) are refused or
//! cleaned up without disturbing the good one.

mod common;
mod voice;

use std::time::Duration;

use parla_gateway::call::client::{is_end, CallClient};
use parla_gateway::call::Format;
use parla_proto::v1 as pb;
use parla_proto::v1::call_event::Event as Out;
use parla_proto::v1::call_request::Request as In;
use parla_proto::v1::conversation_client::ConversationClient;
use tokio_stream::StreamExt;
use voice::{call, caller_finals, is_reply_final, reply_final, seeded_server, speech, GIULIA};

#[tokio::test]
async fn a_good_call_beside_bad_ones() -> anyhow::Result<()> {
    let (server, _data) = seeded_server(&[]).await?;
    let channel = server.channel().await?;
    let format = Format::from_pb(Some(&voice::pcm16k()))?;
    let question = speech(&server, "Hello, can you tell me where my order is?", format).await?;

    let good = async {
        let mut caller = call(&server, GIULIA).await?;
        let id = caller
            .wait_for(Duration::from_secs(10), |l| {
                matches!(l.event.event, Some(Out::ConversationId(_)))
            })
            .await?;
        anyhow::ensure!(id.is_some(), "no conversation id");
        anyhow::ensure!(
            caller.wait_agent_done(300, Duration::from_secs(60)).await?,
            "no greeting"
        );
        let asked_at = caller.history.len();
        caller.say(question.clone()).await;
        let fin = caller
            .wait_for(Duration::from_secs(120), is_reply_final)
            .await?;
        anyhow::ensure!(
            fin.is_some(),
            "no reply: {:?}",
            caller_finals(&caller.history)
        );
        caller.wait_agent_done(400, Duration::from_secs(60)).await?;
        caller.hangup().await;
        let ended = caller.wait_for(Duration::from_secs(10), is_end).await?;
        Ok::<_, anyhow::Error>((caller, asked_at, ended))
    };

    let bad = async {
        // Audio before the start message.
        let mut client = ConversationClient::new(channel.clone());
        let audio = pb::CallRequest {
            request: Some(In::Audio(pb::AudioChunk {
                data: vec![0; 640],
                ..Default::default()
            })),
        };
        let status = client
            .call(tokio_stream::iter([audio]))
            .await
            .expect_err("audio before start was accepted");
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
        assert!(status.message().contains("start"), "{status:?}");

        // A frame in the wrong format mid-call.
        let mut vanishing = call(&server, "").await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tx.send(pb::CallRequest {
            request: Some(In::Start(pb::CallStart {
                language: "en".into(),
                format: Some(voice::pcm16k()),
                ..Default::default()
            })),
        })
        .await?;
        let mut events = client
            .call(tokio_stream::wrappers::ReceiverStream::new(rx))
            .await?
            .into_inner();
        tx.send(pb::CallRequest {
            request: Some(In::Audio(pb::AudioChunk {
                format: Some(pb::AudioFormat {
                    encoding: pb::AudioEncoding::Mulaw as i32,
                    sample_rate_hz: 8000,
                }),
                data: vec![0xFF; 160],
                ..Default::default()
            })),
        })
        .await?;
        let mut status = None;
        while let Some(item) = events.next().await {
            if let Err(s) = item {
                status = Some(s);
                break;
            }
        }
        let status = status.expect("a wrong-format frame did not end the call with a status");
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
        assert!(status.message().contains("format"), "{status:?}");

        // A client that vanishes mid-call: dropping it must free the call.
        vanishing
            .wait_for(Duration::from_secs(2), |_| false)
            .await?;
        drop(vanishing);
        Ok::<_, anyhow::Error>(())
    };

    let (good, bad) = tokio::join!(good, bad);
    bad?;
    let (caller, asked_at, ended): (CallClient, usize, _) = good?;
    let history = &caller.history;
    let finals = caller_finals(history);
    assert!(
        finals.iter().any(|t| t.to_lowercase().contains("order")),
        "caller transcript: {finals:?}"
    );
    let (fin_at, fin) = reply_final(history, asked_at).expect("reply final");
    assert!(
        fin.text.to_lowercase().contains("delivered"),
        "reply: {:?}",
        fin.text
    );
    assert_ne!(fin.tone, pb::Tone::Unspecified as i32, "{fin:?}");
    assert!(fin.sentiment.is_some(), "{fin:?}");
    let timings = history[fin_at..]
        .iter()
        .find_map(|l| match &l.event.event {
            Some(Out::Timings(t)) => Some(*t),
            _ => None,
        })
        .expect("stage timings after the reply");
    assert!(timings.voice_to_voice_ms > 0, "{timings:?}");
    assert!(timings.voice_to_voice_ms >= timings.asr_ms, "{timings:?}");
    println!("timings: {timings:?}");
    assert!(
        matches!(ended.map(|l| l.event.event), Some(Some(Out::Ended(e))) if e.reason == "hangup"),
        "no hang-up end"
    );

    // What the caller heard of the reply, transcribed by Parla's own ASR.
    let first = history[fin_at..]
        .iter()
        .find_map(|l| match &l.event.event {
            Some(Out::Audio(c)) => Some(c.offset_ms),
            _ => None,
        })
        .expect("reply audio");
    let heard: Vec<u8> = caller
        .agent_frames()
        .into_iter()
        .filter(|(at, _)| *at >= first)
        .flat_map(|(_, d)| d.to_vec())
        .collect();
    assert!(
        heard.len() > 640 * 50,
        "only {} bytes of reply audio",
        heard.len()
    );
    let mut asr = pb::asr_client::AsrClient::new(channel.clone());
    let text = asr
        .recognize(pb::RecognizeRequest {
            audio: Some(pb::recognize_request::Audio::Chunk(pb::AudioChunk {
                format: Some(voice::pcm16k()),
                data: heard,
                ..Default::default()
            })),
            language: "en".into(),
        })
        .await?
        .into_inner()
        .text;
    assert!(
        text.to_lowercase().contains("deliver"),
        "the reply audio says {text:?}"
    );
    Ok(())
}
