//! The queue's rules on top of a [`TicketStore`]: who may claim, answer
//! and release a ticket, and a live feed of changes for agent consoles.
//! Store calls run on blocking threads; every change is committed before
//! it is announced.

use std::sync::Arc;

use parla_proto::v1::ContextPackage;
use tokio::sync::broadcast;

use crate::store::{StoreError, Ticket, TicketFilter, TicketMessage, TicketState, TicketStore};

/// A change announced to watchers: a ticket's new state, or a new message
/// in its thread.
#[derive(Debug, Clone)]
pub enum QueueChange {
    /// The ticket as it is now.
    Ticket(Ticket),
    /// A message was added to the ticket's thread.
    Message(Ticket, TicketMessage),
}

impl QueueChange {
    /// The ticket concerned.
    pub fn ticket(&self) -> &Ticket {
        match self {
            QueueChange::Ticket(t) | QueueChange::Message(t, _) => t,
        }
    }
}

/// Longest agent message accepted, in characters.
pub const MAX_AGENT_MESSAGE_CHARS: usize = 4000;

/// Why a queue operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// No ticket has this id.
    #[error("no hand-off ticket with id {0:?}")]
    NotFound(String),
    /// The request is malformed.
    #[error("{0}")]
    InvalidArgument(String),
    /// The ticket is not in a state that allows the operation.
    #[error("{0}")]
    Conflict(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A blocking store task did not finish.
    #[error("hand-off store task failed: {0}")]
    Task(String),
}

/// The escalation queue.
#[derive(Clone)]
pub struct HandoffQueue {
    store: Arc<dyn TicketStore>,
    changes: broadcast::Sender<QueueChange>,
}

impl HandoffQueue {
    /// A queue over `store`.
    pub fn new(store: Arc<dyn TicketStore>) -> Self {
        let (changes, _) = broadcast::channel(256);
        Self { store, changes }
    }

    /// Every change to any ticket, as it is committed.
    pub fn subscribe(&self) -> broadcast::Receiver<QueueChange> {
        self.changes.subscribe()
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn TicketStore) -> Result<T, QueueError> + Send + 'static,
    ) -> Result<T, QueueError> {
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || f(store.as_ref()))
            .await
            .map_err(|e| QueueError::Task(e.to_string()))?
    }

    fn announce(&self, ticket: &Ticket) {
        // No console watching is not an error.
        let _ = self.changes.send(QueueChange::Ticket(ticket.clone()));
    }

    /// Runs `add` (check the ticket, store a message) on a blocking thread
    /// and announces the message with its ticket.
    async fn post(
        &self,
        add: impl FnOnce(&dyn TicketStore) -> Result<(Ticket, TicketMessage), QueueError>
            + Send
            + 'static,
    ) -> Result<TicketMessage, QueueError> {
        let (ticket, message) = self.blocking(add).await?;
        // No console watching is not an error.
        let _ = self
            .changes
            .send(QueueChange::Message(ticket, message.clone()));
        Ok(message)
    }

    /// Gives a ticket in one of the `from` states to `agent` (claimed) once
    /// `check(store, ticket_id, agent)` passes, on one blocking thread, and
    /// announces it. A ticket that did not move is refused as one that
    /// cannot be `verb` (already taken, closed, unknown).
    async fn move_ticket(
        &self,
        ticket_id: String,
        from: &'static [TicketState],
        agent: String,
        verb: &'static str,
        check: impl FnOnce(&dyn TicketStore, &str, &str) -> Result<(), QueueError> + Send + 'static,
    ) -> Result<Ticket, QueueError> {
        let ticket = self
            .blocking(move |s| {
                check(s, &ticket_id, &agent)?;
                match s.transition(&ticket_id, from, TicketState::Claimed, Some(&agent))? {
                    Some(t) => Ok(t),
                    None => Err(refusal(s, &ticket_id, verb)?),
                }
            })
            .await?;
        tracing::info!(ticket = %ticket.id, "ticket {verb}");
        self.announce(&ticket);
        Ok(ticket)
    }

    /// Puts a conversation in the queue.
    pub async fn escalate(
        &self,
        mut context: ContextPackage,
        skill: String,
    ) -> Result<Ticket, QueueError> {
        crate::priority::complete_context(&mut context);
        if context.conversation_id.trim().is_empty() {
            return Err(QueueError::InvalidArgument(
                "context.conversation_id is empty: a hand-off needs the conversation it continues"
                    .into(),
            ));
        }
        let (ticket, new) = self
            .blocking(move |s| Ok(s.open_or_insert(&context, &skill)?))
            .await?;
        if !new {
            tracing::info!(ticket = %ticket.id, conversation_id = %ticket.context.conversation_id, "conversation already in the queue; its open ticket is returned");
            return Ok(ticket);
        }
        tracing::info!(ticket = %ticket.id, conversation_id = %ticket.context.conversation_id, "conversation escalated");
        self.announce(&ticket);
        Ok(ticket)
    }

    /// Tickets matching `filter`, oldest first.
    pub async fn list(&self, filter: TicketFilter) -> Result<Vec<Ticket>, QueueError> {
        self.blocking(move |s| Ok(s.list(&filter)?)).await
    }

    /// Gives a waiting ticket to `agent_id`.
    pub async fn claim(&self, ticket_id: String, agent_id: String) -> Result<Ticket, QueueError> {
        self.claim_within(ticket_id, agent_id, None).await
    }

    /// Gives a waiting ticket to `agent_id` if they hold fewer than
    /// `capacity` tickets.
    pub async fn claim_within(
        &self,
        ticket_id: String,
        agent_id: String,
        capacity: Option<u32>,
    ) -> Result<Ticket, QueueError> {
        require("agent_id", &agent_id)?;
        let from = &[TicketState::Waiting];
        self.move_ticket(ticket_id, from, agent_id, "claimed", move |s, _, agent| {
            at_capacity(s, agent, capacity)
        })
        .await
    }

    /// Stores a message from the agent holding the ticket and announces it.
    pub async fn reply(
        &self,
        ticket_id: String,
        agent_id: String,
        agent_name: String,
        text: String,
    ) -> Result<TicketMessage, QueueError> {
        check_text(&text)?;
        self.post(move |s| {
            let ticket = held_by(s, &ticket_id, &agent_id)?;
            let m = s.add_message(&ticket_id, "agent", (&agent_id, &agent_name), &text)?;
            Ok((ticket, m))
        })
        .await
    }

    /// Stores a customer's message on a waiting or claimed ticket and
    /// announces it to the console.
    pub async fn customer_message(
        &self,
        ticket_id: String,
        text: String,
    ) -> Result<TicketMessage, QueueError> {
        check_text(&text)?;
        self.post_on_open(
            ticket_id,
            "customer",
            text,
            "the conversation is back with Parla",
        )
        .await
    }

    /// Stores `text` from `speaker` on a waiting or claimed ticket and announces it; a ticket
    /// in another state is a conflict, explained by `closed`.
    async fn post_on_open(
        &self,
        ticket_id: String,
        speaker: &'static str,
        text: String,
        closed: &'static str,
    ) -> Result<TicketMessage, QueueError> {
        self.post(move |s| {
            let ticket = s
                .get(&ticket_id)?
                .ok_or_else(|| QueueError::NotFound(ticket_id.clone()))?;
            if !matches!(ticket.state, TicketState::Waiting | TicketState::Claimed) {
                return Err(QueueError::Conflict(format!(
                    "ticket {ticket_id} is {:?}; {closed}",
                    ticket.state
                )));
            }
            let m = s.add_message(&ticket_id, speaker, ("", ""), &text)?;
            Ok((ticket, m))
        })
        .await
    }

    /// Notes on a waiting or claimed ticket that a person should call the
    /// customer back (a phone transfer did not connect), with the number
    /// and why, and announces it like any message of the thread.
    pub async fn callback_request(
        &self,
        ticket_id: String,
        phone: String,
        reason: String,
    ) -> Result<TicketMessage, QueueError> {
        let phone = phone.trim().to_owned();
        if phone.len() > 32
            || !phone
                .chars()
                .all(|c| c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '(' | ')'))
        {
            return Err(QueueError::InvalidArgument(
                "phone must be a phone number (digits, +, spaces, dashes; at most 32 characters) or empty when withheld".into(),
            ));
        }
        let reason = reason.trim();
        let text = match (phone.is_empty(), reason.is_empty()) {
            (false, false) => format!("Please call the customer back on {phone}: {reason}."),
            (false, true) => format!("Please call the customer back on {phone}."),
            (true, false) => format!("Please call the customer back (number withheld): {reason}."),
            (true, true) => "Please call the customer back (number withheld).".to_owned(),
        };
        check_text(&text)?;
        self.post_on_open(
            ticket_id,
            "parla",
            text,
            "a call-back is asked for on an open ticket",
        )
        .await
    }

    /// A ticket and its thread.
    pub async fn detail(
        &self,
        ticket_id: String,
    ) -> Result<(Ticket, Vec<TicketMessage>), QueueError> {
        self.blocking(move |s| {
            let t = s
                .get(&ticket_id)?
                .ok_or_else(|| QueueError::NotFound(ticket_id.clone()))?;
            Ok((t, s.messages(&ticket_id)?))
        })
        .await
    }

    /// Tickets held by `agent_id` now.
    pub async fn held_count(&self, agent_id: String) -> Result<u32, QueueError> {
        self.blocking(move |s| Ok(s.held_count(&agent_id)?)).await
    }

    /// Moves a claimed ticket to `to_agent` (by its holder, or anyone when
    /// `by` is `None`: a supervisor), within the new agent's capacity.
    pub async fn transfer(
        &self,
        ticket_id: String,
        by: Option<String>,
        to_agent: String,
        capacity: Option<u32>,
    ) -> Result<Ticket, QueueError> {
        require("to_agent_id", &to_agent)?;
        let from = &[TicketState::Claimed];
        self.move_ticket(
            ticket_id,
            from,
            to_agent,
            "transferred",
            move |s, id, to| {
                if let Some(by) = &by {
                    held_by(s, id, by)?;
                }
                at_capacity(s, to, capacity)
            },
        )
        .await
    }

    /// A supervisor takes a waiting or claimed ticket.
    pub async fn take_over(
        &self,
        ticket_id: String,
        supervisor: String,
    ) -> Result<Ticket, QueueError> {
        let from = &[TicketState::Waiting, TicketState::Claimed];
        self.move_ticket(ticket_id, from, supervisor, "taken over", |_, _, _| Ok(()))
            .await
    }

    /// Deletes every ticket about `customer_id` (the right to erasure).
    pub async fn forget_customer(&self, customer_id: String) -> Result<u32, QueueError> {
        let removed = self
            .blocking(move |s| Ok(s.forget_customer(&customer_id)?))
            .await?;
        tracing::info!(removed, "customer's tickets deleted");
        Ok(removed)
    }

    /// Ends the agent's part: back to Parla, or closed.
    pub async fn release(
        &self,
        ticket_id: String,
        agent_id: String,
        return_to_bot: bool,
    ) -> Result<Ticket, QueueError> {
        let to = if return_to_bot {
            TicketState::Returned
        } else {
            TicketState::Closed
        };
        let ticket = self
            .blocking(move |s| {
                held_by(s, &ticket_id, &agent_id)?;
                s.transition(&ticket_id, &[TicketState::Claimed], to, None)?
                    .ok_or_else(|| {
                        QueueError::Conflict(format!(
                            "ticket {ticket_id} changed while it was released"
                        ))
                    })
            })
            .await?;
        tracing::info!(ticket = %ticket.id, state = ?ticket.state, "ticket released");
        self.announce(&ticket);
        Ok(ticket)
    }
}

fn check_text(text: &str) -> Result<(), QueueError> {
    let chars = text.chars().count();
    if text.trim().is_empty() || chars > MAX_AGENT_MESSAGE_CHARS {
        return Err(QueueError::InvalidArgument(format!(
            "text must hold 1 to {MAX_AGENT_MESSAGE_CHARS} characters; it holds {chars}"
        )));
    }
    Ok(())
}

fn at_capacity(
    store: &dyn TicketStore,
    agent_id: &str,
    capacity: Option<u32>,
) -> Result<(), QueueError> {
    if let Some(capacity) = capacity {
        let held = store.held_count(agent_id)?;
        if held >= capacity {
            return Err(QueueError::Conflict(format!(
                "agent {agent_id:?} already holds {held} conversations (capacity {capacity})"
            )));
        }
    }
    Ok(())
}

fn require(field: &str, value: &str) -> Result<(), QueueError> {
    if value.trim().is_empty() {
        return Err(QueueError::InvalidArgument(format!("{field} is empty")));
    }
    Ok(())
}

/// Checks that `agent_id` holds the ticket.
fn held_by(store: &dyn TicketStore, ticket_id: &str, agent_id: &str) -> Result<Ticket, QueueError> {
    require("agent_id", agent_id)?;
    let ticket = store
        .get(ticket_id)?
        .ok_or_else(|| QueueError::NotFound(ticket_id.to_owned()))?;
    if ticket.state != TicketState::Claimed || ticket.agent_id.as_deref() != Some(agent_id) {
        return Err(QueueError::Conflict(format!(
            "ticket {ticket_id} is not held by agent {agent_id:?} (state {:?}, agent {:?}); claim it first",
            ticket.state, ticket.agent_id
        )));
    }
    Ok(ticket)
}

/// The error for a transition that did not apply: unknown ticket, or one
/// in the wrong state.
fn refusal(store: &dyn TicketStore, ticket_id: &str, verb: &str) -> Result<QueueError, QueueError> {
    Ok(match store.get(ticket_id)? {
        None => QueueError::NotFound(ticket_id.to_owned()),
        Some(t) => QueueError::Conflict(format!(
            "ticket {ticket_id} cannot be {verb}: it is {:?}{}",
            t.state,
            t.agent_id
                .map(|a| format!(" by agent {a:?}"))
                .unwrap_or_default()
        )),
    })
}
