//! A text conversation with the dialogue manager over `Dialogue.Converse`,
//! as the end-to-end dialogue and flow tests hold it: open with a phone
//! hint, say a line, get the turn's final event.

#![allow(dead_code)]

use parla_proto::v1 as pb;
use parla_proto::v1::converse_request::Request as In;
use parla_proto::v1::customer_hint::Hint;
use parla_proto::v1::dialogue_client::DialogueClient;
use parla_proto::v1::reply_event::Event;
use parla_proto::PeerChannel;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tonic::Streaming;

/// One open conversation.
pub struct Talk {
    tx: mpsc::Sender<pb::ConverseRequest>,
    events: Streaming<pb::ReplyEvent>,
}

impl Talk {
    /// Starts conversation `id` on the chat channel in `lang`, the
    /// customer identified by `phone`.
    pub async fn open(channel: Channel, id: &str, phone: &str, lang: &str) -> anyhow::Result<Self> {
        Self::open_peer(PeerChannel::new(channel, None), id, Some(phone), lang).await
    }

    /// The same over a channel as Parla's services hold it (with or without
    /// the service token); `phone: None` leaves the customer anonymous and
    /// an empty `lang` lets the dialogue detect it.
    pub async fn open_peer(
        channel: PeerChannel,
        id: &str,
        phone: Option<&str>,
        lang: &str,
    ) -> anyhow::Result<Self> {
        let (tx, rx) = mpsc::channel(4);
        tx.send(pb::ConverseRequest {
            request: Some(In::Start(pb::ConversationStart {
                conversation_id: id.into(),
                channel: pb::Channel::Chat as i32,
                language: lang.into(),
                customer: phone.map(|p| pb::CustomerHint {
                    hint: Some(Hint::PhoneNumber(p.into())),
                }),
            })),
        })
        .await?;
        let events = DialogueClient::new(channel)
            .converse(ReceiverStream::new(rx))
            .await?
            .into_inner();
        Ok(Talk { tx, events })
    }

    /// Sends a turn and waits for its final event.
    pub async fn say(&mut self, text: &str) -> anyhow::Result<pb::ReplyFinal> {
        self.tx
            .send(pb::ConverseRequest {
                request: Some(In::Turn(pb::Turn {
                    text: text.into(),
                    ..Default::default()
                })),
            })
            .await?;
        while let Some(e) = self.events.message().await? {
            if let Some(Event::Final(f)) = e.event {
                return Ok(f);
            }
        }
        anyhow::bail!("stream ended before the final event")
    }
}

/// The turn handed the conversation to a person.
pub fn handed_off(f: &pb::ReplyFinal) -> bool {
    f.handoff.as_ref().is_some_and(|h| h.handoff)
}
