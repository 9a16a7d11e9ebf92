//! One SIP call's media: RTP in (from the offered address only) through the
//! jitter buffer into the call pipeline every 20 ms, RFC 4733 digits as
//! DTMF input, agent audio out as RTP; hold stops sending.

use std::net::SocketAddr;
use std::time::Duration;

use parla_proto::v1 as pb;
use parla_proto::v1::call_event::Event as Out;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use super::rtp::{self, DtmfReceiver, JitterBuffer};
use super::sdp::Codec;
use crate::call::{CallHandle, CallInput, Format};

/// Changes to a call's media from SIP (re-INVITE, BYE).
#[derive(Debug)]
pub enum MediaControl {
    /// New remote address and hold state.
    Update {
        /// Where to send RTP.
        remote: SocketAddr,
        /// The caller put us on hold.
        hold: bool,
    },
    /// The caller hung up.
    Hangup,
}

/// How the media ended.
#[derive(Debug)]
pub struct MediaEnd {
    /// `CallEnded` of the pipeline, if it ended the call.
    pub ended: Option<pb::CallEnded>,
}

/// Media settings of one call.
pub struct Media {
    /// The RTP socket.
    pub socket: UdpSocket,
    /// Where the caller's RTP comes from and ours goes.
    pub remote: SocketAddr,
    /// Codec in use.
    pub codec: Codec,
    /// RFC 4733 payload type.
    pub dtmf: Option<u8>,
    /// Jitter buffer delay in frames.
    pub jitter_frames: usize,
    /// Started on hold.
    pub hold: bool,
}

/// Runs the media of a call until the pipeline or the caller ends it.
pub async fn run(
    mut media: Media,
    mut call: CallHandle,
    mut control: mpsc::Receiver<MediaControl>,
    conversation: String,
) -> MediaEnd {
    let format = Format {
        encoding: match media.codec {
            Codec::Pcmu => pb::AudioEncoding::Mulaw,
            Codec::Pcma => pb::AudioEncoding::Alaw,
        },
        rate: 8000,
    };
    let mut jitter = JitterBuffer::new(media.jitter_frames);
    let mut dtmf = DtmfReceiver::default();
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut buf = vec![0u8; 2048];
    let (mut seq_in, mut seq_out, mut ts_out) = (0u64, rand_u16(), u32::from(rand_u16()) << 8);
    let ssrc = (u32::from(rand_u16()) << 16) | u32::from(rand_u16());
    let mut foreign_logged = false;
    let mut first_out = true;
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let data = jitter
                    .pop()
                    .unwrap_or_else(|| vec![format.silence_byte(); format.frame_bytes()]);
                let chunk = pb::AudioChunk {
                    sequence: seq_in,
                    format: Some(format.to_pb()),
                    data,
                    offset_ms: seq_in * 20,
                };
                seq_in += 1;
                if call.input.send(CallInput::Audio(chunk)).await.is_err() {
                    return MediaEnd { ended: None };
                }
            }
            received = media.socket.recv_from(&mut buf) => {
                let Ok((n, from)) = received else { continue };
                if from != media.remote {
                    if !foreign_logged {
                        tracing::warn!(conversation = %conversation, %from, expected = %media.remote, "rtp from an unexpected source dropped");
                        foreign_logged = true;
                    }
                    continue;
                }
                let Some(packet) = rtp::parse(&buf[..n]) else { continue };
                if Some(packet.payload_type) == media.dtmf {
                    if let Some(digit) = dtmf.push(packet.timestamp, packet.payload) {
                        tracing::info!(conversation = %conversation, "dtmf digit received");
                        let _ = call.input.send(CallInput::Dtmf(digit.to_string())).await;
                    }
                } else if packet.payload_type == media.codec.payload_type() {
                    jitter.push(packet.sequence, packet.payload);
                }
            }
            event = call.events.recv() => match event {
                Some(pb::CallEvent { event: Some(Out::Audio(chunk)) }) => {
                    if media.hold {
                        continue;
                    }
                    let packet = rtp::build(&rtp::Packet {
                        payload_type: media.codec.payload_type(),
                        marker: first_out,
                        sequence: seq_out,
                        timestamp: ts_out,
                        ssrc,
                        payload: &chunk.data,
                    });
                    first_out = false;
                    seq_out = seq_out.wrapping_add(1);
                    ts_out = ts_out.wrapping_add(chunk.data.len() as u32);
                    let _ = media.socket.send_to(&packet, media.remote).await;
                }
                Some(pb::CallEvent { event: Some(Out::Ended(e)) }) => return MediaEnd { ended: Some(e) },
                Some(_) => {}
                None => return MediaEnd { ended: None },
            },
            ctl = control.recv() => match ctl {
                Some(MediaControl::Update { remote, hold }) => {
                    media.remote = remote;
                    media.hold = hold;
                    tracing::info!(conversation = %conversation, hold, "media updated by re-INVITE");
                }
                Some(MediaControl::Hangup) | None => {
                    let _ = call.input.send(CallInput::Hangup).await;
                    // Let the pipeline close; its events are no longer played.
                    while let Some(event) = call.events.recv().await {
                        if let Some(Out::Ended(e)) = event.event {
                            return MediaEnd { ended: Some(e) };
                        }
                    }
                    return MediaEnd { ended: None };
                }
            },
        }
    }
}

/// A random-enough 16-bit value for RTP sequence, timestamp and SSRC.
fn rand_u16() -> u16 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    (nanos ^ (nanos >> 16)) as u16
}
