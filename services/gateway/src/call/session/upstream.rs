//! The call's upstream streams (`Asr.StreamingRecognize`,
//! `Dialogue.Converse`): opening them, and reopening one that fails
//! mid-call. A hiccup upstream (a busy recognition pool, a restarted
//! service, a stream that ends) does not end the call: the stream is
//! reopened, what it lost is dropped, and the caller is asked to repeat.
//! Only after [`MAX_RECOVERIES`] in one call, or when the service cannot be
//! reached again, does the call end with an error.

use std::sync::atomic::Ordering;
use std::time::Duration;

use parla_proto::v1 as pb;
use parla_proto::v1::asr_client::AsrClient;
use parla_proto::v1::converse_request::Request as DlgIn;
use parla_proto::v1::dialogue_client::DialogueClient;
use parla_proto::v1::streaming_recognize_request::Request as AsrIn;
use parla_proto::PeerChannel;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::{End, Session, Streams};
use crate::call::speech::{line_text, Kind, Line, Synthesis, Utterance};
use crate::call::CallError;

/// Upstream streams reopened per call before a failure ends the call.
pub const MAX_RECOVERIES: u32 = 5;

/// Attempts to reopen one stream, and the pause between them.
const REOPEN_ATTEMPTS: u32 = 3;
const REOPEN_PAUSE: Duration = Duration::from_millis(300);

/// Requests into a recognition stream.
pub type AsrSender = mpsc::Sender<pb::StreamingRecognizeRequest>;
/// Requests into a conversation stream.
pub type DlgSender = mpsc::Sender<pb::ConverseRequest>;

/// Opens a recognition stream with `config` as its first message.
pub async fn open_asr(
    client: &mut AsrClient<PeerChannel>,
    config: &pb::StreamingConfig,
) -> Result<(AsrSender, tonic::Streaming<pb::StreamingRecognizeResponse>), tonic::Status> {
    // 20 ms chunks: the recognizer may fall a minute behind.
    let (tx, rx) = mpsc::channel(3000);
    let _ = tx.try_send(pb::StreamingRecognizeRequest {
        request: Some(AsrIn::Config(config.clone())),
    });
    let stream = client
        .streaming_recognize(ReceiverStream::new(rx))
        .await?
        .into_inner();
    Ok((tx, stream))
}

/// Opens a conversation stream with `start` as its first message.
pub async fn open_dialogue(
    client: &mut DialogueClient<PeerChannel>,
    start: &pb::ConversationStart,
) -> Result<(DlgSender, tonic::Streaming<pb::ReplyEvent>), tonic::Status> {
    let (tx, rx) = mpsc::channel(32);
    let _ = tx.try_send(pb::ConverseRequest {
        request: Some(DlgIn::Start(start.clone())),
    });
    let stream = client.converse(ReceiverStream::new(rx)).await?.into_inner();
    Ok((tx, stream))
}

/// Which upstream stream failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upstream {
    /// Speech recognition.
    Asr,
    /// The dialogue manager.
    Dialogue,
}

impl Upstream {
    fn name(self) -> &'static str {
        match self {
            Upstream::Asr => "asr",
            Upstream::Dialogue => "dialogue",
        }
    }
}

impl Session {
    /// `which` stream failed with `status`: reopens it, drops what it lost
    /// and asks the caller to repeat; an error when the call cannot go on.
    pub(super) async fn recover(
        &mut self,
        which: Upstream,
        status: tonic::Status,
        streams: &mut Streams,
    ) -> Result<Option<End>, CallError> {
        let fatal = CallError::upstream(which.name(), &status);
        if self.recoveries >= MAX_RECOVERIES {
            tracing::warn!(conversation = %self.conversation_id, service = which.name(), code = ?status.code(), message = status.message(), recoveries = self.recoveries, "upstream stream failed again; giving up");
            return Err(fatal);
        }
        self.recoveries += 1;
        self.metrics
            .upstream_recoveries
            .fetch_add(1, Ordering::Relaxed);
        tracing::warn!(conversation = %self.conversation_id, service = which.name(), code = ?status.code(), message = status.message(), recovery = self.recoveries, "upstream stream failed mid-call; reopening it");
        let mut attempt = 0;
        loop {
            attempt += 1;
            let opened = match which {
                Upstream::Asr => {
                    open_asr(&mut self.asr_client, &self.asr_config)
                        .await
                        .map(|(tx, rx)| {
                            self.asr_tx = tx;
                            streams.asr = rx;
                        })
                }
                Upstream::Dialogue => open_dialogue(&mut self.dlg_client, &self.dlg_start)
                    .await
                    .map(|(tx, rx)| {
                        self.dlg_tx = tx;
                        streams.dialogue = rx;
                    }),
            };
            match opened {
                Ok(()) => break,
                Err(s) if attempt < REOPEN_ATTEMPTS => {
                    tracing::warn!(conversation = %self.conversation_id, service = which.name(), attempt, error = %s, "reopening failed; retrying");
                    tokio::time::sleep(REOPEN_PAUSE).await;
                }
                Err(s) => return Err(CallError::upstream(which.name(), &s)),
            }
        }
        // Whether the caller's turn or an answer was lost with the stream.
        let lost = match which {
            Upstream::Asr => {
                // The new stream counts its audio from here.
                self.asr_base_ms = self.clock_ms();
                self.speech_start.take().is_some()
            }
            Upstream::Dialogue => {
                // Answers the old stream never finished will not come.
                let unfinished = |u: &Utterance| u.kind == Kind::Answer && !u.final_seen;
                if self
                    .utterances
                    .iter()
                    .any(|u| unfinished(u) && !matches!(u.synthesis, Synthesis::NotOpen))
                {
                    self.stop_speaking(true);
                }
                let before = self.utterances.len();
                self.utterances.retain(|u| !unfinished(u));
                self.utterances.len() < before
            }
        };
        if lost && !self.closing && !self.audible() {
            let text = line_text(Line::Repeat, &self.language);
            self.say(Kind::Prompt, text);
        }
        Ok(None)
    }
}
