//! `parla.v1.Dialogue.Converse`: one bidirectional stream per conversation. The first message
//! starts it (the customer is identified and their context loaded through the CRM); each turn is
//! understood, answered from templates and CRM facts, streamed sentence by sentence, written to
//! the CRM timeline and, when the policy says so, escalated to the hand-off queue before the
//! final event is sent. A CRM or queue that is down costs the customer nothing but an honest
//! short answer and a hand-off attempt.

mod bargein;
mod catalogue;
mod commit;
mod convert;
mod flow;
mod price;
mod records;
mod resume;

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use parla_proto::v1 as pb;
use parla_proto::v1::converse_request::Request as In;
use parla_proto::v1::crm_client::CrmClient;
use parla_proto::v1::customer_hint::Hint;
use parla_proto::v1::dialogue_server::{Dialogue, DialogueServer};
use parla_proto::v1::reply_event::Event;
use parla_proto::PeerChannel;
use tokio::sync::{mpsc, OnceCell};
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::Stream;
use tonic::{Request, Response, Status, Streaming};

pub use crate::turn::{model_input, run_turn, sentences, ConversationState, TurnOutcome};
use convert::{channel_from_pb, decision_to_pb, intent_to_pb, sentiment_to_pb, tone_to_pb};

use crate::{Channel, DialogueConfig, Language, Templates, Understanding, MAX_CHARS};
use commit::{taken_back, Gate, Window};
use parla_flows::Open;

/// What the service needs once loaded: the understanding and the reply templates.
#[derive(Debug)]
pub struct Engine {
    /// Intent, slots and sentiment.
    pub nlu: Understanding,
    /// Reply templates.
    pub templates: Templates,
    /// The language model (tie-breaking, and phrasing when capable); `None` for templates only.
    pub llm: Option<crate::DialogueModel>,
}

/// The `Dialogue` gRPC service; answers UNAVAILABLE until its engine is loaded.
#[derive(Clone)]
pub struct DialogueService {
    engine: Arc<OnceCell<Arc<Engine>>>,
    config: Arc<DialogueConfig>,
    crm: Option<PeerChannel>,
    handoff: Option<PeerChannel>,
    flows: Option<Arc<parla_flows::FlowEngine>>,
    catalogue: Arc<catalogue::Catalogue>,
}

impl DialogueService {
    /// A service whose engine `load` fills later, reaching the CRM and the hand-off queue over
    /// these (lazy) channels; `None` when the service is not configured.
    pub fn new(
        engine: Arc<OnceCell<Arc<Engine>>>,
        config: DialogueConfig,
        crm: Option<PeerChannel>,
        handoff: Option<PeerChannel>,
    ) -> Self {
        DialogueService {
            engine,
            config: Arc::new(config),
            crm,
            handoff,
            flows: None,
            catalogue: Arc::default(),
        }
    }

    /// Runs these flows (returns, recommendations, order status, the developer's own) and
    /// publishes conversation events on their bus.
    pub fn with_flows(mut self, flows: Arc<parla_flows::FlowEngine>) -> Self {
        self.flows = Some(flows);
        self
    }

    /// The tonic server.
    pub fn into_server(self) -> DialogueServer<Self> {
        DialogueServer::new(self)
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::ReplyEvent, Status>> + Send>>;

#[tonic::async_trait]
impl Dialogue for DialogueService {
    type ConverseStream = EventStream;

    async fn converse(
        &self,
        request: Request<Streaming<pb::ConverseRequest>>,
    ) -> Result<Response<Self::ConverseStream>, Status> {
        let engine = self.engine.get().cloned().ok_or_else(|| {
            Status::unavailable("dialogue is still loading its models; retry shortly")
        })?;
        let mut inbound = request.into_inner();
        let start = match inbound.message().await.map_err(unreadable)? {
            Some(pb::ConverseRequest {
                request: Some(In::Start(start)),
            }) => start,
            _ => {
                tracing::info!("converse: first message is not a start");
                return Err(Status::invalid_argument(
                    "the first message of a conversation must be `start` (ConversationStart)",
                ));
            }
        };
        let (tx, rx) = mpsc::channel(16);
        let this = self.clone();
        tokio::spawn(async move {
            if let Err(status) = this.run(engine, start, inbound, &tx).await {
                let _ = tx.send(Err(status)).await;
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

type Tx = mpsc::Sender<Result<pb::ReplyEvent, Status>>;

impl DialogueService {
    async fn run(
        &self,
        engine: Arc<Engine>,
        start: pb::ConversationStart,
        mut inbound: Streaming<pb::ConverseRequest>,
        tx: &Tx,
    ) -> Result<(), Status> {
        let id = if start.conversation_id.trim().is_empty() {
            new_conversation_id()
        } else {
            start.conversation_id.clone()
        };
        let channel = channel_from_pb(start.channel);
        let mut state = ConversationState::new(
            id,
            channel,
            Language::parse(&start.language),
            self.config.trend_decay,
        );
        if let Some(flows) = &self.flows {
            state.today = flows.today();
        }
        if let Some(Hint::PhoneNumber(p)) = start.customer.as_ref().and_then(|c| c.hint.as_ref()) {
            state.caller_phone = Some(p.clone());
        }
        self.identify(&mut state, start.customer).await;
        self.resume(&mut state).await;
        if engine.llm.as_ref().is_some_and(|m| m.phrases) {
            state.catalogue = self.catalogue.names(self.crm.as_ref()).await;
        }
        let mut state = Some(state);
        // Messages read while a spoken turn waited for a retraction.
        let mut backlog: VecDeque<pb::ConverseRequest> = VecDeque::new();
        loop {
            let message = match backlog.pop_front() {
                Some(m) => m,
                None => match inbound.message().await.map_err(unreadable)? {
                    Some(m) => m,
                    None => break,
                },
            };
            match message.request {
                Some(In::Turn(t)) => {
                    let arrived = tokio::time::Instant::now();
                    let text = validate(&t.text)?;
                    let taken = state.take().ok_or_else(|| Status::internal("state lost"))?;
                    let before = (taken.channel == Channel::Voice
                        && self.config.voice_commit_ms > 0)
                        .then(|| taken.clone());
                    let lang = Language::parse(&t.language);
                    let e = Arc::clone(&engine);
                    let cfg = Arc::clone(&self.config);
                    let (s, outcome) = tokio::task::spawn_blocking(move || {
                        let mut s = taken;
                        let o = run_turn(
                            &e.nlu,
                            &e.templates,
                            &cfg,
                            &mut s,
                            &text,
                            lang,
                            t.asr_confidence,
                        );
                        (s, (o, text))
                    })
                    .await
                    .map_err(|e| Status::internal(format!("turn failed: {e}")))?;
                    let (mut outcome, text) = outcome;
                    let commit = arrived + Duration::from_millis(self.config.voice_commit_ms);
                    let mut window = before.map(|b| Window::new(b, commit, outcome.index));
                    // A hand-off the understanding decided waits for the window first.
                    if outcome.decision.handoff {
                        if let Some(w) = taken_back(&mut window, &mut inbound, &mut backlog).await {
                            if !withdraw(&mut state, w, s.turn_index, outcome.index, tx).await? {
                                return Ok(());
                            }
                            continue;
                        }
                    }
                    let s = state.insert(s);
                    let waiting = s.flow.active() && s.flow.waiting;
                    let priced = self
                        .answer_price(&engine, s, &text, &mut outcome)
                        .await
                        .then(|| outcome.reply.clone());
                    if priced.is_none() || waiting {
                        let kept = match window.as_mut() {
                            Some(w) => {
                                let mut gate = Gate::new(w, &mut inbound, &mut backlog);
                                self.run_flow(&engine, s, &text, &mut outcome, &mut gate)
                                    .await
                            }
                            None => {
                                self.run_flow(&engine, s, &text, &mut outcome, &mut Open)
                                    .await
                            }
                        };
                        if !kept {
                            let turns = s.turn_index;
                            let w = window
                                .take()
                                .ok_or_else(|| Status::internal("window lost"))?;
                            if !withdraw(&mut state, w, turns, outcome.index, tx).await? {
                                return Ok(());
                            }
                            continue;
                        }
                    }
                    // A hand-off the flow asked for waits for the window too.
                    if outcome.decision.handoff {
                        if let Some(w) = taken_back(&mut window, &mut inbound, &mut backlog).await {
                            let turns = s.turn_index;
                            if !withdraw(&mut state, w, turns, outcome.index, tx).await? {
                                return Ok(());
                            }
                            continue;
                        }
                    }
                    // A flow that kept the turn asks its question again after the price.
                    if let Some(price) = priced.filter(|p| *p != outcome.reply) {
                        outcome.reply = format!("{price} {}", outcome.reply);
                    }
                    if let Some(last) = s.transcript.last_mut() {
                        *last = format!("parla: {}", outcome.reply);
                    }
                    s.answered = (!s.flow.waiting
                        && !matches!(
                            outcome.step,
                            "ask_order_id" | "clarify" | "out_of_scope" | "injection"
                        ))
                    .then_some(outcome.analysis.intent);
                    crate::phrasing::finish(&engine, &self.config, s, &text, &mut outcome).await;
                    let index = outcome.index;
                    let record = window.is_none();
                    let Some(final_) = self.answer(s, &text, &outcome, record, tx).await else {
                        return Ok(());
                    };
                    // Said at once; recorded once the caller can no longer take it back.
                    if let Some(w) = window.as_mut() {
                        if Gate::new(w, &mut inbound, &mut backlog).taken_back().await {
                            if let Some(e) = w.take_error() {
                                return Err(e);
                            }
                            let turns = s.turn_index;
                            let mut before = window
                                .take()
                                .ok_or_else(|| Status::internal("window lost"))?
                                .before;
                            before.turn_index = turns;
                            tracing::info!(conversation = %before.id, turn = index, "answered turn taken back: the caller went on; not recorded");
                            state = Some(before);
                            continue;
                        }
                    }
                    self.record_turn(s, &text, &outcome, &final_).await;
                }
                Some(In::BargeIn(b)) => {
                    self.interrupted(state.as_mut(), b.turn_index, b.heard_chars)
                        .await;
                }
                // Too late to drop: the turn's actions ran; none of its reply was heard.
                Some(In::Retract(r)) => self.interrupted(state.as_mut(), r.turn_index, 0).await,
                Some(In::Start(_)) => {
                    return Err(Status::invalid_argument(
                        "`start` may come only once, first",
                    ));
                }
                None => return Err(Status::invalid_argument("empty ConverseRequest")),
            }
        }
        Ok(())
    }

    /// The customer heard only `heard_chars` of the reply to `turn_index` (a barge-in, or a
    /// retraction after the turn's actions ran): remembered and put on the timeline.
    async fn interrupted(
        &self,
        state: Option<&mut ConversationState>,
        turn_index: u32,
        heard_chars: u32,
    ) {
        if let Some(s) = state {
            s.heard.push((turn_index, heard_chars));
            tracing::info!(conversation = %s.id, turn = turn_index, heard_chars, "barge-in");
            bargein::record(self.crm.clone(), s, turn_index, heard_chars).await;
        }
    }

    /// Continues a conversation the CRM timeline already holds (a reopened chat); a new one,
    /// or a CRM that does not answer, starts empty.
    async fn resume(&self, state: &mut ConversationState) {
        let Some(channel) = self.crm.clone().filter(|_| !state.crm_down) else {
            return;
        };
        let stored = CrmClient::new(channel)
            .get_interaction(pb::GetInteractionRequest {
                conversation_id: state.id.clone(),
            })
            .await;
        match stored {
            Ok(i) => {
                let i = i.into_inner();
                match resume::resume(state, &i) {
                    Some(r) => {
                        tracing::info!(conversation = %state.id, turns = r.turns, "conversation resumed from the timeline")
                    }
                    None if !i.turns.is_empty() => {
                        tracing::warn!(conversation = %state.id, "stored conversation belongs to another customer; not resumed")
                    }
                    None => {}
                }
            }
            Err(s) if s.code() == tonic::Code::NotFound => {}
            Err(s) => {
                tracing::warn!(conversation = %state.id, error = %s.message(), "crm timeline not read; conversation starts afresh")
            }
        }
    }

    /// Says the reply of turn `o`: escalates first when it hands off (the final event carries
    /// the ticket), records the turn when `record` (else the caller does once it is final),
    /// then streams it sentence by sentence and sends the final event, which it returns; `None`
    /// when the client has gone.
    async fn answer(
        &self,
        state: &mut ConversationState,
        text: &str,
        o: &TurnOutcome,
        record: bool,
        tx: &Tx,
    ) -> Option<pb::ReplyFinal> {
        let mut decision = decision_to_pb(&o.decision);
        if o.decision.handoff {
            // One ticket per hand-off: a case the flow opened at this turn (a late delivery
            // that is also handed off) is the hand-off's ticket, and a conversation already
            // handed off keeps its ticket.
            let case = o
                .actions
                .iter()
                .find(|a| a.ok && a.name == "open_case" && !a.result.is_empty())
                .map(|a| a.result.clone());
            decision.ticket_id = match state.ticket.clone().or(case) {
                Some(id) => id,
                None => self.escalate(state, o, &decision).await.unwrap_or_default(),
            };
            if !decision.ticket_id.is_empty() {
                state.ticket = Some(decision.ticket_id.clone());
            }
        }
        tracing::info!(
            conversation = %state.id, turn = o.index, intent = o.analysis.intent.as_str(),
            tone = o.tone.as_str(), step = o.step, handoff = o.decision.handoff, "turn answered"
        );
        let final_ = pb::ReplyFinal {
            turn_index: o.index,
            text: o.reply.clone(),
            sentiment: Some(sentiment_to_pb(o)),
            confidence: o.confidence,
            tone: tone_to_pb(o.tone) as i32,
            intent: Some(intent_to_pb(o)),
            flow_state: Some(o.flow_state.clone().unwrap_or_default()),
            actions: o.actions.clone(),
            handoff: Some(decision),
            language: o.language.code().to_owned(),
            rejected_replies: o.rejected_replies,
            model_phrased: o.model_phrased,
        };
        if record {
            self.record_turn(state, text, o, &final_).await;
        }
        for part in sentences(&o.reply) {
            let delta = Event::Delta(pb::ReplyDelta {
                text: part,
                turn_index: o.index,
            });
            if tx
                .send(Ok(pb::ReplyEvent { event: Some(delta) }))
                .await
                .is_err()
            {
                return None;
            }
        }
        let sent = tx
            .send(Ok(pb::ReplyEvent {
                event: Some(Event::Final(final_.clone())),
            }))
            .await;
        sent.ok().map(|()| final_)
    }

    /// Writes an answered turn to the CRM timeline and publishes it for `Events.Subscribe`.
    async fn record_turn(
        &self,
        state: &mut ConversationState,
        text: &str,
        o: &TurnOutcome,
        final_: &pb::ReplyFinal,
    ) {
        let decision = final_.handoff.clone().unwrap_or_default();
        self.record(state, text, o, &decision).await;
        self.publish_turn(state, final_);
    }
}

/// Drops a spoken turn taken back before it acted: the conversation is as before it (but
/// numbered on, so a reply never takes the number of an earlier one), and the client gets an
/// empty final event for it. False when the client has gone.
async fn withdraw(
    state: &mut Option<ConversationState>,
    mut window: Window,
    turns: u32,
    index: u32,
    tx: &Tx,
) -> Result<bool, Status> {
    if let Some(e) = window.take_error() {
        return Err(e);
    }
    let mut before = window.before;
    before.turn_index = turns;
    tracing::info!(conversation = %before.id, turn = index, "turn retracted before its actions: the caller went on");
    *state = Some(before);
    let event = pb::ReplyEvent {
        event: Some(Event::Final(pb::ReplyFinal {
            turn_index: index,
            ..Default::default()
        })),
    };
    Ok(tx.send(Ok(event)).await.is_ok())
}

/// A message the server could not decode (a text that is not UTF-8, a broken frame) is the
/// client's error: INVALID_ARGUMENT with the decoder's reason, and a log line. Other stream
/// errors pass unchanged. (Unary calls get the same from the server's `unreadable` layer; a
/// stream's later messages fail inside the handler, so it maps them here.)
fn unreadable(status: Status) -> Status {
    match parla_proto::undecodable(&status) {
        Some(invalid) => {
            tracing::info!(error = %status.message(), "converse: unreadable message");
            invalid
        }
        None => status,
    }
}

/// Rejects empty and oversized turns and invalid text.
fn validate(text: &str) -> Result<String, Status> {
    if text.trim().is_empty() {
        tracing::info!("converse: empty turn");
        return Err(Status::invalid_argument("turn.text is empty"));
    }
    let n = text.chars().count();
    if n > MAX_CHARS {
        tracing::info!(chars = n, "converse: oversized turn");
        return Err(Status::invalid_argument(format!(
            "turn.text has {n} characters; at most {MAX_CHARS} are allowed"
        )));
    }
    Ok(text.to_owned())
}

fn new_conversation_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("conv-{nanos:x}")
}
