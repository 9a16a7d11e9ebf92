//! A scripted caller for `Conversation.Call`, used by `parla demo`, the
//! tests and the benchmark: it sends 20 ms frames at a steady pace (queued
//! speech, else silence, as a phone does), and logs every event with the
//! caller's stream position at which it arrived.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parla_proto::v1 as pb;
use parla_proto::v1::call_event::Event as Out;
use parla_proto::v1::call_request::Request as In;
use parla_proto::v1::conversation_client::ConversationClient;
use parla_proto::PeerChannel;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::StreamExt;

use super::audio::{Format, FRAME_MS};

/// An event with the caller's stream position when it arrived.
#[derive(Debug, Clone)]
pub struct Logged {
    /// Caller audio sent so far, in milliseconds.
    pub at_ms: u64,
    /// The event.
    pub event: pb::CallEvent,
}

enum Cmd {
    Say(Vec<u8>),
    Pace(Duration),
    Dtmf(String),
    Hangup,
}

/// A call in progress from the caller's side.
pub struct CallClient {
    cmd: mpsc::Sender<Cmd>,
    events: mpsc::Receiver<Result<Logged, tonic::Status>>,
    position: Arc<AtomicU64>,
    speaking: Arc<AtomicU64>,
    /// Every event received so far, in order.
    pub history: Vec<Logged>,
    /// The call's audio format.
    pub format: Format,
}

impl CallClient {
    /// Places a call with `start` and starts sending frames every `pace`.
    pub async fn start(
        channel: PeerChannel,
        start: pb::CallStart,
        pace: Duration,
    ) -> Result<Self, tonic::Status> {
        let format = Format::from_pb(start.format.as_ref()).map_err(|e| e.into_status())?;
        let (req_tx, req_rx) = mpsc::channel(64);
        let _ = req_tx
            .send(pb::CallRequest {
                request: Some(In::Start(start)),
            })
            .await;
        let mut client = ConversationClient::new(channel);
        let mut responses = client.call(ReceiverStream::new(req_rx)).await?.into_inner();
        let position = Arc::new(AtomicU64::new(0));
        let speaking = Arc::new(AtomicU64::new(0));
        let (ev_tx, ev_rx) = mpsc::channel(4096);
        let pos = Arc::clone(&position);
        tokio::spawn(async move {
            while let Some(item) = responses.next().await {
                let logged = item.map(|event| Logged {
                    at_ms: pos.load(Ordering::SeqCst),
                    event,
                });
                let failed = logged.is_err();
                if ev_tx.send(logged).await.is_err() || failed {
                    return;
                }
            }
        });
        let (cmd_tx, mut cmd_rx) = mpsc::channel::<Cmd>(16);
        let pos = Arc::clone(&position);
        let left = Arc::clone(&speaking);
        tokio::spawn(async move {
            let frame = format.frame_bytes();
            let silence = vec![format.silence_byte(); frame];
            let mut queued: Vec<u8> = Vec::new();
            let mut sent = 0usize;
            let mut pace = pace;
            let mut next = tokio::time::Instant::now();
            let mut sequence = 0u64;
            loop {
                loop {
                    let cmd = match cmd_rx.try_recv() {
                        Ok(cmd) => cmd,
                        Err(mpsc::error::TryRecvError::Empty) => break,
                        // The caller was dropped: end the request stream.
                        Err(mpsc::error::TryRecvError::Disconnected) => return,
                    };
                    let request = match cmd {
                        Cmd::Say(bytes) => {
                            queued.drain(..sent);
                            sent = 0;
                            queued.extend_from_slice(&bytes);
                            None
                        }
                        Cmd::Pace(p) => {
                            pace = p;
                            None
                        }
                        Cmd::Dtmf(d) => Some(In::Dtmf(d)),
                        Cmd::Hangup => Some(In::Hangup(true)),
                    };
                    if let Some(r) = request {
                        let hangup = matches!(r, In::Hangup(_));
                        let _ = req_tx.send(pb::CallRequest { request: Some(r) }).await;
                        if hangup {
                            return;
                        }
                    }
                }
                let data = if sent < queued.len() {
                    let end = (sent + frame).min(queued.len());
                    let mut d = queued[sent..end].to_vec();
                    d.resize(frame, format.silence_byte());
                    sent = end;
                    d
                } else {
                    silence.clone()
                };
                left.store((queued.len() - sent) as u64, Ordering::SeqCst);
                let at = pos.load(Ordering::SeqCst);
                let chunk = pb::AudioChunk {
                    sequence,
                    format: Some(format.to_pb()),
                    data,
                    offset_ms: at,
                };
                sequence += 1;
                if req_tx
                    .send(pb::CallRequest {
                        request: Some(In::Audio(chunk)),
                    })
                    .await
                    .is_err()
                {
                    return;
                }
                pos.store(at + FRAME_MS, Ordering::SeqCst);
                next += pace;
                tokio::time::sleep_until(next).await;
            }
        });
        Ok(Self {
            cmd: cmd_tx,
            events: ev_rx,
            position,
            speaking,
            history: Vec::new(),
            format,
        })
    }

    /// Caller audio sent so far, in milliseconds.
    pub fn position_ms(&self) -> u64 {
        self.position.load(Ordering::SeqCst)
    }

    /// Queues caller speech (encoded in the call's format).
    pub async fn say(&self, audio: Vec<u8>) {
        self.speaking.store(audio.len() as u64, Ordering::SeqCst);
        let _ = self.cmd.send(Cmd::Say(audio)).await;
    }

    /// True while queued speech is still being sent.
    pub fn is_speaking(&self) -> bool {
        self.speaking.load(Ordering::SeqCst) > 0
    }

    /// Changes the time between frames (stream time per frame stays 20 ms).
    pub async fn pace(&self, pace: Duration) {
        let _ = self.cmd.send(Cmd::Pace(pace)).await;
    }

    /// Sends keypad digits.
    pub async fn dtmf(&self, digits: &str) {
        let _ = self.cmd.send(Cmd::Dtmf(digits.to_owned())).await;
    }

    /// Hangs up.
    pub async fn hangup(&self) {
        let _ = self.cmd.send(Cmd::Hangup).await;
    }

    /// Waits up to `within` for an event matching `want`; every event goes
    /// to `history`. `Ok(None)` on time-out or when the call's stream ended.
    pub async fn wait_for(
        &mut self,
        within: Duration,
        mut want: impl FnMut(&Logged) -> bool,
    ) -> Result<Option<Logged>, tonic::Status> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let item = match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Err(_) | Ok(None) => return Ok(None),
                Ok(Some(item)) => item?,
            };
            self.history.push(item.clone());
            if want(&item) {
                return Ok(Some(item));
            }
        }
    }

    /// Waits until the agent has spoken and then been quiet for `quiet_ms`
    /// of stream time (or the call ended). False on time-out.
    pub async fn wait_agent_done(
        &mut self,
        quiet_ms: u64,
        within: Duration,
    ) -> Result<bool, tonic::Status> {
        let deadline = tokio::time::Instant::now() + within;
        let mut heard = false;
        let mut last = 0u64;
        loop {
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Ok(false);
            }
            let step = Duration::from_millis(50).min(deadline - now);
            match self.wait_for(step, |l| is_audio(l) || is_end(l)).await? {
                Some(l) if is_end(&l) => return Ok(true),
                Some(l) => {
                    heard = true;
                    last = l.at_ms;
                }
                None => {
                    if heard && self.position_ms() >= last + quiet_ms {
                        return Ok(true);
                    }
                }
            }
        }
    }

    /// Agent audio received so far: (stream offset, bytes) per frame.
    pub fn agent_frames(&self) -> Vec<(u64, &[u8])> {
        self.history
            .iter()
            .filter_map(|l| match &l.event.event {
                Some(Out::Audio(c)) => Some((c.offset_ms, c.data.as_slice())),
                _ => None,
            })
            .collect()
    }
}

/// True for an agent audio event.
pub fn is_audio(l: &Logged) -> bool {
    matches!(l.event.event, Some(Out::Audio(_)))
}

/// True for the end of the call.
pub fn is_end(l: &Logged) -> bool {
    matches!(l.event.event, Some(Out::Ended(_)))
}

/// Speech for a scripted caller, synthesized by Parla's TTS (`voice`, e.g.
/// "espeak-en-f") in `format`, with `pad_ms` of silence after it.
pub async fn synthesize(
    channel: PeerChannel,
    text: &str,
    voice: &str,
    format: Format,
    pad_ms: u64,
) -> Result<Vec<u8>, tonic::Status> {
    let mut tts = pb::tts_client::TtsClient::new(channel);
    let response = tts
        .synthesize(pb::SynthesizeRequest {
            text: text.to_owned(),
            config: Some(pb::SynthesisConfig {
                language: String::new(),
                voice: voice.to_owned(),
                tone: pb::Tone::Neutral as i32,
                output_format: Some(format.to_pb()),
                ssml: false,
            }),
        })
        .await?
        .into_inner();
    let mut audio = response.audio.map(|a| a.data).unwrap_or_default();
    let pad = (format.rate as u64 * pad_ms / 1000) as usize * format.sample_bytes();
    audio.extend(std::iter::repeat_n(format.silence_byte(), pad));
    Ok(audio)
}

/// Writes 16-bit mono samples to a WAV file.
pub fn write_wav(path: &std::path::Path, rate: u32, samples: &[i16]) -> std::io::Result<()> {
    parla_audio::write_wav(path, rate, samples).map_err(std::io::Error::other)
}
