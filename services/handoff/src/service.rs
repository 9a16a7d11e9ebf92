//! The gRPC face of the queue: converts between `parla.v1` messages and
//! the queue, and queue errors into statuses.

use std::pin::Pin;
use std::sync::{Arc, OnceLock};

use parla_proto::v1::handoff_server::{Handoff, HandoffServer};
use parla_proto::v1::{
    self as pb, AgentReplyRequest, AgentReplyResponse, ClaimRequest, EscalateRequest,
    ListTicketsRequest, ListTicketsResponse, QueueEvent, ReleaseRequest, WatchQueueRequest,
};
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status};

use crate::queue::{HandoffQueue, QueueError};
use crate::store::{Ticket, TicketFilter, TicketState};

/// `parla.v1.Handoff` over a [`HandoffQueue`].
#[derive(Clone)]
pub struct HandoffService {
    queue: Arc<OnceLock<HandoffQueue>>,
}

impl HandoffService {
    /// The service for a ready `queue`.
    pub fn new(queue: HandoffQueue) -> Self {
        Self {
            queue: Arc::new(OnceLock::from(queue)),
        }
    }

    /// A service whose queue is set later (when its database has opened);
    /// calls until then get UNAVAILABLE.
    pub fn pending(queue: Arc<OnceLock<HandoffQueue>>) -> Self {
        Self { queue }
    }

    /// The tonic server for this service.
    pub fn into_server(self) -> HandoffServer<Self> {
        HandoffServer::new(self)
    }

    fn queue(&self) -> Result<&HandoffQueue, Status> {
        self.queue.get().ok_or_else(|| {
            Status::unavailable("the hand-off queue is still opening its database; retry shortly")
        })
    }
}

fn status(error: QueueError) -> Status {
    match &error {
        QueueError::NotFound(_) => Status::not_found(error.to_string()),
        QueueError::InvalidArgument(_) => Status::invalid_argument(error.to_string()),
        QueueError::Conflict(_) => Status::failed_precondition(error.to_string()),
        QueueError::Store(_) | QueueError::Task(_) => {
            tracing::error!(error = %error, "hand-off store failed");
            Status::unavailable(format!("{error}; retry shortly"))
        }
    }
}

fn state_to_pb(state: TicketState) -> pb::TicketState {
    match state {
        TicketState::Waiting => pb::TicketState::Waiting,
        TicketState::Claimed => pb::TicketState::Claimed,
        TicketState::Returned => pb::TicketState::Returned,
        TicketState::Closed => pb::TicketState::Closed,
    }
}

fn state_from_pb(state: i32) -> Result<Option<TicketState>, Status> {
    Ok(match pb::TicketState::try_from(state) {
        Ok(pb::TicketState::Unspecified) => None,
        Ok(pb::TicketState::Waiting) => Some(TicketState::Waiting),
        Ok(pb::TicketState::Claimed) => Some(TicketState::Claimed),
        Ok(pb::TicketState::Returned) => Some(TicketState::Returned),
        Ok(pb::TicketState::Closed) => Some(TicketState::Closed),
        Err(_) => {
            return Err(Status::invalid_argument(format!(
                "unknown ticket state {state}"
            )))
        }
    })
}

fn ticket_to_pb(ticket: Ticket) -> pb::Ticket {
    pb::Ticket {
        id: ticket.id,
        state: state_to_pb(ticket.state) as i32,
        context: Some(ticket.context),
        agent_id: ticket.agent_id.unwrap_or_default(),
        skill: ticket.skill,
        created_at: Some(prost_types::Timestamp {
            seconds: ticket.created_at_ms.div_euclid(1000),
            nanos: (ticket.created_at_ms.rem_euclid(1000) * 1_000_000) as i32,
        }),
    }
}

fn non_empty(value: &str) -> Option<String> {
    Some(value.to_owned()).filter(|v| !v.is_empty())
}

type QueueStream = Pin<Box<dyn Stream<Item = Result<QueueEvent, Status>> + Send>>;

#[tonic::async_trait]
impl Handoff for HandoffService {
    async fn escalate(
        &self,
        request: Request<EscalateRequest>,
    ) -> Result<Response<pb::Ticket>, Status> {
        let request = request.into_inner();
        let context = request
            .context
            .ok_or_else(|| Status::invalid_argument("context is missing"))?;
        let ticket = self
            .queue()?
            .escalate(context, request.skill)
            .await
            .map_err(status)?;
        Ok(Response::new(ticket_to_pb(ticket)))
    }

    async fn list_tickets(
        &self,
        request: Request<ListTicketsRequest>,
    ) -> Result<Response<ListTicketsResponse>, Status> {
        let request = request.into_inner();
        let filter = TicketFilter {
            state: state_from_pb(request.state)?,
            language: non_empty(&request.language),
            skill: None,
        };
        let tickets = self.queue()?.list(filter).await.map_err(status)?;
        Ok(Response::new(ListTicketsResponse {
            tickets: tickets.into_iter().map(ticket_to_pb).collect(),
        }))
    }

    async fn claim(&self, request: Request<ClaimRequest>) -> Result<Response<pb::Ticket>, Status> {
        let request = request.into_inner();
        let ticket = self
            .queue()?
            .claim(request.ticket_id, request.agent_id)
            .await
            .map_err(status)?;
        Ok(Response::new(ticket_to_pb(ticket)))
    }

    async fn agent_reply(
        &self,
        request: Request<AgentReplyRequest>,
    ) -> Result<Response<AgentReplyResponse>, Status> {
        let request = request.into_inner();
        let message_id = self
            .queue()?
            .reply(request.ticket_id, request.agent_id, request.text)
            .await
            .map_err(status)?;
        Ok(Response::new(AgentReplyResponse { message_id }))
    }

    async fn release(
        &self,
        request: Request<ReleaseRequest>,
    ) -> Result<Response<pb::Ticket>, Status> {
        let request = request.into_inner();
        let ticket = self
            .queue()?
            .release(request.ticket_id, request.agent_id, request.return_to_bot)
            .await
            .map_err(status)?;
        Ok(Response::new(ticket_to_pb(ticket)))
    }

    type WatchQueueStream = QueueStream;

    async fn watch_queue(
        &self,
        request: Request<WatchQueueRequest>,
    ) -> Result<Response<Self::WatchQueueStream>, Status> {
        let skill = non_empty(&request.into_inner().skill);
        let stream =
            BroadcastStream::new(self.queue()?.subscribe()).filter_map(
                move |change| match change {
                    Ok(ticket) if skill.as_ref().is_none_or(|s| *s == ticket.skill) => {
                        Some(Ok(QueueEvent {
                            ticket: Some(ticket_to_pb(ticket)),
                        }))
                    }
                    Ok(_) => None,
                    Err(BroadcastStreamRecvError::Lagged(missed)) => {
                        tracing::warn!(
                            missed,
                            "queue watcher fell behind; it should list tickets again"
                        );
                        None
                    }
                },
            );
        Ok(Response::new(Box::pin(stream)))
    }
}
