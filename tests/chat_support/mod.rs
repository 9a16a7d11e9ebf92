//! What the chat tests share: a seeded server running chat with its peers, shop tokens,
//! reading the event stream until a condition holds, and an agent at the console.

#![allow(dead_code)]

use std::time::{Duration, Instant};

use crate::common::{agents_toml, ParlaServer, SeededCrm, AGENT_PASSWORD};
use parla_gateway::chat::{now_secs, Claims, TokenKeys};
use parla_proto::v1::chat_client::ChatClient;
use parla_proto::v1::chat_event::Event;
use parla_proto::v1::handoff_client::HandoffClient;
use parla_proto::v1::reply_event::Event as Reply;
use parla_proto::v1::{
    AgentLoginRequest, AgentReplyRequest, ChatEvent, ChatEventsRequest, ChatSendRequest,
    ClaimRequest, GetTicketRequest, ReleaseRequest, TicketDetail,
};
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::Channel as GrpcChannel;
use tonic::Status;

pub const SHOP_KEY: &str = "test-shop-key-0123456789";

/// A seeded CRM and a server running chat with its peers.
pub async fn chat_server(extra_toml: &str) -> anyhow::Result<(ParlaServer, tempfile::TempDir)> {
    SeededCrm::new()?
        .serve_only(
            "crm,handoff,dialogue,gateway",
            &chat_config(extra_toml),
            &[],
        )
        .await
}

/// [`chat_server`] with extra environment variables and its log written to
/// [`ParlaServer::log_path`].
pub async fn chat_server_logged(
    extra_toml: &str,
    envs: &[(&str, &str)],
) -> anyhow::Result<(ParlaServer, tempfile::TempDir)> {
    SeededCrm::new()?
        .serve_only_logged(
            "crm,handoff,dialogue,gateway",
            &chat_config(extra_toml),
            envs,
        )
        .await
}

/// The chat servers' `parla.toml`: chat with a shop key, the test agents,
/// and `extra_toml`.
fn chat_config(extra_toml: &str) -> String {
    format!(
        r#"[remote]
asr = "http://127.0.0.1:9"
tts = "http://127.0.0.1:9"
[gateway.chat]
token_key = "{SHOP_KEY}"
anonymous_messages_per_minute = 6
agent_wait_secs = 2
{extra_toml}
{agents}"#,
        agents = agents_toml()
    )
}

pub fn shop_token(customer: &str, ttl: i64, key: &str) -> String {
    let now = now_secs();
    TokenKeys::sign_with(
        key.as_bytes(),
        &Claims {
            sub: customer.into(),
            exp: now + ttl,
            iat: now,
            iss: "shop".into(),
            cid: String::new(),
            via: String::new(),
        },
    )
}

pub async fn send(
    chat: &mut ChatClient<GrpcChannel>,
    conversation_id: &str,
    token: &str,
    text: &str,
) -> Result<parla_proto::v1::ChatSendResponse, tonic::Status> {
    chat.send(ChatSendRequest {
        conversation_id: conversation_id.into(),
        text: text.into(),
        language: "en".into(),
        customer_token: token.into(),
        conversation_token: String::new(),
        client_message_id: String::new(),
    })
    .await
    .map(|r| r.into_inner())
}

/// Reads events after `after` until `done` says so (or 20 s pass).
pub async fn read_until(
    chat: &mut ChatClient<GrpcChannel>,
    cid: &str,
    token: &str,
    after: u64,
    mut done: impl FnMut(&[ChatEvent]) -> bool,
) -> anyhow::Result<Vec<ChatEvent>> {
    let mut stream = chat
        .events(ChatEventsRequest {
            conversation_id: cid.into(),
            after_event_id: after,
            customer_token: token.into(),
            conversation_token: String::new(),
        })
        .await?
        .into_inner();
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done(&seen) {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.message()).await {
            Ok(Ok(Some(e))) => seen.push(e),
            Ok(Ok(None)) => anyhow::bail!("stream ended; saw {seen:?}"),
            Ok(Err(s)) => return Err(s.into()),
            Err(_) => anyhow::bail!(
                "timed out; saw {:#?}",
                seen.iter().map(|e| &e.event).collect::<Vec<_>>()
            ),
        }
    }
    Ok(seen)
}

/// An agent signed in to the console: the hand-off client and the session
/// its requests carry.
pub struct Agent {
    pub console: HandoffClient<GrpcChannel>,
    bearer: MetadataValue<Ascii>,
}

impl Agent {
    /// Signs `username` in with the test agents' password.
    pub async fn login(channel: GrpcChannel, username: &str) -> anyhow::Result<Self> {
        let mut console = HandoffClient::new(channel);
        let session = console
            .agent_login(AgentLoginRequest {
                username: username.into(),
                password: AGENT_PASSWORD.into(),
            })
            .await?
            .into_inner();
        let bearer = format!("Bearer {}", session.token).parse()?;
        Ok(Self { console, bearer })
    }

    /// `message` with the session's `authorization` header.
    pub fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut r = tonic::Request::new(message);
        r.metadata_mut()
            .insert("authorization", self.bearer.clone());
        r
    }

    pub async fn ticket(&mut self, ticket_id: &str) -> Result<TicketDetail, Status> {
        let request = self.request(GetTicketRequest {
            ticket_id: ticket_id.into(),
        });
        Ok(self.console.get_ticket(request).await?.into_inner())
    }

    pub async fn claim(&mut self, ticket_id: &str) -> Result<(), Status> {
        let request = self.request(ClaimRequest {
            ticket_id: ticket_id.into(),
            agent_id: String::new(),
        });
        self.console.claim(request).await.map(drop)
    }

    pub async fn reply(&mut self, ticket_id: &str, text: &str) -> Result<(), Status> {
        let request = self.request(AgentReplyRequest {
            ticket_id: ticket_id.into(),
            agent_id: String::new(),
            text: text.into(),
        });
        self.console.agent_reply(request).await.map(drop)
    }

    /// Wraps the case up without returning it to the bot.
    pub async fn release(
        &mut self,
        ticket_id: &str,
        outcome: &str,
        note: &str,
    ) -> Result<(), Status> {
        let request = self.request(ReleaseRequest {
            ticket_id: ticket_id.into(),
            agent_id: String::new(),
            return_to_bot: false,
            outcome: outcome.into(),
            note: note.into(),
        });
        self.console.release(request).await.map(drop)
    }
}

/// The ticket of the first hand-off event in `events`.
pub fn handoff_ticket(events: &[ChatEvent]) -> anyhow::Result<String> {
    events
        .iter()
        .find_map(|e| match &e.event {
            Some(Event::Handoff(h)) => Some(h.ticket_id.clone()),
            _ => None,
        })
        .ok_or_else(|| anyhow::anyhow!("no hand-off in {events:?}"))
}

pub fn finals(events: &[ChatEvent]) -> usize {
    events.iter().filter(|e| matches!(&e.event, Some(Event::Reply(r)) if matches!(r.event, Some(Reply::Final(_))))).count()
}

/// A turn is over: its final, typing off, and the hand-off event if the
/// final decided one.
pub fn turn_done(s: &[ChatEvent]) -> bool {
    let handed_off = s.iter().any(|e| matches!(&e.event, Some(Event::Reply(r)) if matches!(&r.event, Some(Reply::Final(f)) if f.handoff.as_ref().is_some_and(|h| h.handoff))));
    finals(s) >= 1
        && has(s, |e| matches!(e, Event::Typing(false)))
        && (!handed_off || has(s, |e| matches!(e, Event::Handoff(_))))
}

pub fn has(events: &[ChatEvent], f: impl Fn(&Event) -> bool) -> bool {
    events.iter().any(|e| e.event.as_ref().is_some_and(&f))
}
