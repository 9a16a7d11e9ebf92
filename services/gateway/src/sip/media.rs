//! One SIP call's media: RTP in (from the offered address only) through the
//! jitter buffer into the call pipeline every 20 ms, RFC 4733 digits as
//! DTMF input, agent audio out as RTP (peak-limited, timestamped by its
//! stream position); hold stops sending.

use std::net::SocketAddr;
use std::time::Duration;

use parla_proto::v1 as pb;
use parla_proto::v1::call_event::Event as Out;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use super::limiter::PeakLimiter;
use super::rtp::{self, DtmfReceiver, JitterBuffer, OutboundStream};
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
    /// The conversation the pipeline ran, once it said.
    pub conversation_id: String,
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
    /// The agent's RTP stream, one for the whole call: after a failed
    /// transfer the next pipeline goes on with the same SSRC, sequence
    /// numbers and clock.
    outbound: AgentAudio,
    /// Caller audio fed to the pipelines so far, in ms, plus the time
    /// between them: where the next pipeline's stream starts.
    position_ms: u64,
    /// When the last pipeline stopped.
    paused_at: Option<std::time::Instant>,
}

impl Media {
    /// The media of a call answered on `socket`.
    pub fn new(
        socket: UdpSocket,
        remote: SocketAddr,
        codec: Codec,
        dtmf: Option<u8>,
        jitter_frames: usize,
        hold: bool,
    ) -> Self {
        let ssrc = (u32::from(rand_u16()) << 16) | u32::from(rand_u16());
        let outbound = AgentAudio::new(
            codec,
            OutboundStream::new(
                codec.payload_type(),
                ssrc,
                rand_u16(),
                u32::from(rand_u16()) << 8,
            ),
        );
        Self {
            socket,
            remote,
            codec,
            dtmf,
            jitter_frames,
            hold,
            outbound,
            position_ms: 0,
            paused_at: None,
        }
    }
}

/// Runs the media of a call until the pipeline or the caller ends it.
pub async fn run(
    media: &mut Media,
    mut call: CallHandle,
    control: &mut mpsc::Receiver<MediaControl>,
    conversation: &str,
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
    let mut seq_in = 0u64;
    if let Some(paused) = media.paused_at.take() {
        media.position_ms += paused.elapsed().as_millis() as u64;
    }
    let base_ms = media.position_ms;
    let mut foreign_logged = false;
    let mut conversation_id = String::new();
    let end = |media: &mut Media, ended, conversation_id| {
        media.paused_at = Some(std::time::Instant::now());
        MediaEnd {
            ended,
            conversation_id,
        }
    };
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
                media.position_ms += 20;
                if call.input.send(CallInput::Audio(chunk)).await.is_err() {
                    return end(media, None, conversation_id);
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
                    let packet = media.outbound.packet(base_ms, chunk);
                    let _ = media.socket.send_to(&packet, media.remote).await;
                }
                Some(pb::CallEvent { event: Some(Out::Ended(e)) }) => return end(media, Some(e), conversation_id),
                Some(pb::CallEvent { event: Some(Out::ConversationId(id)) }) => conversation_id = id,
                Some(_) => {}
                None => return end(media, None, conversation_id),
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
                            return end(media, Some(e), conversation_id);
                        }
                    }
                    return end(media, None, conversation_id);
                }
            },
        }
    }
}

/// The agent's audio on its way to the caller.
struct AgentAudio {
    limiter: PeakLimiter,
    stream: OutboundStream,
}

impl AgentAudio {
    fn new(codec: Codec, stream: OutboundStream) -> Self {
        Self {
            limiter: PeakLimiter::new(codec),
            stream,
        }
    }

    /// The RTP packet of one agent frame. Its `offset_ms` is where it plays
    /// in its pipeline's stream, which the 20 ms caller ticks advance and
    /// which starts `base_ms` into the call: a pause of the agent (or a
    /// hold, or a transfer attempt) is a jump of the RTP timestamp.
    fn packet(&mut self, base_ms: u64, chunk: pb::AudioChunk) -> Vec<u8> {
        let mut data = chunk.data;
        self.limiter.apply(&mut data);
        // G.711 at 8 kHz: one byte per sample, 8 samples per millisecond.
        self.stream
            .packet((base_ms + chunk.offset_ms) * 8, data.len() as u64, &data)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(offset_ms: u64, level: i16) -> pb::AudioChunk {
        let samples: Vec<i16> = (0..160)
            .map(|n| if n % 4 < 2 { level } else { -level })
            .collect();
        pb::AudioChunk {
            data: parla_audio::mulaw_encode(&samples),
            offset_ms,
            ..Default::default()
        }
    }

    /// What the caller receives for these agent frames, as (sequence,
    /// timestamp, marker) and the decoded samples.
    fn send(frames: Vec<pb::AudioChunk>) -> (Vec<(u16, u32, bool)>, Vec<i16>) {
        let mut out = AgentAudio::new(Codec::Pcmu, OutboundStream::new(0, 9, 100, 5000));
        let mut heads = Vec::new();
        let mut samples = Vec::new();
        for f in frames {
            let bytes = out.packet(0, f);
            let p = rtp::parse(&bytes).expect("rtp");
            heads.push((p.sequence, p.timestamp, p.marker));
            samples.extend(parla_audio::mulaw_decode(p.payload));
        }
        (heads, samples)
    }

    #[test]
    fn a_pause_of_the_agent_advances_the_timestamp_and_marks_the_next_spurt() {
        // Two spurts: 0-60 ms, then 560-600 ms after half a second of
        // silence (nothing sent).
        let frames = [0, 20, 40, 560, 580].map(|ms| frame(ms, 8000)).to_vec();
        let (heads, _) = send(frames);
        assert_eq!(
            heads,
            vec![
                (100, 5000, true),
                (101, 5160, false),
                (102, 5320, false),
                (103, 5000 + 560 * 8, true),
                (104, 5000 + 580 * 8, false),
            ]
        );
    }

    #[test]
    fn loud_agent_audio_is_sent_under_minus_1_dbfs() {
        let frames = (0..25).map(|i| frame(i * 20, i16::MAX)).collect();
        let (_, samples) = send(frames);
        let peak = samples.iter().map(|s| i32::from(*s).abs()).max();
        let peak = f64::from(peak.unwrap_or(0)) / 32768.0;
        assert!(peak < 0.891, "peak {peak} of full scale");
        assert!(peak > 0.8, "peak {peak} of full scale");
    }
}
