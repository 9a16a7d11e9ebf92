//! The dialogue manager end to end through the real binary with the real understanding models:
//! `parla crm seed` fills the CRM, `parla serve --only crm,handoff,dialogue` serves it, and gRPC
//! conversations check tone, hand-off with its ticket and context, and the CRM timeline.

mod common;

use std::time::Duration;

use common::SeededCrm;
use parla_proto::v1::converse_request::Request as In;
use parla_proto::v1::crm_client::CrmClient;
use parla_proto::v1::customer_hint::Hint;
use parla_proto::v1::dialogue_client::DialogueClient;
use parla_proto::v1::handoff_client::HandoffClient;
use parla_proto::v1::reply_event::Event;
use parla_proto::v1::{
    Channel, ConversationStart, ConverseRequest, CustomerHint, GetCustomerContextRequest,
    HandoffReason, ListTicketsRequest, ReplyFinal, Tone, Turn,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Streaming;

struct Conversation {
    tx: mpsc::Sender<ConverseRequest>,
    events: Streaming<parla_proto::v1::ReplyEvent>,
}

impl Conversation {
    async fn open(
        client: &mut DialogueClient<tonic::transport::Channel>,
        id: &str,
        hint: Option<Hint>,
    ) -> anyhow::Result<Self> {
        let (tx, rx) = mpsc::channel(8);
        tx.send(ConverseRequest {
            request: Some(In::Start(ConversationStart {
                conversation_id: id.into(),
                channel: Channel::Chat as i32,
                language: String::new(),
                customer: hint.map(|h| CustomerHint { hint: Some(h) }),
            })),
        })
        .await?;
        let events = client.converse(ReceiverStream::new(rx)).await?.into_inner();
        Ok(Self { tx, events })
    }

    /// Sends a turn and returns the concatenated deltas and the final event.
    async fn say(&mut self, text: &str) -> anyhow::Result<(String, ReplyFinal)> {
        self.tx
            .send(ConverseRequest {
                request: Some(In::Turn(Turn {
                    text: text.into(),
                    ..Default::default()
                })),
            })
            .await?;
        let mut deltas = String::new();
        while let Some(event) = self.events.message().await? {
            match event.event {
                Some(Event::Delta(d)) => deltas.push_str(&d.text),
                Some(Event::Final(f)) => return Ok((deltas, f)),
                None => {}
            }
        }
        anyhow::bail!("stream ended before the final event")
    }
}

#[tokio::test]
async fn frustration_and_a_request_for_a_person_reach_the_queue_and_the_timeline(
) -> anyhow::Result<()> {
    let prompts = concat!(env!("CARGO_MANIFEST_DIR"), "/prompts");
    let crm = SeededCrm::new()?;
    let envs = [
        ("PARLA_DIALOGUE__PROMPTS_DIR", prompts),
        // Lists the queue as a tool would, without an agent session.
        ("PARLA_HANDOFF__REQUIRE_AGENT_LOGIN", "false"),
    ];
    let args = ["--only", "crm,handoff,dialogue"];
    let server = crm.serve(&args, &envs, Duration::from_secs(30)).await?;
    let channel = server.channel().await?;
    let mut dialogue = DialogueClient::new(channel.clone());

    // A customer who grows angrier: an empathetic reply first, then a hand-off for sentiment.
    let mut angry = Conversation::open(
        &mut dialogue,
        "test-angry",
        Some(Hint::PhoneNumber("+39 02 5551 2345".into())),
    )
    .await?;
    let (first_text, first) = angry
        .say("My order never arrived and nobody answers my emails, this is ridiculous!")
        .await?;
    assert_eq!(first_text, first.text);
    // The default 135M model is loaded but never words replies: templates do.
    assert!(!first.model_phrased, "{first:?}");
    assert_eq!(first.rejected_replies, 0, "{first:?}");
    assert!(
        !first.handoff.as_ref().is_some_and(|h| h.handoff),
        "handed off at once: {first:?}"
    );
    assert_ne!(
        first.tone,
        Tone::Neutral as i32,
        "a frustrated customer got the neutral tone: {first:?}"
    );
    assert!(
        first.sentiment.as_ref().is_some_and(|s| s.score < 0.0),
        "{first:?}"
    );
    assert!(
        first.text.contains("A1042"),
        "the reply should use the CRM's order: {}",
        first.text
    );
    let mut handoff = None;
    for text in [
        "This is unacceptable, I am furious, your service is useless and terrible!",
        "I'm so angry, this is the worst experience ever, absolutely disgusting!",
    ] {
        let (_, f) = angry.say(text).await?;
        assert_ne!(f.tone, Tone::Neutral as i32, "{f:?}");
        if f.handoff.as_ref().is_some_and(|h| h.handoff) {
            handoff = f.handoff;
            break;
        }
    }
    let handoff = handoff.ok_or_else(|| anyhow::anyhow!("continued anger was not handed off"))?;
    assert_eq!(
        handoff.reason,
        HandoffReason::Sentiment as i32,
        "{handoff:?}"
    );
    assert!(!handoff.ticket_id.is_empty(), "no ticket: {handoff:?}");
    let tickets = HandoffClient::new(channel.clone())
        .list_tickets(ListTicketsRequest::default())
        .await?
        .into_inner()
        .tickets;
    let ticket = tickets
        .iter()
        .find(|t| t.id == handoff.ticket_id)
        .expect("ticket listed");
    let context = ticket.context.as_ref().expect("context package");
    assert_eq!(context.customer_id, "C100");
    assert!(
        context.summary.contains("A1042"),
        "summary: {}",
        context.summary
    );
    assert!(
        context.transcript.iter().any(|l| l.contains("furious")),
        "{:?}",
        context.transcript
    );
    drop(angry);

    // An explicit request in Italian: at once.
    let mut it = Conversation::open(&mut dialogue, "test-operatore", None).await?;
    let (_, f) = it.say("voglio parlare con un operatore").await?;
    let h = f.handoff.expect("decision");
    assert!(
        h.handoff && h.reason == HandoffReason::Request as i32,
        "{h:?}"
    );
    assert!(!h.ticket_id.is_empty());
    assert_eq!(f.language, "it");

    // Every turn of the angry conversation is on the customer's timeline.
    let ctx = CrmClient::new(channel.clone())
        .get_customer_context(GetCustomerContextRequest {
            customer_id: "C100".into(),
            recent_interactions: 10,
        })
        .await?
        .into_inner();
    let conv = ctx
        .recent_interactions
        .iter()
        .find(|i| i.conversation_id == "test-angry")
        .expect("conversation on the timeline");
    assert!(conv.turn_count >= 4, "{conv:?}");

    // Bad input: a turn before the start, an empty turn, a text that is not UTF-8.
    let (tx, rx) = mpsc::channel(2);
    tx.send(ConverseRequest {
        request: Some(In::Turn(Turn {
            text: "hi".into(),
            ..Default::default()
        })),
    })
    .await?;
    let err = match dialogue.converse(ReceiverStream::new(rx)).await {
        Err(s) => s,
        Ok(r) => r.into_inner().message().await.expect_err("start required"),
    };
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    let mut empty = Conversation::open(&mut dialogue, "test-empty", None).await?;
    let err = empty.say("   ").await.expect_err("empty turn");
    let status = err.downcast_ref::<tonic::Status>().expect("a status");
    assert_eq!(status.code(), tonic::Code::InvalidArgument);

    // A turn whose text is not UTF-8 (bytes no client library would send) gets INVALID_ARGUMENT
    // naming the cause, and the server goes on answering.
    let err = common::raw::streaming(
        channel.clone(),
        "/parla.v1.Dialogue/Converse",
        &not_utf8_turn(),
    )
    .await;
    assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err:?}");
    assert!(err.message().contains("UTF-8"), "{err:?}");
    let mut after = Conversation::open(&mut dialogue, "test-after-utf8", None).await?;
    let (_, f) = after.say("Hello").await?;
    assert!(!f.text.is_empty());
    Ok(())
}

/// A start and a turn, encoded, with the turn's text bytes replaced by invalid UTF-8.
fn not_utf8_turn() -> Vec<Vec<u8>> {
    use prost::Message;
    let start = ConverseRequest {
        request: Some(In::Start(ConversationStart {
            conversation_id: "test-not-utf8".into(),
            channel: Channel::Chat as i32,
            language: "en".into(),
            customer: None,
        })),
    };
    let turn = ConverseRequest {
        request: Some(In::Turn(Turn {
            text: "XXXX".into(),
            ..Default::default()
        })),
    }
    .encode_to_vec();
    vec![start.encode_to_vec(), common::raw::not_utf8(turn)]
}
