//! A spoken turn taken back (`Retract`) through the real binary: a caller who goes on
//! speaking within `dialogue.voice_commit_ms` leaves no action behind — no hand-off ticket,
//! no timeline line, an empty final — while the same words not retracted do hand off; the
//! next turn is numbered after the retracted one. A turn that does nothing in the world (a
//! greeting) is answered before its window closes, and still leaves no timeline line when it
//! is taken back after its answer.

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
    Channel, ConversationStart, ConverseRequest, CustomerHint, GetInteractionRequest,
    ListTicketsRequest, ReplyFinal, Retract, Turn,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Streaming;

const FRAGMENT: &str = "I want to speak to a real person.";

struct Call {
    tx: mpsc::Sender<ConverseRequest>,
    events: Streaming<parla_proto::v1::ReplyEvent>,
}

impl Call {
    async fn open(
        client: &mut DialogueClient<tonic::transport::Channel>,
        id: &str,
    ) -> anyhow::Result<Self> {
        let (tx, rx) = mpsc::channel(8);
        tx.send(ConverseRequest {
            request: Some(In::Start(ConversationStart {
                conversation_id: id.into(),
                channel: Channel::Voice as i32,
                language: "en".into(),
                customer: Some(CustomerHint {
                    hint: Some(Hint::PhoneNumber("+39 02 5551 2345".into())),
                }),
            })),
        })
        .await?;
        let events = client.converse(ReceiverStream::new(rx)).await?.into_inner();
        Ok(Self { tx, events })
    }

    async fn send(&self, request: In) -> anyhow::Result<()> {
        self.tx
            .send(ConverseRequest {
                request: Some(request),
            })
            .await?;
        Ok(())
    }

    async fn turn(&self, text: &str) -> anyhow::Result<()> {
        self.send(In::Turn(Turn {
            text: text.into(),
            language: "en".into(),
            asr_confidence: 0.9,
            ..Default::default()
        }))
        .await
    }

    async fn final_(&mut self) -> anyhow::Result<ReplyFinal> {
        while let Some(event) = self.events.message().await? {
            if let Some(Event::Final(f)) = event.event {
                return Ok(f);
            }
        }
        anyhow::bail!("stream ended before the final event")
    }
}

/// The customer's lines on the timeline of `conversation` once it holds `want` lines (a spoken
/// turn is recorded when its window has closed), or what it holds after 10 s.
async fn customer_lines(
    channel: &tonic::transport::Channel,
    conversation: &str,
    want: usize,
) -> anyhow::Result<Vec<String>> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let found = CrmClient::new(channel.clone())
            .get_interaction(GetInteractionRequest {
                conversation_id: conversation.into(),
            })
            .await;
        let lines: Vec<String> = match found {
            Ok(t) => t
                .into_inner()
                .turns
                .iter()
                .filter(|t| t.speaker == "customer")
                .map(|t| t.text.clone())
                .collect(),
            Err(s) if s.code() == tonic::Code::NotFound => Vec::new(),
            Err(s) => return Err(s.into()),
        };
        if lines.len() >= want || std::time::Instant::now() > deadline {
            return Ok(lines);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn handed_off(f: &ReplyFinal) -> bool {
    f.handoff.as_ref().is_some_and(|h| h.handoff)
}

#[tokio::test]
async fn a_retracted_spoken_turn_leaves_no_action_behind() -> anyhow::Result<()> {
    let prompts = concat!(env!("CARGO_MANIFEST_DIR"), "/prompts");
    let crm = SeededCrm::new()?;
    // A window long enough that the retractions below always land inside it.
    let envs = [
        ("PARLA_DIALOGUE__PROMPTS_DIR", prompts),
        ("PARLA_HANDOFF__REQUIRE_AGENT_LOGIN", "false"),
        ("PARLA_DIALOGUE__VOICE_COMMIT_MS", "2000"),
    ];
    let args = ["--only", "crm,handoff,dialogue"];
    let server = crm.serve(&args, &envs, Duration::from_secs(30)).await?;
    let channel = server.channel().await?;
    let mut dialogue = DialogueClient::new(channel.clone());

    // The words alone, not retracted: a hand-off with a ticket.
    let mut plain = Call::open(&mut dialogue, "retract-control").await?;
    plain.turn(FRAGMENT).await?;
    let f = plain.final_().await?;
    assert!(handed_off(&f), "the control turn should hand off: {f:?}");

    // The same words, then the caller goes on at once (the gateway's take-back).
    let mut call = Call::open(&mut dialogue, "retract-call").await?;
    call.turn(FRAGMENT).await?;
    call.send(In::Retract(Retract { turn_index: 0 })).await?;
    let dropped = call.final_().await?;
    assert_eq!(dropped.turn_index, 0, "{dropped:?}");
    assert!(
        dropped.text.is_empty(),
        "a retracted turn was answered: {dropped:?}"
    );
    assert!(!handed_off(&dropped), "{dropped:?}");
    assert!(dropped.actions.is_empty(), "{dropped:?}");

    // The next turn (here words that ask for no person): answered, numbered after the
    // retracted one.
    call.turn("Where is my order?").await?;
    let merged = call.final_().await?;
    assert_eq!(merged.turn_index, 1, "{merged:?}");
    assert!(!merged.text.is_empty(), "{merged:?}");
    assert!(!handed_off(&merged), "{merged:?}");
    drop(call);

    let tickets = HandoffClient::new(channel.clone())
        .list_tickets(ListTicketsRequest::default())
        .await?
        .into_inner()
        .tickets;
    let of = |id: &str| {
        tickets
            .iter()
            .filter(|t| t.context.as_ref().is_some_and(|c| c.conversation_id == id))
            .count()
    };
    assert_eq!(of("retract-control"), 1, "{tickets:?}");
    assert_eq!(
        of("retract-call"),
        0,
        "the retracted turn opened a ticket: {tickets:?}"
    );

    // The timeline holds the turn answered, never the retracted one.
    let customer = customer_lines(&channel, "retract-call", 1).await?;
    assert_eq!(customer, ["Where is my order?"]);

    // A greeting acts on nothing: its answer comes at once, before the window closes (the
    // retraction is sent only after the answer arrived) ...
    let mut hello = Call::open(&mut dialogue, "retract-hello").await?;
    hello.turn("Hello there, good morning.").await?;
    let answered = hello.final_().await?;
    assert_eq!(answered.turn_index, 0, "{answered:?}");
    assert!(
        !answered.text.is_empty(),
        "a greeting was held back: {answered:?}"
    );
    // ... and taken back after it, it is not recorded; the next turn is numbered after it.
    hello.send(In::Retract(Retract { turn_index: 0 })).await?;
    hello
        .turn("Hello there, good morning. Where is my order?")
        .await?;
    let merged = hello.final_().await?;
    assert_eq!(merged.turn_index, 1, "{merged:?}");
    drop(hello);
    let customer = customer_lines(&channel, "retract-hello", 1).await?;
    assert_eq!(
        customer,
        ["Hello there, good morning. Where is my order?"],
        "the greeting taken back stayed on the timeline"
    );
    Ok(())
}
