//! The gRPC face of the queue: converts between `parla.v1` messages and
//! the queue, checks agent sessions, and turns queue errors into statuses.
//! Agent calls (list, claim, reply, release, transfer, take over) carry
//! `authorization: Bearer <token>` from `AgentLogin` when sign-in is
//! required; escalation, customer messages and erasure are for Parla's own
//! services (the server's service-token check guards them); the queue views
//! (`ListTickets`, `WatchQueue`) admit either.

use std::pin::Pin;
use std::sync::{Arc, OnceLock};

use parla_proto::service_token::ServiceTokenCheck;
use parla_proto::v1::crm_client::CrmClient;
use parla_proto::v1::handoff_server::{Handoff, HandoffServer};
use parla_proto::v1::{
    self as pb, AgentLoginRequest, AgentReplyRequest, AgentReplyResponse, AgentSession,
    CallbackRequest, ClaimRequest, CustomerMessageRequest, EscalateRequest, ForgetCustomerRequest,
    ForgetCustomerResponse, GetTicketRequest, ListAgentsRequest, ListAgentsResponse,
    ListTicketsRequest, ListTicketsResponse, QueueEvent, ReleaseRequest, SetPresenceRequest,
    TakeOverRequest, TicketDetail, TransferRequest, WatchQueueRequest,
};
use parla_proto::PeerChannel;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use crate::agents::{AgentAccount, AgentDirectory};
use crate::callers::Callers;
use crate::convert::{
    agent_to_pb, message_to_pb, now_ms, state_from_pb, ticket_to_pb, timestamp, wrap_up_to_pb,
};
use crate::queue::{HandoffQueue, QueueChange, QueueError};
use crate::store::{TicketFilter, TicketState};

/// `parla.v1.Handoff` over a [`HandoffQueue`].
#[derive(Clone)]
pub struct HandoffService {
    queue: Arc<OnceLock<HandoffQueue>>,
    callers: Callers,
    crm: Option<PeerChannel>,
}

impl HandoffService {
    /// The service for a ready `queue`, without agent sign-in (agents are
    /// named by the `agent_id` of each request).
    pub fn new(queue: HandoffQueue) -> Self {
        Self {
            queue: Arc::new(OnceLock::from(queue)),
            callers: Callers::default(),
            crm: None,
        }
    }

    /// A service whose queue is set later (when its database has opened);
    /// calls until then get UNAVAILABLE.
    pub fn pending(queue: Arc<OnceLock<HandoffQueue>>) -> Self {
        Self {
            queue,
            callers: Callers::default(),
            crm: None,
        }
    }

    /// Agent accounts; with `require_login`, agent calls need a session.
    pub fn with_agents(mut self, agents: Arc<AgentDirectory>, require_login: bool) -> Self {
        self.callers = Callers::new(agents, require_login);
        self
    }

    /// The CRM, where wrap-ups are written to the conversation's timeline.
    pub fn with_crm(mut self, crm: Option<PeerChannel>) -> Self {
        self.crm = crm;
        self
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

    fn directory(&self) -> Option<&AgentDirectory> {
        self.callers.directory()
    }

    fn capacity(&self, agent_id: &str) -> Option<u32> {
        self.directory()
            .and_then(|d| d.get(agent_id))
            .map(AgentAccount::capacity)
    }

    fn name_of(&self, agent_id: &str) -> String {
        self.directory()
            .and_then(|d| d.get(agent_id))
            .map(|a| a.name.clone())
            .unwrap_or_else(|| agent_id.to_owned())
    }

    fn to_pb(&self, t: crate::Ticket) -> pb::Ticket {
        ticket_to_pb(t, self.directory())
    }

    /// Writes the agent's wrap-up to the CRM timeline (logged on failure).
    async fn wrap_up(&self, ticket: &pb::Ticket, agent: &str, outcome: &str, note: &str) {
        let (Some(crm), Some(c)) = (self.crm.clone(), ticket.context.as_ref()) else {
            return;
        };
        let request = wrap_up_to_pb(c, &self.name_of(agent), outcome, note);
        if let Err(s) = CrmClient::new(crm).append_interaction(request).await {
            tracing::warn!(ticket = %ticket.id, error = %s.message(), "wrap-up not written to the crm timeline");
        }
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
        Ok(Response::new(self.to_pb(ticket)))
    }

    async fn list_tickets(
        &self,
        request: Request<ListTicketsRequest>,
    ) -> Result<Response<ListTicketsResponse>, Status> {
        let caller = self.callers.viewer(&request)?;
        let request = request.into_inner();
        let filter = TicketFilter {
            state: state_from_pb(request.state)?,
            language: non_empty(&request.language),
            skill: None,
        };
        let tickets = self.queue()?.list(filter).await.map_err(status)?;
        // Routing: an agent sees waiting tickets in their languages and
        // skills, and the tickets they hold; supervisors see everything.
        let visible = tickets.into_iter().filter(|t| match &caller {
            None => true,
            Some(a) if a.is_supervisor() => true,
            Some(a) => match t.state {
                TicketState::Waiting => a.routes(&t.context.language, &t.skill),
                _ => t.agent_id.as_deref() == Some(a.id.as_str()),
            },
        });
        Ok(Response::new(ListTicketsResponse {
            tickets: visible.map(|t| self.to_pb(t)).collect(),
        }))
    }

    async fn claim(&self, request: Request<ClaimRequest>) -> Result<Response<pb::Ticket>, Status> {
        let caller = self.callers.caller(&request)?;
        let request = request.into_inner();
        let agent = Callers::acting(&caller, &request.agent_id)?;
        let capacity = self.capacity(&agent);
        let ticket = self
            .queue()?
            .claim_within(request.ticket_id, agent, capacity)
            .await
            .map_err(status)?;
        Ok(Response::new(self.to_pb(ticket)))
    }

    async fn agent_reply(
        &self,
        request: Request<AgentReplyRequest>,
    ) -> Result<Response<AgentReplyResponse>, Status> {
        let caller = self.callers.caller(&request)?;
        let request = request.into_inner();
        let agent = Callers::acting(&caller, &request.agent_id)?;
        let name = self.name_of(&agent);
        let message = self
            .queue()?
            .reply(request.ticket_id, agent, name, request.text)
            .await
            .map_err(status)?;
        Ok(Response::new(AgentReplyResponse {
            message_id: message.id,
        }))
    }

    async fn release(
        &self,
        request: Request<ReleaseRequest>,
    ) -> Result<Response<pb::Ticket>, Status> {
        let caller = self.callers.caller(&request)?;
        let request = request.into_inner();
        let agent = Callers::acting(&caller, &request.agent_id)?;
        let ticket = self
            .queue()?
            .release(request.ticket_id, agent.clone(), request.return_to_bot)
            .await
            .map_err(status)?;
        let ticket = self.to_pb(ticket);
        self.wrap_up(&ticket, &agent, &request.outcome, &request.note)
            .await;
        Ok(Response::new(ticket))
    }

    type WatchQueueStream = QueueStream;

    async fn watch_queue(
        &self,
        request: Request<WatchQueueRequest>,
    ) -> Result<Response<Self::WatchQueueStream>, Status> {
        // Without a service-token check the feed stays open to Parla's
        // services as before; a session sent must be valid either way.
        let token = self.callers.session_token(&request);
        if ServiceTokenCheck::of(&request).is_some() {
            self.callers.viewer(&request)?;
        } else if token.is_some() {
            self.callers.caller(&request)?;
        }
        // A feed opened with an agent session lives as long as the session:
        // each change re-checks it, and an expired one ends the stream.
        let session = token.zip(self.callers.agents());
        let skill = non_empty(&request.into_inner().skill);
        let me = self.clone();
        let mut changes = self.queue()?.subscribe();
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let change = match changes.recv().await {
                    Ok(c) => c,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::warn!(
                            missed,
                            "queue watcher fell behind; it should list tickets again"
                        );
                        continue;
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                };
                if let Some((token, dir)) = &session {
                    if dir.session(token).is_err() {
                        tracing::info!("queue feed ended: the agent session expired");
                        let _ = tx
                            .send(Err(Status::unauthenticated(
                                "the agent session expired: sign in again (AgentLogin) and reopen the queue",
                            )))
                            .await;
                        return;
                    }
                }
                if skill.as_ref().is_some_and(|s| *s != change.ticket().skill) {
                    continue;
                }
                let event = match change {
                    QueueChange::Ticket(t) => QueueEvent {
                        ticket: Some(me.to_pb(t)),
                        message: None,
                    },
                    QueueChange::Message(t, m) => {
                        let cid = t.context.conversation_id.clone();
                        QueueEvent {
                            ticket: Some(me.to_pb(t)),
                            message: Some(message_to_pb(m, &cid)),
                        }
                    }
                };
                if tx.send(Ok(event)).await.is_err() {
                    return; // the watcher went away
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }

    async fn agent_login(
        &self,
        request: Request<AgentLoginRequest>,
    ) -> Result<Response<AgentSession>, Status> {
        let dir = self.callers.agents().ok_or_else(|| {
            Status::failed_precondition("no agent accounts are configured (`[[handoff.agents]]`)")
        })?;
        let r = request.into_inner();
        if r.username.len() > 128 || r.password.len() > 1024 {
            return Err(Status::invalid_argument("username or password too long"));
        }
        let d = Arc::clone(&dir);
        let (token, account, ttl) =
            tokio::task::spawn_blocking(move || d.login(&r.username, &r.password))
                .await
                .map_err(|e| Status::internal(format!("login task failed: {e}")))?
                .map_err(|e| {
                    tracing::info!("agent login refused");
                    Status::unauthenticated(e.to_string())
                })?;
        tracing::info!(agent = %account.id, "agent signed in");
        let active = self
            .queue()?
            .held_count(account.id.clone())
            .await
            .map_err(status)?;
        Ok(Response::new(AgentSession {
            token,
            agent: Some(agent_to_pb(&account, true, active)),
            expires_at: Some(timestamp(now_ms() + ttl.as_millis() as i64)),
        }))
    }

    async fn set_presence(
        &self,
        request: Request<SetPresenceRequest>,
    ) -> Result<Response<pb::Agent>, Status> {
        let caller = self
            .callers
            .caller(&request)?
            .ok_or_else(|| Status::unauthenticated("sign in first"))?;
        let available = request.into_inner().available;
        if let Some(d) = self.directory() {
            d.set_available(&caller.id, available);
        }
        let active = self
            .queue()?
            .held_count(caller.id.clone())
            .await
            .map_err(status)?;
        Ok(Response::new(agent_to_pb(&caller, available, active)))
    }

    async fn list_agents(
        &self,
        request: Request<ListAgentsRequest>,
    ) -> Result<Response<ListAgentsResponse>, Status> {
        self.callers.caller(&request)?;
        let Some(dir) = self.directory() else {
            return Ok(Response::new(ListAgentsResponse::default()));
        };
        let mut agents = Vec::new();
        for a in dir.all() {
            let active = self
                .queue()?
                .held_count(a.id.clone())
                .await
                .map_err(status)?;
            agents.push(agent_to_pb(a, dir.available(&a.id), active));
        }
        agents.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(Response::new(ListAgentsResponse { agents }))
    }

    async fn get_ticket(
        &self,
        request: Request<GetTicketRequest>,
    ) -> Result<Response<TicketDetail>, Status> {
        let caller = self.callers.caller(&request)?;
        let (ticket, messages) = self
            .queue()?
            .detail(request.into_inner().ticket_id)
            .await
            .map_err(status)?;
        if let Some(a) = &caller {
            let mine = ticket.agent_id.as_deref() == Some(a.id.as_str());
            let open = ticket.state == TicketState::Waiting
                && a.routes(&ticket.context.language, &ticket.skill);
            if !(a.is_supervisor() || mine || open) {
                return Err(Status::permission_denied(format!(
                    "ticket {} is not routed to you",
                    ticket.id
                )));
            }
        }
        let cid = ticket.context.conversation_id.clone();
        Ok(Response::new(TicketDetail {
            ticket: Some(self.to_pb(ticket)),
            messages: messages
                .into_iter()
                .map(|m| message_to_pb(m, &cid))
                .collect(),
        }))
    }

    async fn transfer(
        &self,
        request: Request<TransferRequest>,
    ) -> Result<Response<pb::Ticket>, Status> {
        let caller = self.callers.caller(&request)?;
        let r = request.into_inner();
        if let Some(dir) = self.directory() {
            if dir.get(&r.to_agent_id).is_none() {
                return Err(Status::not_found(format!("no agent {:?}", r.to_agent_id)));
            }
        }
        // The holder transfers; a supervisor may move anyone's ticket.
        let by = match &caller {
            Some(a) if a.is_supervisor() => None,
            Some(a) => Some(a.id.clone()),
            None => None,
        };
        let capacity = self.capacity(&r.to_agent_id);
        let ticket = self
            .queue()?
            .transfer(r.ticket_id, by, r.to_agent_id, capacity)
            .await
            .map_err(status)?;
        Ok(Response::new(self.to_pb(ticket)))
    }

    async fn take_over(
        &self,
        request: Request<TakeOverRequest>,
    ) -> Result<Response<pb::Ticket>, Status> {
        let caller = self
            .callers
            .caller(&request)?
            .ok_or_else(|| Status::unauthenticated("sign in as a supervisor first"))?;
        if !caller.is_supervisor() {
            return Err(Status::permission_denied(
                "only supervisors can take a conversation over",
            ));
        }
        let ticket = self
            .queue()?
            .take_over(request.into_inner().ticket_id, caller.id)
            .await
            .map_err(status)?;
        Ok(Response::new(self.to_pb(ticket)))
    }

    async fn customer_message(
        &self,
        request: Request<CustomerMessageRequest>,
    ) -> Result<Response<pb::TicketMessage>, Status> {
        let r = request.into_inner();
        let (ticket, _) = self
            .queue()?
            .detail(r.ticket_id.clone())
            .await
            .map_err(status)?;
        let m = self
            .queue()?
            .customer_message(r.ticket_id, r.text)
            .await
            .map_err(status)?;
        Ok(Response::new(message_to_pb(
            m,
            &ticket.context.conversation_id,
        )))
    }

    async fn request_callback(
        &self,
        request: Request<CallbackRequest>,
    ) -> Result<Response<pb::TicketMessage>, Status> {
        let r = request.into_inner();
        let m = self
            .queue()?
            .callback_request(r.ticket_id, r.phone, r.reason)
            .await
            .map_err(status)?;
        let (ticket, _) = self
            .queue()?
            .detail(m.ticket_id.clone())
            .await
            .map_err(status)?;
        Ok(Response::new(message_to_pb(
            m,
            &ticket.context.conversation_id,
        )))
    }

    async fn forget_customer(
        &self,
        request: Request<ForgetCustomerRequest>,
    ) -> Result<Response<ForgetCustomerResponse>, Status> {
        let customer_id = parla_proto::forget::customer_id(request.into_inner())?;
        let removed = self
            .queue()?
            .forget_customer(customer_id)
            .await
            .map_err(status)?;
        Ok(Response::new(parla_proto::forget::response(
            removed, "ticket",
        )))
    }
}
