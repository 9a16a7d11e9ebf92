//! Barge-in through the real binary: caller speech over the agent's reply
//! stops agent audio within one 20 ms frame of the decision (stream time)
//! and the reply's remaining audio never plays; a backchannel ("mm-hmm")
//! over the reply does not interrupt it.

mod common;
mod voice;

use std::time::Duration;

use parla_gateway::call::client::{is_audio, CallClient, Logged};
use parla_gateway::call::Format;
use parla_proto::v1::call_event::Event as Out;
use voice::{call, caller_finals, is_reply_final, seeded_server, speech, GIULIA};

/// Greets, asks about the order, and waits for the first frame of the
/// reply; returns the history index of that frame.
async fn ask_and_wait_for_reply_audio(
    caller: &mut CallClient,
    question: Vec<u8>,
) -> anyhow::Result<usize> {
    anyhow::ensure!(
        caller.wait_agent_done(300, Duration::from_secs(60)).await?,
        "no greeting"
    );
    caller.say(question).await;
    let fin = caller
        .wait_for(Duration::from_secs(180), is_reply_final)
        .await?;
    anyhow::ensure!(
        fin.is_some(),
        "no reply: {:?}",
        caller_finals(&caller.history)
    );
    let audio = caller.wait_for(Duration::from_secs(60), is_audio).await?;
    anyhow::ensure!(audio.is_some(), "the reply has no audio");
    Ok(caller.history.len() - 1)
}

/// Wall time per 20 ms frame while the caller speaks over the agent.
const SLOW: Duration = Duration::from_millis(200);

fn barge_in_of(l: &Logged) -> Option<(u64, u32)> {
    match &l.event.event {
        Some(Out::BargeIn(b)) => Some((b.offset_ms, b.heard_chars)),
        _ => None,
    }
}

#[tokio::test]
async fn barge_in_stops_the_agent_within_a_frame_and_a_backchannel_does_not() -> anyhow::Result<()>
{
    let (server, _data) = seeded_server(&[]).await?;
    let format = Format::from_pb(Some(&voice::pcm16k()))?;
    let question = speech(&server, "Hello, can you tell me where my order is?", format).await?;

    // Barge-in: the caller interrupts the reply.
    let interruption = speech(
        &server,
        "Wait, stop please. I also want to return the jacket I bought.",
        format,
    )
    .await?;
    let mut caller = call(&server, GIULIA).await?;
    ask_and_wait_for_reply_audio(&mut caller, question.clone()).await?;
    let spoke_at = caller.position_ms();
    // Slow the wall clock (10x) so that even a loaded machine's ASR
    // answers within the reply; stream time, which the agent's audio
    // follows and the assertions use, still advances 20 ms per frame.
    caller.pace(SLOW).await;
    caller.say(interruption).await;
    let notice = caller
        .wait_for(Duration::from_secs(600), |l| barge_in_of(l).is_some())
        .await?
        .ok_or_else(|| {
            anyhow::anyhow!(
                "no barge-in; caller heard {:?}",
                caller_finals(&caller.history)
            )
        })?;
    let notice_index = caller.history.len() - 1;
    let (offset_ms, heard_chars) = barge_in_of(&notice).unwrap_or_default();
    // Let the call go on: nothing of the interrupted reply may follow.
    caller.pace(Duration::from_millis(20)).await;
    caller
        .wait_for(Duration::from_secs(120), |l| {
            matches!(l.event.event, Some(Out::CallerFinal(_)))
        })
        .await?;
    caller.hangup().await;
    let before: Vec<u64> = caller.history[..notice_index]
        .iter()
        .filter_map(|l| match &l.event.event {
            Some(Out::Audio(c)) => Some(c.offset_ms),
            _ => None,
        })
        .collect();
    let last_before = *before.last().expect("agent audio before the barge-in");
    assert!(
        last_before < offset_ms + 20,
        "agent frame at {last_before} ms played after the barge-in at {offset_ms} ms"
    );
    let final_after = caller.history[notice_index..]
        .iter()
        .position(|l| matches!(l.event.event, Some(Out::CallerFinal(_))))
        .map(|i| i + notice_index)
        .expect("the interruption's transcript");
    let leaked = caller.history[notice_index..final_after]
        .iter()
        .filter(|l| is_audio(l))
        .count();
    assert_eq!(leaked, 0, "{leaked} agent frames after the barge-in");
    assert!(
        offset_ms >= spoke_at + 300,
        "barge-in at {offset_ms} ms, before 300 ms of speech from {spoke_at} ms"
    );
    assert!(heard_chars > 0, "the caller heard part of the reply");
    println!(
        "barge-in: speech at {spoke_at} ms, decided at {offset_ms} ms, last agent frame at {last_before} ms, heard {heard_chars} chars"
    );

    // Backchannel: "mm-hmm" over the reply does not interrupt it.
    let backchannel = speech(&server, "Mm-hmm.", format).await?;
    let mut caller = call(&server, GIULIA).await?;
    let reply_start = ask_and_wait_for_reply_audio(&mut caller, question).await?;
    let said_at = caller.position_ms();
    caller.pace(SLOW).await;
    caller.say(backchannel).await;
    let done = caller
        .wait_agent_done(500, Duration::from_secs(600))
        .await?;
    assert!(done, "the reply did not finish");
    caller.hangup().await;
    caller.wait_for(Duration::from_secs(5), |_| false).await?;
    let barge_ins = caller
        .history
        .iter()
        .filter(|l| barge_in_of(l).is_some())
        .count();
    let partials: Vec<&str> = caller
        .history
        .iter()
        .filter_map(|l| match &l.event.event {
            Some(Out::CallerPartial(t)) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        barge_ins, 0,
        "a backchannel interrupted the agent; partials heard: {partials:?}"
    );
    let heard_after: Vec<u64> = caller.history[reply_start..]
        .iter()
        .filter_map(|l| match &l.event.event {
            Some(Out::Audio(c)) if c.offset_ms > said_at + 1500 => Some(c.offset_ms),
            _ => None,
        })
        .collect();
    assert!(
        !heard_after.is_empty(),
        "the reply stopped although the caller only said mm-hmm"
    );
    println!(
        "backchannel at {said_at} ms; reply audio until {} ms; caller transcripts {:?}",
        heard_after.last().copied().unwrap_or(0),
        caller_finals(&caller.history)
    );
    Ok(())
}
