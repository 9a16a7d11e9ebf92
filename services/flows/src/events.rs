//! Conversation events for developers: the dialogue publishes turns, actions, tool calls,
//! hand-offs and flow outcomes on an [`EventBus`]; an action is an ACTION only when its tool
//! answered usably, ACTION_UNCONFIRMED when it may or may not have been carried out, and only a
//! TOOL_CALL when it failed (nothing was done); `parla.v1.Events.Subscribe` streams them,
//! filtered by type and conversation. A subscriber that falls more than the bus capacity behind
//! gets DATA_LOSS (and can subscribe again) rather than slowing conversations down.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parla_proto::v1 as pb;
use parla_proto::v1::events_server::{Events, EventsServer};
use tokio::sync::broadcast;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use crate::runner::{CallRecord, FlowReply, ToolOutcome};

/// Events waiting for slow subscribers before they lose some.
pub const CAPACITY: usize = 1024;

/// Publishes conversation events to every subscriber.
#[derive(Debug, Clone)]
pub struct EventBus {
    tx: broadcast::Sender<pb::ConversationEvent>,
    sequence: Arc<AtomicU64>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new()
    }
}

impl EventBus {
    /// A bus without subscribers.
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(CAPACITY);
        EventBus {
            tx,
            sequence: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Publishes one event (stamped with time and sequence); dropped when nobody listens.
    pub fn publish(&self, mut event: pb::ConversationEvent) {
        event.sequence = self.sequence.fetch_add(1, Ordering::Relaxed) + 1;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        event.at = Some(prost_types::Timestamp {
            seconds: now.as_secs() as i64,
            nanos: now.subsec_nanos() as i32,
        });
        let _ = self.tx.send(event);
    }

    /// A receiver of every event from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<pb::ConversationEvent> {
        self.tx.subscribe()
    }

    /// Publishes a flow turn's tool calls, actions and outcome.
    pub fn publish_flow(
        &self,
        conversation_id: &str,
        customer_id: &str,
        turn_index: u32,
        flow: &str,
        reply: &FlowReply,
    ) {
        let base = || pb::ConversationEvent {
            conversation_id: conversation_id.to_owned(),
            customer_id: customer_id.to_owned(),
            turn_index,
            ..Default::default()
        };
        for c in &reply.calls {
            self.publish(pb::ConversationEvent {
                r#type: pb::EventType::ToolCall as i32,
                tool_call: Some(call_record(c)),
                ..base()
            });
        }
        for c in reply.actions() {
            let (kind, call) = match c.result.outcome {
                ToolOutcome::Succeeded(_) => (pb::EventType::Action, None),
                ToolOutcome::Unknown(_) => (pb::EventType::ActionUnconfirmed, Some(call_record(c))),
                // Nothing was done: its TOOL_CALL says so.
                ToolOutcome::Failed(_) => continue,
            };
            self.publish(pb::ConversationEvent {
                r#type: kind as i32,
                action: Some(action(c)),
                tool_call: call,
                ..base()
            });
        }
        if let Some(outcome) = &reply.outcome {
            self.publish(pb::ConversationEvent {
                r#type: pb::EventType::Outcome as i32,
                outcome: Some(pb::FlowOutcome {
                    flow: flow.to_owned(),
                    outcome: outcome.clone(),
                }),
                ..base()
            });
        }
    }
}

/// The proto record of a tool call.
pub fn call_record(c: &CallRecord) -> pb::ToolCallRecord {
    pb::ToolCallRecord {
        name: c.call.tool.clone(),
        arguments: c.call.args.clone().into_iter().collect(),
        ok: c.result.outcome.succeeded(),
        result: c
            .result
            .outcome
            .facts()
            .map(|f| f.clone().into_iter().collect())
            .unwrap_or_default(),
        error: c.result.outcome.error().unwrap_or_default().to_owned(),
        attempts: c.result.attempts,
        step: c.call.step.clone(),
        outcome: match c.result.outcome {
            ToolOutcome::Succeeded(_) => pb::ToolOutcome::Succeeded,
            ToolOutcome::Failed(_) => pb::ToolOutcome::Failed,
            ToolOutcome::Unknown(_) => pb::ToolOutcome::Unknown,
        } as i32,
        idempotency_key: c.call.idempotency_key.clone(),
    }
}

/// The proto action of a call that changes something: `create_exchange` (a return whose
/// resolution is an exchange), `create_return` (any other return), `open_case`, or the
/// developer tool's name. Its `result` is what came back (the RMA or case id); for an action
/// that did not succeed it says which way, for the colleague and the timeline: "not done: …"
/// or "outcome unknown, idempotency key …: …".
pub fn action(c: &CallRecord) -> pb::Action {
    let exchange = c
        .call
        .args
        .get("resolution")
        .is_some_and(|r| r == "exchange");
    let name = match c.call.tool.as_str() {
        "return.create" if exchange => "create_exchange",
        "return.create" => "create_return",
        "case.open" => "open_case",
        other => other,
    };
    let result = match &c.result.outcome {
        ToolOutcome::Succeeded(f) => f
            .get("rma_id")
            .or_else(|| f.get("case_id"))
            .cloned()
            .unwrap_or_else(|| serde_json::to_string(f).unwrap_or_default()),
        ToolOutcome::Failed(e) => format!("not done: {e}"),
        ToolOutcome::Unknown(e) => format!(
            "outcome unknown, idempotency key {}: {e}",
            c.call.idempotency_key
        ),
    };
    pb::Action {
        name: name.to_owned(),
        arguments: c.call.args.clone().into_iter().collect(),
        ok: c.result.outcome.succeeded(),
        result,
    }
}

/// `parla.v1.Events`.
#[derive(Debug, Clone)]
pub struct EventsService {
    bus: EventBus,
}

impl EventsService {
    /// Serves this bus.
    pub fn new(bus: EventBus) -> Self {
        EventsService { bus }
    }

    /// The tonic server.
    pub fn into_server(self) -> EventsServer<Self> {
        EventsServer::new(self)
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::ConversationEvent, Status>> + Send>>;

#[tonic::async_trait]
impl Events for EventsService {
    type SubscribeStream = EventStream;

    async fn subscribe(
        &self,
        request: Request<pb::SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let r = request.into_inner();
        if let Some(bad) = r
            .types
            .iter()
            .find(|t| **t <= 0 || pb::EventType::try_from(**t).is_err())
        {
            tracing::info!(event_type = bad, "subscribe: bad event type");
            return Err(Status::invalid_argument(format!(
                "types has {bad}, which is not an EventType (1 turn, 2 action, 3 tool call, 4 hand-off, 5 outcome, 6 action unconfirmed)"
            )));
        }
        tracing::info!(types = ?r.types, conversation = %r.conversation_id, "events subscriber");
        let mut rx = self.bus.subscribe();
        let (tx, out) = tokio::sync::mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let event = match rx.recv().await {
                    Ok(e) => e,
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        let _ = tx
                            .send(Err(Status::data_loss(format!(
                                "subscriber fell {n} events behind; subscribe again"
                            ))))
                            .await;
                        return;
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                };
                let wanted = (r.types.is_empty() || r.types.contains(&event.r#type))
                    && (r.conversation_id.is_empty() || r.conversation_id == event.conversation_id);
                if wanted && tx.send(Ok(event)).await.is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(out),
        )))
    }
}
