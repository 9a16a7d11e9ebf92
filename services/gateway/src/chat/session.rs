//! What happens to a customer message: with Parla it becomes a turn on the
//! conversation's `Dialogue.Converse` stream, whose reply is stored event
//! by event; after a hand-off it goes to the agent through the queue. The
//! queue's changes (agent joined, agent message, back to Parla, closed)
//! come back here and are stored as events too.

use std::sync::Arc;
use std::time::Duration;

use parla_proto::v1::chat_event::Event;
use parla_proto::v1::converse_request::Request as In;
use parla_proto::v1::crm_client::CrmClient;
use parla_proto::v1::customer_hint::Hint;
use parla_proto::v1::dialogue_client::DialogueClient;
use parla_proto::v1::handoff_client::HandoffClient;
use parla_proto::v1::reply_event::Event as Reply;
use parla_proto::v1::{
    AgentJoined, AgentMessage, Channel, ChatEvent, ChatNotice, ConversationStart, ConverseRequest,
    CustomerHint, CustomerMessageRequest, GetCustomerContextRequest, ReplyFinal, TicketState, Turn,
    WatchQueueRequest,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::service::blocking;
use super::store::Conversation;
use super::ChatHub;

/// Customer-facing wording of notices, in English or Italian.
pub(super) fn text(language: &str, key: &str) -> String {
    let it = language.to_ascii_lowercase().starts_with("it");
    match (key, it) {
        ("verify_offer", false) => "To look at your order, I need to know it's yours: please enter its order number and the e-mail address you used for it.",
        ("verify_offer", true) => "Per consultare il suo ordine devo sapere che è suo: inserisca il numero d'ordine e l'indirizzo e-mail usato per l'acquisto, per favore.",
        ("callback_noted", false) => "Noted: a colleague will call you back at the number you gave as soon as one is free. Your request stays saved as a ticket.",
        ("callback_noted", true) => "Preso nota: un collega la richiamerà al numero indicato appena possibile. La sua richiesta resta registrata come ticket.",
        ("callback_needs_number", false) => "I've noted that you'd like a call back: please write the phone number we should call.",
        ("callback_needs_number", true) => "Ho preso nota che desidera essere richiamato: scriva per favore il numero da chiamare.",
        ("verified", false) => "Thanks, you're verified. I can now look at your orders.",
        ("verified", true) => "Grazie, la verifica è riuscita. Ora posso consultare i suoi ordini.",
        ("no_agent_available", false) => "I'm sorry: all my colleagues are busy right now and nobody has picked up your conversation yet. I won't leave you waiting without news: your request is saved as a ticket and a colleague will reply by e-mail, or you can write \"call me back\" with your phone number and we'll call you.",
        ("no_agent_available", true) => "Mi dispiace: in questo momento tutti i colleghi sono occupati e nessuno ha ancora preso la sua conversazione. Non la lascio in attesa senza notizie: la sua richiesta è registrata come ticket e un collega le risponderà via e-mail, oppure scriva \"richiamatemi\" con il suo numero e la richiameremo.",
        ("returned_to_parla", false) => "You're back with Parla, the virtual assistant.",
        ("returned_to_parla", true) => "È di nuovo con Parla, l'assistente virtuale.",
        ("closed", false) => "The conversation was closed by our colleague. Write again any time.",
        ("closed", true) => "Il collega ha chiuso la conversazione. Scriva pure quando vuole.",
        ("error", false) => "Sorry, I couldn't answer that just now. Please try again in a moment.",
        ("error", true) => "Mi scusi, ora non sono riuscita a rispondere. Riprovi tra un momento.",
        _ => "",
    }
    .to_owned()
}

fn notice(language: &str, kind: &str) -> ChatEvent {
    ChatEvent {
        event: Some(Event::Notice(ChatNotice {
            kind: kind.into(),
            text: text(language, kind),
        })),
        ..ChatEvent::default()
    }
}

fn event(e: Event) -> ChatEvent {
    ChatEvent {
        event: Some(e),
        ..ChatEvent::default()
    }
}

impl ChatHub {
    async fn append(&self, conversation_id: &str, e: ChatEvent) {
        let Ok(store) = self.store() else { return };
        let cid = conversation_id.to_owned();
        if let Err(status) = blocking(store, move |s| s.append(&cid, e, None)).await {
            tracing::error!(conversation_id, error = %status.message(), "chat event not stored");
        }
    }

    /// Forgets the conversation's dialogue stream (the next message opens
    /// a fresh one).
    pub(super) fn drop_session(&self, conversation_id: &str) {
        self.sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(conversation_id);
    }
}

/// Sends a stored customer message where it belongs: the agent after a
/// hand-off, else Parla.
pub(super) async fn route_message(
    hub: Arc<ChatHub>,
    conv: Conversation,
    text: String,
    language: String,
) {
    if conv.mode == "waiting" && !conv.ticket_id.is_empty() {
        // Nobody has picked the ticket up yet: a call-back request (offered by the no-agent
        // notice) is acknowledged at once; the message still goes to the ticket below.
        if let Some(kind) = callback_request(&text) {
            hub.append(&conv.id, notice(&conv.language, kind)).await;
        }
    }
    if matches!(conv.mode.as_str(), "waiting" | "agent") && !conv.ticket_id.is_empty() {
        if let Some(channel) = hub.peers.handoff.clone() {
            let sent = HandoffClient::new(channel)
                .customer_message(CustomerMessageRequest {
                    ticket_id: conv.ticket_id.clone(),
                    text,
                })
                .await;
            if let Err(s) = sent {
                tracing::warn!(conversation_id = %conv.id, error = %s.message(), "customer message not passed to the agent");
            }
        }
        return;
    }
    tokio::spawn(async move {
        hub.append(&conv.id, event(Event::Typing(true))).await;
        let turn = ConverseRequest {
            request: Some(In::Turn(Turn {
                conversation_id: conv.id.clone(),
                channel: Channel::Chat as i32,
                language,
                text,
                asr_confidence: 1.0,
                ..Turn::default()
            })),
        };
        // A dialogue that is starting (after a restart) or briefly unreachable is waited for:
        // the message is stored, and the customer sees "typing" until Parla answers. Only a
        // dialogue still away after a minute gets the honest error notice.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let mut pause = Duration::from_millis(250);
        let mut closed_streams = 0;
        loop {
            match open_or_get(&hub, &conv).await {
                Ok(tx) => {
                    if tx.send(turn.clone()).await.is_ok() {
                        return;
                    }
                    hub.drop_session(&conv.id);
                    closed_streams += 1;
                    if closed_streams >= 2 {
                        break;
                    }
                }
                Err(s)
                    if s.code() == tonic::Code::Unavailable
                        && tokio::time::Instant::now() < deadline =>
                {
                    tracing::info!(conversation_id = %conv.id, error = %s.message(), "dialogue not ready; the turn waits");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
                Err(s) => {
                    tracing::warn!(conversation_id = %conv.id, error = %s.message(), "dialogue unreachable");
                    break;
                }
            }
        }
        hub.append(&conv.id, event(Event::Typing(false))).await;
        hub.append(&conv.id, notice(&conv.language, "error")).await;
    });
}

/// The conversation's dialogue stream, opened when needed.
async fn open_or_get(
    hub: &Arc<ChatHub>,
    conv: &Conversation,
) -> Result<mpsc::Sender<ConverseRequest>, tonic::Status> {
    if let Some(tx) = hub
        .sessions
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&conv.id)
    {
        return Ok(tx.clone());
    }
    let channel = hub
        .peers
        .dialogue
        .clone()
        .ok_or_else(|| tonic::Status::unavailable("no dialogue service configured"))?;
    let (tx, rx) = mpsc::channel(8);
    let customer = (!conv.customer_id.is_empty()).then(|| CustomerHint {
        hint: Some(Hint::CustomerId(conv.customer_id.clone())),
    });
    let start = ConverseRequest {
        request: Some(In::Start(ConversationStart {
            conversation_id: conv.id.clone(),
            channel: Channel::Chat as i32,
            language: conv.language.clone(),
            customer,
        })),
    };
    tx.send(start)
        .await
        .map_err(|_| tonic::Status::internal("dialogue stream closed"))?;
    let mut replies = DialogueClient::new(channel)
        .converse(ReceiverStream::new(rx))
        .await?
        .into_inner();
    hub.sessions
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(conv.id.clone(), tx.clone());
    // The turn after the last reply the customer was shown: a dialogue that lost a turn (stopped
    // before its timeline was written) must not number a new reply as an old one.
    let next_turn = match hub.store() {
        Ok(store) => {
            let id = conv.id.clone();
            blocking(store, move |s| s.last_reply_turn(&id))
                .await
                .ok()
                .flatten()
                .map_or(0, |t| t + 1)
        }
        Err(_) => 0,
    };
    let hub = Arc::clone(hub);
    let conv = conv.clone();
    tokio::spawn(async move {
        let mut numbering = TurnNumbering::after(next_turn);
        loop {
            match replies.message().await {
                Ok(Some(mut reply)) => {
                    numbering.apply(&mut reply);
                    on_reply(&hub, &conv.id, reply).await
                }
                Ok(None) => break,
                Err(s) => {
                    tracing::warn!(conversation_id = %conv.id, error = %s.message(), "dialogue stream failed");
                    hub.append(&conv.id, event(Event::Typing(false))).await;
                    hub.append(&conv.id, notice(&conv.language, "error")).await;
                    break;
                }
            }
        }
        hub.drop_session(&conv.id);
    });
    Ok(tx)
}

/// Whether a message asks to be called back (the wording the no-agent notice suggests, in
/// English or Italian), and which acknowledgement fits: with a phone number in it, or asking
/// for one.
fn callback_request(text: &str) -> Option<&'static str> {
    let t = text.to_lowercase();
    let asks = [
        "call me back",
        "call back",
        "callback",
        "ring me back",
        "richiamatemi",
        "richiamami",
        "mi richiami",
        "mi richiamate",
        "richiamarmi",
    ]
    .iter()
    .any(|w| t.contains(w));
    if !asks {
        return None;
    }
    let digits = text.chars().filter(char::is_ascii_digit).count();
    Some(if digits >= 6 {
        "callback_noted"
    } else {
        "callback_needs_number"
    })
}

/// An anonymous visitor asking about an order is offered the verification (order number and
/// that order's e-mail, `Chat.Verify`) once per conversation, instead of being asked "which
/// order?" again and again: Parla cannot look at an order it does not know is theirs.
async fn offer_verification(hub: &Arc<ChatHub>, conversation_id: &str, f: &ReplyFinal) {
    let about_an_order = f.intent.as_ref().is_some_and(|i| {
        matches!(
            i.name.as_str(),
            "order_status" | "delivery_problem" | "return"
        )
    });
    if !about_an_order || f.handoff.as_ref().is_some_and(|d| d.handoff) {
        return;
    }
    let Ok(store) = hub.store() else { return };
    let cid = conversation_id.to_owned();
    let Ok(Some(conv)) = blocking(store, move |s| s.get(&cid)).await else {
        return;
    };
    if !conv.customer_id.is_empty() || conv.mode != "bot" {
        return;
    }
    let first = hub
        .verify_offered
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(conv.id.clone());
    if first {
        tracing::info!(
            conversation_id,
            "verification offered to an anonymous visitor"
        );
        hub.append(conversation_id, notice(&conv.language, "verify_offer"))
            .await;
    }
}

/// Reply turn numbers shown in a conversation only increase: the first reply of a new dialogue
/// stream is numbered at least the turn after the last one stored, and the rest follow it.
struct TurnNumbering {
    next: u32,
    shift: Option<u32>,
}

impl TurnNumbering {
    fn after(next: u32) -> Self {
        Self { next, shift: None }
    }

    fn apply(&mut self, reply: &mut parla_proto::v1::ReplyEvent) {
        let index = match &mut reply.event {
            Some(Reply::Delta(d)) => &mut d.turn_index,
            Some(Reply::Final(f)) => &mut f.turn_index,
            None => return,
        };
        let shift = *self.shift.get_or_insert(self.next.saturating_sub(*index));
        *index += shift;
    }
}

async fn on_reply(hub: &Arc<ChatHub>, conversation_id: &str, reply: parla_proto::v1::ReplyEvent) {
    let final_ = match &reply.event {
        Some(Reply::Final(f)) => Some(f.clone()),
        _ => None,
    };
    hub.append(conversation_id, event(Event::Reply(reply)))
        .await;
    let Some(f) = final_ else { return };
    hub.append(conversation_id, event(Event::Typing(false)))
        .await;
    offer_verification(hub, conversation_id, &f).await;
    let Some(decision) = f.handoff.filter(|d| d.handoff) else {
        return;
    };
    let Ok(store) = hub.store() else { return };
    let cid = conversation_id.to_owned();
    let ticket = decision.ticket_id.clone();
    let updated = blocking(store, move |s| {
        let Some(mut c) = s.get(&cid)? else {
            return Ok(None);
        };
        if c.mode == "bot" {
            c.mode = "waiting".into();
            c.ticket_id = ticket;
            s.update(&c)?;
            return Ok(Some(c));
        }
        Ok(None)
    })
    .await;
    hub.append(conversation_id, event(Event::Handoff(decision)))
        .await;
    if let Ok(Some(conv)) = updated {
        tracing::info!(conversation_id, ticket = %conv.ticket_id, "chat handed off");
        let hub = Arc::clone(hub);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(hub.config.agent_wait_secs)).await;
            let Ok(store) = hub.store() else { return };
            let cid = conv.id.clone();
            if let Ok(Some(now)) = blocking(store, move |s| s.get(&cid)).await {
                if now.mode == "waiting" && now.ticket_id == conv.ticket_id {
                    tracing::info!(conversation_id = %conv.id, "no agent within the wait; customer told");
                    hub.append(&conv.id, notice(&conv.language, "no_agent_available"))
                        .await;
                }
            }
        });
    }
}

/// Follows the hand-off queue for as long as the process runs,
/// reconnecting after failures.
pub(super) async fn follow_queue(hub: Arc<ChatHub>) {
    let Some(channel) = hub.peers.handoff.clone() else {
        return;
    };
    loop {
        match HandoffClient::new(channel.clone())
            .watch_queue(WatchQueueRequest::default())
            .await
        {
            Ok(stream) => {
                let mut stream = stream.into_inner();
                while let Ok(Some(change)) = stream.message().await {
                    on_queue_event(&hub, change).await;
                }
                tracing::warn!("hand-off queue watch ended; reconnecting");
            }
            Err(s) => tracing::debug!(error = %s.message(), "hand-off queue not reachable yet"),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn on_queue_event(hub: &Arc<ChatHub>, change: parla_proto::v1::QueueEvent) {
    let Some(ticket) = change.ticket else { return };
    let Ok(store) = hub.store() else { return };
    let tid = ticket.id.clone();
    let Ok(Some(mut conv)) = blocking(store, move |s| s.by_ticket(&tid)).await else {
        return;
    };
    if let Some(m) = change.message {
        if m.speaker == "agent" {
            let msg = AgentMessage {
                agent_name: m.agent_name,
                text: m.text,
            };
            hub.append(&conv.id, event(Event::AgentMessage(msg))).await;
        }
        return;
    }
    let state = TicketState::try_from(ticket.state).unwrap_or(TicketState::Unspecified);
    let previous = hub
        .agents
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&ticket.id)
        .cloned();
    let (mode, e) = match state {
        TicketState::Claimed if previous.as_deref() != Some(ticket.agent_id.as_str()) => {
            hub.agents
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(ticket.id.clone(), ticket.agent_id.clone());
            let name = if ticket.agent_name.is_empty() {
                ticket.agent_id.clone()
            } else {
                ticket.agent_name.clone()
            };
            (
                "agent",
                event(Event::AgentJoined(AgentJoined { agent_name: name })),
            )
        }
        TicketState::Returned => ("bot", notice(&conv.language, "returned_to_parla")),
        TicketState::Closed => ("bot", notice(&conv.language, "closed")),
        _ => return,
    };
    if matches!(state, TicketState::Returned | TicketState::Closed) {
        hub.agents
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&ticket.id);
        conv.ticket_id.clear();
        hub.drop_session(&conv.id);
    }
    conv.mode = mode.into();
    let c = conv.clone();
    if blocking(store, move |s| s.update(&c)).await.is_ok() {
        hub.append(&conv.id, e).await;
    }
}

/// Memory across channels: a signed-in customer's new chat starts with what
/// happened in their latest conversation on another channel (a call).
pub(super) async fn recall_other_channels(hub: Arc<ChatHub>, conv: Conversation) {
    let Some(channel) = hub.peers.crm.clone() else {
        return;
    };
    let context = CrmClient::new(channel)
        .get_customer_context(GetCustomerContextRequest {
            customer_id: conv.customer_id.clone(),
            ..Default::default()
        })
        .await;
    let Ok(context) = context.map(|c| c.into_inner()) else {
        return;
    };
    let Some(call) = context
        .recent_interactions
        .iter()
        .find(|i| i.channel == Channel::Voice as i32 && i.conversation_id != conv.id)
    else {
        return;
    };
    let it = conv.language.to_ascii_lowercase().starts_with("it");
    let about = if call.summary.is_empty() {
        call.turns
            .iter()
            .find(|t| t.speaker == "customer")
            .map(|t| t.text.clone())
            .unwrap_or_default()
    } else {
        call.summary.clone()
    };
    let text = if it {
        format!("Bentornato. Nella sua ultima telefonata con noi: {about}")
    } else {
        format!("Welcome back. On your last call with us: {about}")
    };
    tracing::info!(conversation_id = %conv.id, previous = %call.conversation_id, "chat starts with the previous call's context");
    hub.append(
        &conv.id,
        event(Event::Notice(ChatNotice {
            kind: "previous_contact".into(),
            text,
        })),
    )
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use parla_proto::v1::{ReplyDelta, ReplyEvent, ReplyFinal};

    fn delta(turn: u32) -> ReplyEvent {
        ReplyEvent {
            event: Some(Reply::Delta(ReplyDelta {
                turn_index: turn,
                ..Default::default()
            })),
        }
    }

    fn final_(turn: u32) -> ReplyEvent {
        ReplyEvent {
            event: Some(Reply::Final(ReplyFinal {
                turn_index: turn,
                ..Default::default()
            })),
        }
    }

    fn turn_of(r: &ReplyEvent) -> u32 {
        match &r.event {
            Some(Reply::Delta(d)) => d.turn_index,
            Some(Reply::Final(f)) => f.turn_index,
            None => u32::MAX,
        }
    }

    #[test]
    fn a_dialogue_that_counts_from_an_earlier_turn_is_moved_after_the_last_reply() {
        // Replies 0..=6 were shown; the new stream's dialogue resumed with 6 turns only.
        let mut n = TurnNumbering::after(7);
        let shown: Vec<u32> = [delta(5), final_(5), delta(6), final_(6)]
            .into_iter()
            .map(|mut r| {
                n.apply(&mut r);
                turn_of(&r)
            })
            .collect();
        assert_eq!(shown, [7, 7, 8, 8]);
    }

    #[test]
    fn call_back_requests_are_recognized_in_both_languages() {
        assert_eq!(
            callback_request("Please call me back on +44 20 7946 0000"),
            Some("callback_noted")
        );
        assert_eq!(
            callback_request("richiamatemi al 333 123 4567 grazie"),
            Some("callback_noted")
        );
        assert_eq!(
            callback_request("Mi richiami, per favore"),
            Some("callback_needs_number")
        );
        assert_eq!(callback_request("Is anyone there?"), None);
    }

    #[test]
    fn a_dialogue_that_counts_on_keeps_its_numbers() {
        let mut n = TurnNumbering::after(3);
        let mut r = final_(3);
        n.apply(&mut r);
        assert_eq!(turn_of(&r), 3);
        let mut fresh = TurnNumbering::after(0);
        let mut r = delta(0);
        fresh.apply(&mut r);
        assert_eq!(turn_of(&r), 0);
    }
}
