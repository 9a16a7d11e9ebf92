//! What the agent says: replies from the dialogue and the gateway's own
//! lines (greeting, silence prompt, closings), each synthesized by one
//! `Tts.SynthesizeStream` that a small task owns and forwards into the
//! call's loop. Dropping the handle cancels the synthesis.

use std::time::Instant;

use parla_proto::v1 as pb;
use parla_proto::v1::synthesize_stream_request::Request as TtsIn;
use parla_proto::v1::synthesize_stream_response::Event as TtsOut;
use parla_proto::v1::tts_client::TtsClient;
use parla_proto::PeerChannel;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::StreamExt;

/// What an utterance is.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// The dialogue's answer to a caller turn.
    Answer,
    /// A line of the gateway (greeting, silence prompt); interruptible.
    Prompt,
    /// The last line before the call ends, with the end reason.
    Closing(&'static str),
}

/// Where an utterance's synthesis stands.
#[derive(Debug)]
pub enum Synthesis {
    /// Not started (waiting for text, tone, or its turn).
    NotOpen,
    /// Streaming; `sent` characters of the text have been sent.
    Open {
        /// The synthesis stream.
        handle: TtsHandle,
        /// Characters of `text` already sent.
        sent: usize,
        /// `flush` sent.
        flushed: bool,
    },
    /// All audio received (or cancelled).
    Done,
}

/// Wall-clock marks of one turn, for its stage timings.
#[derive(Debug, Clone, Default)]
pub struct TurnTiming {
    /// When the caller audio containing the end of speech arrived.
    pub speech_end: Option<Instant>,
    /// End of speech to end-of-turn decision, stream time.
    pub end_of_turn_ms: u32,
    /// End of speech to the final transcript.
    pub asr_ms: u32,
    /// When the turn was sent to the dialogue.
    pub sent_at: Option<Instant>,
    /// First reply text from the dialogue.
    pub first_text_at: Option<Instant>,
    /// Synthesis opened (first sentence sent).
    pub tts_open_at: Option<Instant>,
    /// First synthesized audio received.
    pub tts_audio_at: Option<Instant>,
}

/// One thing the agent says.
#[derive(Debug)]
pub struct Utterance {
    /// Id within the call (playout utterance id).
    pub id: u64,
    /// Answer, prompt or closing.
    pub kind: Kind,
    /// Text so far (SSML fragments for answers).
    pub text: String,
    /// The dialogue's final event arrived (always true for gateway lines).
    pub final_seen: bool,
    /// Dialogue turn index, once known.
    pub turn_index: Option<u32>,
    /// Tone to speak in.
    pub tone: pb::Tone,
    /// Language to speak in.
    pub language: String,
    /// Stopped by a barge-in or a closing.
    pub cancelled: bool,
    /// Hand-off ticket when the reply hands the call to a person.
    pub handoff: Option<String>,
    /// Synthesis state.
    pub synthesis: Synthesis,
    /// First reply text arrived at.
    pub first_delta_at: Option<Instant>,
    /// Stage timings (answers only).
    pub timing: TurnTiming,
    /// Speak the text as plain text (its SSML was refused).
    pub plain: bool,
    /// Stream ms where its first frame played (None: not heard yet).
    pub started_ms: Option<u64>,
}

impl Utterance {
    /// A line of the gateway, ready to speak.
    pub fn line(id: u64, kind: Kind, text: &str, language: &str) -> Self {
        Self {
            id,
            kind,
            text: text.to_owned(),
            final_seen: true,
            turn_index: None,
            tone: pb::Tone::Calm,
            language: language.to_owned(),
            cancelled: false,
            handoff: None,
            synthesis: Synthesis::NotOpen,
            first_delta_at: None,
            timing: TurnTiming::default(),
            plain: false,
            started_ms: None,
        }
    }

    /// The answer to a turn, waiting for the dialogue.
    pub fn answer(id: u64, language: &str, tone: pb::Tone, timing: TurnTiming) -> Self {
        Self {
            final_seen: false,
            tone,
            timing,
            kind: Kind::Answer,
            ..Self::line(id, Kind::Answer, "", language)
        }
    }
}

/// Events of a synthesis stream, forwarded to the call loop.
#[derive(Debug)]
pub enum SpeechEvent {
    /// Encoded audio in the call's format.
    Audio(Vec<u8>),
    /// A sentence was synthesized.
    Sentence {
        /// Its characters.
        chars: u32,
        /// Its audio length.
        audio_ms: u32,
    },
    /// The stream ended normally.
    Done,
    /// The stream failed.
    Failed(String),
}

/// An open synthesis stream; dropping it cancels the synthesis.
#[derive(Debug)]
pub struct TtsHandle {
    text: mpsc::Sender<pb::SynthesizeStreamRequest>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TtsHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TtsHandle {
    /// Opens a synthesis stream for utterance `id`; its events go to
    /// `events` tagged with `id`.
    pub fn open(
        client: TtsClient<PeerChannel>,
        id: u64,
        config: pb::SynthesisConfig,
        events: mpsc::Sender<(u64, SpeechEvent)>,
    ) -> Self {
        let (tx, rx) = mpsc::channel(64);
        let _ = tx.try_send(pb::SynthesizeStreamRequest {
            request: Some(TtsIn::Config(config)),
        });
        let task = tokio::spawn(async move {
            let mut client = client;
            let mut stream = match client.synthesize_stream(ReceiverStream::new(rx)).await {
                Ok(r) => r.into_inner(),
                Err(s) => {
                    let _ = events.send((id, SpeechEvent::Failed(s.to_string()))).await;
                    return;
                }
            };
            while let Some(item) = stream.next().await {
                let event = match item {
                    Ok(pb::SynthesizeStreamResponse {
                        event: Some(TtsOut::Audio(chunk)),
                    }) => SpeechEvent::Audio(chunk.data),
                    Ok(pb::SynthesizeStreamResponse {
                        event: Some(TtsOut::Sentence(s)),
                    }) => SpeechEvent::Sentence {
                        chars: s.text.chars().count() as u32,
                        audio_ms: s.audio_ms,
                    },
                    Ok(_) => continue,
                    Err(s) => {
                        let _ = events.send((id, SpeechEvent::Failed(s.to_string()))).await;
                        return;
                    }
                };
                if events.send((id, event)).await.is_err() {
                    return;
                }
            }
            let _ = events.send((id, SpeechEvent::Done)).await;
        });
        Self { text: tx, task }
    }

    /// Sends more text; false when the stream is gone.
    pub fn send_text(&self, text: &str) -> bool {
        self.text
            .try_send(pb::SynthesizeStreamRequest {
                request: Some(TtsIn::TextDelta(text.to_owned())),
            })
            .is_ok()
    }

    /// Ends the text.
    pub fn flush(&self) -> bool {
        self.text
            .try_send(pb::SynthesizeStreamRequest {
                request: Some(TtsIn::Flush(true)),
            })
            .is_ok()
    }
}

/// `text` without its SSML tags (their content kept), for plain synthesis.
pub fn strip_tags(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_tag = false;
    for c in text.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

/// The gateway's own lines.
#[derive(Debug, Clone, Copy)]
pub enum Line {
    /// Opens the call.
    Greeting,
    /// After a silence.
    StillThere,
    /// Closes a silent call.
    SilenceGoodbye,
    /// Closes a call that reached its maximum duration.
    MaxDurationGoodbye,
    /// Asks the caller to repeat what a failed upstream stream lost.
    Repeat,
    /// Back with the caller after a transfer to a person did not connect.
    TransferFailed,
}

/// The wording of `line` in `language` (Italian for "it", else English).
pub fn line_text(line: Line, language: &str) -> &'static str {
    let it = language.starts_with("it");
    match (line, it) {
        (Line::Greeting, false) => "Hello, this is Parla. How can I help you today?",
        (Line::Greeting, true) => "Buongiorno, sono Parla. Come posso aiutarla?",
        (Line::StillThere, false) => "Are you still there? I'm here whenever you're ready.",
        (Line::StillThere, true) => "È ancora in linea? Sono qui quando vuole.",
        (Line::SilenceGoodbye, false) => {
            "I can't hear anything, so I'll close the call now. Feel free to call back anytime. Goodbye."
        }
        (Line::SilenceGoodbye, true) => {
            "Non sento nulla, quindi chiudo la chiamata. Può richiamare quando vuole. Arrivederci."
        }
        (Line::MaxDurationGoodbye, false) => {
            "We've reached the time limit for this call, so I have to close it now. Please call back if you need more help. Goodbye."
        }
        (Line::Repeat, false) => "Sorry, I missed that. Could you say it again?",
        (Line::Repeat, true) => "Mi scusi, non ho sentito bene. Può ripetere?",
        (Line::TransferFailed, false) => {
            "I'm sorry, I couldn't reach a colleague just now. I've asked for one to call you back at this number as soon as someone is free. I'm still here: is there anything I can help with meanwhile?"
        }
        (Line::TransferFailed, true) => {
            "Mi dispiace, in questo momento non riesco a raggiungere un collega. Ho chiesto che la richiami a questo numero appena qualcuno è libero. Resto in linea: posso aiutarla con qualcos'altro nel frattempo?"
        }
        (Line::MaxDurationGoodbye, true) => {
            "Abbiamo raggiunto la durata massima della chiamata, devo chiuderla. Richiami se ha bisogno d'altro. Arrivederci."
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn strip_tags_keeps_the_words() {
        let ssml = "Order <say-as interpret-as=\"characters\">A1042</say-as> was delivered.";
        assert_eq!(super::strip_tags(ssml), "Order A1042 was delivered.");
    }
}
