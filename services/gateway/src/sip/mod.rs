//! SIP/RTP phone calls. SIP parsing, transactions and dialogs come from
//! `rsipstack` (maintained, small dependency tree, UDP and TCP transports;
//! see /work/shared/TELEPHONY.md); SDP and RTP for G.711 are ours
//! (`sdp.rs`, `rtp.rs`), and so is the peak limiter of the agent's voice
//! (`limiter.rs`). Each answered call drives the same pipeline as
//! `Conversation.Call` (`crate::call`); a hand-off transfers the caller to
//! the configured agent URI (`transfer.rs`): Parla hangs up once the agent
//! has answered, and stays with the caller when the transfer fails.

mod limiter;
mod media;
pub mod rtp;
pub mod sdp;
pub mod transfer;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use rsipstack::dialog::dialog::{Dialog, DialogState, DialogStateReceiver, DialogStateSender};
use rsipstack::dialog::dialog_layer::DialogLayer;
use rsipstack::dialog::invite_dialog::InviteDialog;
use rsipstack::sip::prelude::HeadersExt;
use rsipstack::sip::{Header, Method, StatusCode};
use rsipstack::transport::tcp_listener::TcpListenerConnection;
use rsipstack::transport::udp::UdpConnection;
use rsipstack::transport::{SipConnection, TransportLayer};
use rsipstack::EndpointBuilder;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::call::{CallService, CallSetup, Format, Opening};
use media::{Media, MediaControl};
use parla_proto::v1::handoff_client::HandoffClient;
use parla_proto::v1::CallbackRequest;
use parla_proto::PeerChannel;
use std::time::Duration;

/// SIP settings (`[gateway.sip]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SipConfig {
    /// Address to answer SIP calls on, e.g. "127.0.0.1:5070"; empty: off.
    /// UDP, and TCP on the same port when `tcp` is on.
    pub listen: String,
    /// Also answer over TCP (same address and port as UDP).
    pub tcp: bool,
    /// Language of phone calls ("auto" to detect).
    pub language: String,
    /// Where a hand-off transfers the caller (REFER), e.g.
    /// "sip:agents@pbx.example.com"; empty: the call ends after the reply.
    pub transfer_uri: String,
    /// Jitter buffer delay, in 20 ms frames.
    pub jitter_frames: usize,
    /// How long a transfer may take until the agent answers; then Parla
    /// takes the caller back and asks for a call-back.
    pub transfer_timeout_secs: u32,
}

impl Default for SipConfig {
    fn default() -> Self {
        Self {
            listen: String::new(),
            tcp: true,
            language: "en".into(),
            transfer_uri: String::new(),
            jitter_frames: 3,
            transfer_timeout_secs: 20,
        }
    }
}

/// What went wrong starting the SIP listener.
#[derive(Debug, thiserror::Error)]
pub enum SipError {
    /// The listen address is not an address.
    #[error("`gateway.sip.listen` is {0:?}: give an address such as 127.0.0.1:5070")]
    BadAddress(String),
    /// The stack could not start.
    #[error("sip: {0}")]
    Stack(String),
}

struct Shared {
    calls: CallService,
    /// The hand-off queue, for call-back requests after a failed transfer.
    handoff: Option<PeerChannel>,
    /// Parla's own SIP URI (Referred-By of its transfers).
    uri: String,
    config: SipConfig,
    layer: Arc<DialogLayer>,
    state_tx: DialogStateSender,
    ip: IpAddr,
    /// Media controls of answered calls, and offers awaiting an answer.
    controls: Mutex<HashMap<String, mpsc::Sender<MediaControl>>>,
    offers: Mutex<HashMap<String, sdp::Offer>>,
    /// RTP ports of answered calls.
    ports: Mutex<HashMap<String, u16>>,
    /// Transfers under way: where the progress their NOTIFYs report goes.
    transfers: Mutex<HashMap<String, mpsc::Sender<transfer::Progress>>>,
}

/// Starts answering SIP calls on `config.listen`; returns the bound address.
/// `handoff` is the hand-off queue, told when a transfer fails.
pub async fn start(
    config: SipConfig,
    calls: CallService,
    handoff: Option<PeerChannel>,
) -> Result<SocketAddr, SipError> {
    let addr: SocketAddr = config
        .listen
        .parse()
        .map_err(|_| SipError::BadAddress(config.listen.clone()))?;
    let token = rsipstack::platform::CancellationToken::new();
    let transport = TransportLayer::new(token.clone());
    let udp = UdpConnection::create_connection(addr, None, Some(token.child_token()))
        .await
        .map_err(|e| SipError::Stack(e.to_string()))?;
    let bound = udp
        .get_addr()
        .get_socketaddr()
        .map_err(|e| SipError::Stack(e.to_string()))?;
    transport.add_transport(udp.into());
    // The TCP listener binds when the endpoint serves; try the port here
    // first: when it is taken (UDP got it, TCP did not), answer on UDP only.
    let tcp = config.tcp
        && match std::net::TcpListener::bind(bound) {
            Ok(_) => true,
            Err(e) => {
                tracing::warn!(address = %bound, error = %e, "sip: tcp port unavailable; answering on udp only");
                false
            }
        };
    if tcp {
        let listener = TcpListenerConnection::new(bound, None)
            .await
            .map_err(|e| SipError::Stack(e.to_string()))?;
        transport.add_transport(SipConnection::TcpListener(listener));
    }
    let endpoint = EndpointBuilder::new()
        .with_cancel_token(token)
        .with_transport_layer(transport)
        .build();
    let incoming = endpoint
        .incoming_transactions()
        .map_err(|e| SipError::Stack(e.to_string()))?;
    let layer = Arc::new(DialogLayer::new(endpoint.inner.clone()));
    let (state_tx, state_rx) = layer.new_dialog_state_channel();
    let shared = Arc::new(Shared {
        calls,
        handoff,
        uri: format!("sip:parla@{bound}"),
        config,
        layer,
        state_tx,
        ip: bound.ip(),
        controls: Mutex::new(HashMap::new()),
        offers: Mutex::new(HashMap::new()),
        ports: Mutex::new(HashMap::new()),
        transfers: Mutex::new(HashMap::new()),
    });
    let inner = endpoint.inner.clone();
    tokio::spawn(async move {
        let _keep = endpoint;
        if let Err(e) = inner.serve().await {
            tracing::error!(error = %e, "sip endpoint stopped");
        }
    });
    tokio::spawn(transactions(Arc::clone(&shared), incoming, bound));
    tokio::spawn(states(shared, state_rx));
    let transports = if tcp { "udp, tcp" } else { "udp" };
    tracing::info!(address = %bound, transports, "answering SIP calls");
    Ok(bound)
}

async fn transactions(
    shared: Arc<Shared>,
    mut incoming: rsipstack::transaction::TransactionReceiver,
    bound: SocketAddr,
) {
    let contact = rsipstack::sip::Uri::try_from(format!("sip:parla@{bound}").as_str()).ok();
    let contact_tcp =
        rsipstack::sip::Uri::try_from(format!("sip:parla@{bound};transport=tcp").as_str()).ok();
    while let Some(mut tx) = incoming.recv().await {
        let reliable = tx.connection.as_ref().is_some_and(|c| c.is_reliable());
        let contact = if reliable { &contact_tcp } else { &contact };
        if let Some(Dialog::Invite(mut dialog)) = shared.layer.match_dialog(&tx) {
            tokio::spawn(async move {
                if let Err(e) = dialog.handle(&mut tx).await {
                    tracing::debug!(error = %e, "in-dialog request failed");
                }
            });
            continue;
        }
        match tx.original.method {
            Method::Invite => {
                let body = String::from_utf8_lossy(&tx.original.body).into_owned();
                let offer = match sdp::parse(&body) {
                    Ok(o) if o.codec.is_some() => o,
                    Ok(_) => {
                        tracing::info!("sip call refused: no PCMU/PCMA in the offer (488)");
                        let _ = tx.reply(StatusCode::NotAcceptableHere).await;
                        continue;
                    }
                    Err(e) => {
                        tracing::info!(error = %e, "sip call refused: unreadable SDP (488)");
                        let _ = tx.reply(StatusCode::NotAcceptableHere).await;
                        continue;
                    }
                };
                let dialog = match shared.layer.get_or_create_server_invite(
                    &tx,
                    shared.state_tx.clone(),
                    None,
                    contact.clone(),
                ) {
                    Ok(d) => d,
                    Err(e) => {
                        tracing::info!(error = %e, "sip call refused: bad INVITE");
                        let _ = tx.reply(StatusCode::BadRequest).await;
                        continue;
                    }
                };
                if let Ok(mut offers) = shared.offers.lock() {
                    offers.insert(dialog.id().to_string(), offer);
                }
                let mut dialog = dialog;
                tokio::spawn(async move {
                    if let Err(e) = dialog.handle(&mut tx).await {
                        tracing::debug!(error = %e, "invite transaction ended");
                    }
                });
            }
            Method::Options => {
                let _ = tx.reply(StatusCode::OK).await;
            }
            Method::Ack => {}
            Method::Bye | Method::Cancel | Method::Info | Method::Refer | Method::Notify => {
                let _ = tx.reply(StatusCode::CallTransactionDoesNotExist).await;
            }
            _ => {
                let _ = tx.reply(StatusCode::MethodNotAllowed).await;
            }
        }
    }
}

async fn states(shared: Arc<Shared>, mut states: DialogStateReceiver) {
    while let Some(state) = states.recv().await {
        match state {
            DialogState::Calling(id) => {
                let shared = Arc::clone(&shared);
                tokio::spawn(async move { answer(shared, id.to_string()).await });
            }
            DialogState::Updated(id, request, handle) => {
                let body = String::from_utf8_lossy(&request.body).into_owned();
                let control = shared
                    .controls
                    .lock()
                    .ok()
                    .and_then(|c| c.get(&id.to_string()).cloned());
                match (sdp::parse(&body), control) {
                    (Ok(offer), Some(control)) if offer.codec.is_some() => {
                        let hold = offer.on_hold();
                        let _ = control
                            .send(MediaControl::Update {
                                remote: SocketAddr::new(offer.addr, offer.port),
                                hold,
                            })
                            .await;
                        let port = shared.rtp_port(&id.to_string());
                        let codec = offer.codec.unwrap_or(sdp::Codec::Pcmu);
                        let sdp = sdp::answer(
                            shared.ip,
                            port,
                            codec,
                            offer.dtmf,
                            offer.direction.answer(),
                            2,
                        );
                        let _ = handle
                            .respond(
                                StatusCode::OK,
                                Some(vec![sdp_header()]),
                                Some(sdp.into_bytes()),
                            )
                            .await;
                    }
                    _ => {
                        let _ = handle.reply(StatusCode::NotAcceptableHere).await;
                    }
                }
            }
            DialogState::Notify(id, request, handle) => {
                let _ = handle.reply(StatusCode::OK).await;
                let body = String::from_utf8_lossy(&request.body);
                let progress = transfer::sipfrag(&body);
                let waiting = shared
                    .transfers
                    .lock()
                    .ok()
                    .and_then(|t| t.get(&id.to_string()).cloned());
                if let (Some(progress), Some(waiting)) = (progress, waiting) {
                    tracing::info!(dialog = %id, ?progress, "transfer progress");
                    let _ = waiting.send(progress).await;
                }
            }
            DialogState::Info(_, _, handle)
            | DialogState::Options(_, _, handle)
            | DialogState::Message(_, _, handle) => {
                let _ = handle.reply(StatusCode::OK).await;
            }
            DialogState::Terminated(id, reason) => {
                tracing::info!(dialog = %id, ?reason, "sip dialog ended");
                let key = id.to_string();
                let control = shared.controls.lock().ok().and_then(|mut c| c.remove(&key));
                if let Some(control) = control {
                    let _ = control.send(MediaControl::Hangup).await;
                }
                if let Ok(mut offers) = shared.offers.lock() {
                    offers.remove(&key);
                }
                if let Ok(mut transfers) = shared.transfers.lock() {
                    transfers.remove(&key);
                }
                shared.layer.remove_dialog(&id);
            }
            _ => {}
        }
    }
}

fn sdp_header() -> Header {
    Header::ContentType("application/sdp".into())
}

impl Shared {
    fn rtp_port(&self, id: &str) -> u16 {
        self.ports
            .lock()
            .ok()
            .and_then(|p| p.get(id).copied())
            .unwrap_or(0)
    }
}

/// Answers a new call: binds its RTP socket, starts the pipeline, sends
/// 200 OK with the SDP answer, runs the media, and ends the dialog (REFER
/// on hand-off, BYE otherwise).
async fn answer(shared: Arc<Shared>, key: String) {
    let Some(offer) = shared.offers.lock().ok().and_then(|mut o| o.remove(&key)) else {
        return;
    };
    let Some(Dialog::Invite(dialog)) = shared.layer.get_dialog_with(&key) else {
        return;
    };
    let codec = offer.codec.unwrap_or(sdp::Codec::Pcmu);
    let socket = match tokio::net::UdpSocket::bind(SocketAddr::new(shared.ip, 0)).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "no RTP port; call refused");
            let _ = dialog.reject(Some(StatusCode::ServiceUnavailable), None);
            return;
        }
    };
    let port = socket.local_addr().map(|a| a.port()).unwrap_or(0);
    let caller_id = dialog
        .initial_request()
        .from_header()
        .ok()
        .and_then(|f| f.uri().ok())
        .and_then(|u| u.auth.map(|a| a.user))
        .unwrap_or_default();
    let setup = CallSetup {
        caller_id,
        language: shared.config.language.clone(),
        format: Format {
            encoding: match codec {
                sdp::Codec::Pcmu => parla_proto::v1::AudioEncoding::Mulaw,
                sdp::Codec::Pcma => parla_proto::v1::AudioEncoding::Alaw,
            },
            rate: 8000,
        },
        conversation_id: String::new(),
        transfer_to: shared.config.transfer_uri.clone(),
        edge: "sip",
        opening: Opening::Greeting,
    };
    let call = match shared.calls.start_call(setup.clone()).await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "sip call refused: pipeline did not start");
            let _ = dialog.reject(Some(StatusCode::ServiceUnavailable), None);
            return;
        }
    };
    let sdp = sdp::answer(
        shared.ip,
        port,
        codec,
        offer.dtmf,
        offer.direction.answer(),
        1,
    );
    if let Err(e) = dialog.accept(Some(vec![sdp_header()]), Some(sdp.into_bytes())) {
        tracing::warn!(error = %e, "sip accept failed");
        return;
    }
    let (control_tx, mut control_rx) = mpsc::channel(8);
    if let Ok(mut c) = shared.controls.lock() {
        c.insert(key.clone(), control_tx);
    }
    if let Ok(mut p) = shared.ports.lock() {
        p.insert(key.clone(), port);
    }
    tracing::info!(dialog = %key, codec = ?codec, rtp_port = port, "sip call answered");
    let mut media = Media::new(
        socket,
        SocketAddr::new(offer.addr, offer.port),
        codec,
        offer.dtmf,
        shared.config.jitter_frames,
        offer.on_hold(),
    );
    let mut call = call;
    let mut setup = setup;
    let end = loop {
        let end = media::run(&mut media, call, &mut control_rx, &key).await;
        let transfer = end
            .ended
            .as_ref()
            .filter(|e| e.reason == "transferred" && !e.transfer_to.is_empty())
            .map(|e| {
                (
                    e.transfer_to.clone(),
                    e.ticket_id.clone(),
                    end.conversation_id.clone(),
                )
            });
        let Some((target, ticket, conversation)) = transfer else {
            break end;
        };
        let failed = match shared
            .transfer(&dialog, &key, &target, &ticket, &mut control_rx)
            .await
        {
            transfer::Outcome::Connected => {
                tracing::info!(dialog = %key, "transfer connected; leaving the call");
                break end;
            }
            transfer::Outcome::HungUp => {
                tracing::info!(dialog = %key, "the caller hung up during the transfer");
                break end;
            }
            transfer::Outcome::Failed(why) => why,
        };
        tracing::warn!(dialog = %key, reason = %failed, "transfer failed; the caller stays with parla");
        shared
            .ask_callback(&ticket, &setup.caller_id, &failed)
            .await;
        // The same conversation goes on; a second hand-off ends the call
        // after its reply (the call-back is already asked for).
        setup.conversation_id = conversation;
        setup.transfer_to = String::new();
        setup.opening = Opening::TransferFailed;
        call = match shared.calls.start_call(setup.clone()).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "the call could not go on after the failed transfer");
                break end;
            }
        };
    };
    let _ = end;
    if let Ok(mut p) = shared.ports.lock() {
        p.remove(&key);
    }
    let still_open = shared
        .controls
        .lock()
        .ok()
        .and_then(|mut c| c.remove(&key))
        .is_some();
    if !still_open {
        return; // the caller hung up
    }
    if let Err(e) = dialog.bye().await {
        tracing::debug!(error = %e, "BYE failed");
    }
}

impl Shared {
    /// Transfers the caller of dialog `key` to `target` (see `transfer.rs`).
    async fn transfer(
        &self,
        dialog: &InviteDialog,
        key: &str,
        target: &str,
        ticket: &str,
        control: &mut mpsc::Receiver<MediaControl>,
    ) -> transfer::Outcome {
        let (tx, mut rx) = mpsc::channel(8);
        if let Ok(mut t) = self.transfers.lock() {
            t.insert(key.to_owned(), tx);
        }
        tracing::info!(dialog = %key, ticket, "transferring the caller (REFER)");
        let timeout = Duration::from_secs(u64::from(self.config.transfer_timeout_secs.max(1)));
        let outcome =
            transfer::attended(dialog, target, ticket, &self.uri, &mut rx, control, timeout).await;
        if let Ok(mut t) = self.transfers.lock() {
            t.remove(key);
        }
        outcome
    }

    /// Asks the hand-off queue for a person to call the caller back.
    async fn ask_callback(&self, ticket: &str, phone: &str, reason: &str) {
        let Some(channel) = self.handoff.clone() else {
            tracing::warn!(ticket, "no hand-off queue to ask for a call-back");
            return;
        };
        if ticket.is_empty() {
            tracing::warn!("a failed transfer without a ticket; no call-back asked for");
            return;
        }
        let phone: String = phone
            .chars()
            .filter(|c| c.is_ascii_digit() || *c == '+')
            .take(32)
            .collect();
        let asked = HandoffClient::new(channel)
            .request_callback(CallbackRequest {
                ticket_id: ticket.to_owned(),
                phone,
                reason: reason.to_owned(),
            })
            .await;
        match asked {
            Ok(_) => tracing::info!(ticket, "call-back asked for"),
            Err(s) => tracing::warn!(ticket, error = %s.message(), "call-back request failed"),
        }
    }
}
