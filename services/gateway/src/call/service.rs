//! The gRPC edge of voice calls (`parla.v1.Conversation.Call`) and the
//! call starter that the SIP edge shares.

use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use parla_proto::v1 as pb;
use parla_proto::v1::call_event::Event as Out;
use parla_proto::v1::call_request::Request as In;
use parla_proto::v1::conversation_server::{Conversation, ConversationServer};
use parla_proto::PeerChannel;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

use super::metrics::CallMetrics;
use super::session::{End, Session};
use super::{Backchannels, CallConfig, CallError, CallInput, CallSetup};

/// Channels to the services a call uses (lazy: connected on first use).
#[derive(Debug, Clone)]
pub struct Backends {
    /// Speech recognition.
    pub asr: PeerChannel,
    /// Speech synthesis.
    pub tts: PeerChannel,
    /// Dialogue manager.
    pub dialogue: PeerChannel,
}

/// A running call: feed it caller input, read its events; `done` tells how
/// it ended.
pub struct CallHandle {
    /// Caller audio, digits, hang-up.
    pub input: mpsc::Sender<CallInput>,
    /// Events for the caller (agent audio, transcripts, ...).
    pub events: mpsc::Receiver<pb::CallEvent>,
    /// The call's outcome: `Ok` once it ended normally.
    pub done: tokio::task::JoinHandle<Result<(), CallError>>,
}

/// Serves voice calls; shared by the gRPC and SIP edges.
#[derive(Clone)]
pub struct CallService {
    backends: Backends,
    config: Arc<CallConfig>,
    metrics: Arc<CallMetrics>,
    backchannels: Arc<Backchannels>,
}

impl CallService {
    /// A service calling `backends`, configured by `config`.
    pub fn new(backends: Backends, config: CallConfig, metrics: Arc<CallMetrics>) -> Self {
        Self {
            backchannels: Arc::new(Backchannels::new(&config.backchannels)),
            backends,
            config: Arc::new(config),
            metrics,
        }
    }

    /// The call settings.
    pub fn config(&self) -> &CallConfig {
        &self.config
    }

    /// The metrics of every call.
    pub fn metrics(&self) -> Arc<CallMetrics> {
        Arc::clone(&self.metrics)
    }

    /// The tonic server of `Conversation`.
    pub fn into_server(self) -> ConversationServer<Self> {
        ConversationServer::new(self)
    }

    /// Starts a call: opens its ASR and dialogue streams and spawns its loop.
    pub async fn start_call(&self, setup: CallSetup) -> Result<CallHandle, CallError> {
        let active = self.metrics.calls_active.load(Ordering::Relaxed) as usize;
        if active >= self.config.max_calls {
            tracing::warn!(active, "call refused: at capacity");
            return Err(CallError::Busy(self.config.max_calls));
        }
        let (out_tx, out_rx) = mpsc::channel(256);
        let (speech_tx, speech_rx) = mpsc::channel(256);
        let (in_tx, in_rx) = mpsc::channel(256);
        let edge = setup.edge;
        let transfer_to = setup.transfer_to.clone();
        let (session, streams) = Session::open(
            &self.backends,
            Arc::clone(&self.config),
            Arc::clone(&self.metrics),
            Arc::clone(&self.backchannels),
            setup,
            out_tx.clone(),
            speech_tx,
        )
        .await?;
        let metrics = Arc::clone(&self.metrics);
        let done = tokio::spawn(async move {
            let started = std::time::Instant::now();
            let result = session.run(streams, in_rx, speech_rx).await;
            let duration_ms = started.elapsed().as_millis() as u64;
            match result {
                Ok(End::Ended(reason, ticket_id)) => {
                    tracing::info!(edge, reason, duration_ms, "call ended");
                    let transfer_to = if reason == "transferred" {
                        transfer_to
                    } else {
                        String::new()
                    };
                    let _ = out_tx
                        .send(pb::CallEvent {
                            event: Some(Out::Ended(pb::CallEnded {
                                reason: reason.to_owned(),
                                ticket_id,
                                transfer_to,
                            })),
                        })
                        .await;
                    Ok(())
                }
                Ok(End::Gone) => {
                    tracing::info!(edge, duration_ms, "call ended: the caller's side went away");
                    Ok(())
                }
                Err(e) => {
                    metrics.calls_failed.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(edge, duration_ms, error = %e, "call failed");
                    let _ = out_tx
                        .send(pb::CallEvent {
                            event: Some(Out::Ended(pb::CallEnded {
                                reason: "error".into(),
                                ..Default::default()
                            })),
                        })
                        .await;
                    Err(e)
                }
            }
        });
        Ok(CallHandle {
            input: in_tx,
            events: out_rx,
            done,
        })
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::CallEvent, Status>> + Send>>;

#[tonic::async_trait]
impl Conversation for CallService {
    type CallStream = EventStream;

    async fn call(
        &self,
        request: Request<Streaming<pb::CallRequest>>,
    ) -> Result<Response<Self::CallStream>, Status> {
        let mut inbound = request.into_inner();
        let idle = Duration::from_secs(u64::from(self.config.idle_timeout_secs));
        let first = match tokio::time::timeout(idle, inbound.message()).await {
            Err(_) => return Err(refuse(CallError::Vanished(self.config.idle_timeout_secs))),
            Ok(Err(status)) => return Err(status),
            Ok(Ok(None)) => {
                return Err(refuse(CallError::Protocol(
                    "the stream ended before its start message".into(),
                )))
            }
            Ok(Ok(Some(m))) => m,
        };
        let start =
            match first.request {
                Some(In::Start(s)) => s,
                Some(In::Audio(_)) => return Err(refuse(CallError::Protocol(
                    "audio arrived before the call's start message: send `start` (CallStart) first"
                        .into(),
                ))),
                _ => {
                    return Err(refuse(CallError::Protocol(
                        "the first message of a call must be `start` (CallStart)".into(),
                    )))
                }
            };
        let setup = CallSetup::from_start(&start).map_err(refuse)?;
        tracing::info!(edge = "grpc", language = %setup.language, encoding = setup.format.encoding as i32, rate = setup.format.rate, "call starting");
        let handle = self.start_call(setup).await.map_err(refuse)?;
        let CallHandle {
            input,
            mut events,
            done,
        } = handle;
        // Client messages into the call.
        tokio::spawn(async move {
            loop {
                let item = match inbound.next().await {
                    Some(Ok(m)) => m,
                    Some(Err(status)) => {
                        tracing::info!(%status, "call client stream broke; hanging up");
                        break;
                    }
                    None => break,
                };
                let msg = match item.request {
                    Some(In::Audio(chunk)) => CallInput::Audio(chunk),
                    Some(In::Dtmf(d)) => CallInput::Dtmf(d),
                    Some(In::Hangup(_)) => CallInput::Hangup,
                    Some(In::Start(_)) => {
                        CallInput::Invalid("`start` may come only once, first".into())
                    }
                    None => CallInput::Invalid("empty CallRequest".into()),
                };
                if input.send(msg).await.is_err() {
                    return;
                }
            }
            let _ = input.send(CallInput::Hangup).await;
        });
        // Call events out, then the error status if the call failed.
        let (tx, rx) = mpsc::channel(256);
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                if tx.send(Ok(event)).await.is_err() {
                    return; // the client is gone: dropping `events` ends the call
                }
            }
            if let Ok(Err(e)) = done.await {
                let _ = tx.send(Err(e.into_status())).await;
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

/// Logs a refused call and converts the error.
fn refuse(e: CallError) -> Status {
    tracing::info!(error = %e, "call refused");
    e.into_status()
}
