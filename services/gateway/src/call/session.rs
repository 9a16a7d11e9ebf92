//! One call's loop: caller audio → ASR, final transcripts → dialogue,
//! replies → synthesis → playout, with barge-in, backchannels, silence
//! prompts, the duration limit and hand-off. Every decision is taken in
//! stream time (caller audio received), so the same audio gives the same
//! call whatever the machine's speed.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parla_proto::v1 as pb;
use parla_proto::v1::call_event::Event as Out;
use parla_proto::v1::streaming_recognize_request::Request as AsrIn;
use parla_proto::v1::tts_client::TtsClient;
use parla_proto::PeerChannel;
use tokio::sync::mpsc;

use super::metrics::{CallMetrics, Stage};
use super::playout::Playout;
use super::speech::{line_text, strip_tags, Kind, Line, SpeechEvent, Synthesis, Utterance};
use super::turns::{Rules, TurnTaking};
use super::{Backchannels, CallConfig, CallError, CallInput, CallSetup, Format, Opening};

mod flow;
mod pump;
mod upstream;

use upstream::{open_asr, open_dialogue, Upstream};

/// The open streams and state of one call.
pub struct Session {
    pub(super) cfg: Arc<CallConfig>,
    pub(super) metrics: Arc<CallMetrics>,
    pub(super) backchannels: Arc<Backchannels>,
    /// Who speaks when: fragments, take-backs, barge-ins, backchannels.
    pub(super) turns: TurnTaking,
    pub(super) setup: CallSetup,
    pub(super) conversation_id: String,
    pub(super) format: Format,
    pub(super) out: mpsc::Sender<pb::CallEvent>,
    pub(super) asr_tx: mpsc::Sender<pb::StreamingRecognizeRequest>,
    pub(super) asr_seq: u64,
    pub(super) asr_client: pb::asr_client::AsrClient<PeerChannel>,
    pub(super) asr_config: pb::StreamingConfig,
    /// Call stream position where the current recognition stream began
    /// (its offsets count from there).
    pub(super) asr_base_ms: u64,
    pub(super) dlg_tx: mpsc::Sender<pb::ConverseRequest>,
    pub(super) dlg_client: pb::dialogue_client::DialogueClient<PeerChannel>,
    pub(super) dlg_start: pb::ConversationStart,
    /// Upstream streams reopened so far.
    pub(super) recoveries: u32,
    /// The recognition stream's queue was full at the last chunk.
    pub(super) asr_backlogged: bool,
    pub(super) tts: TtsClient<PeerChannel>,
    pub(super) tts_events: mpsc::Sender<(u64, SpeechEvent)>,
    pub(super) playout: Playout,
    /// Caller samples received.
    pub(super) clock: u64,
    /// (stream ms at the end of a chunk, when it arrived).
    pub(super) arrivals: VecDeque<(u64, Instant)>,
    /// Stream ms where the caller's current speech started.
    pub(super) speech_start: Option<u64>,
    pub(super) utterances: VecDeque<Utterance>,
    pub(super) next_utterance: u64,
    /// Turns sent to the dialogue.
    pub(super) turns_sent: u32,
    /// Language of the last reply (for the gateway's own lines).
    pub(super) language: String,
    /// Tone of the last reply.
    pub(super) tone: pb::Tone,
    /// Stream ms since which nothing happens (no speech, no agent audio).
    pub(super) idle_since: Option<u64>,
    pub(super) prompted: bool,
    pub(super) closing: bool,
    pub(super) dtmf: String,
    pub(super) dtmf_last_ms: u64,
}

/// How the call loop ended.
pub enum End {
    /// Reason for `CallEnded`, with the hand-off ticket if any.
    Ended(&'static str, String),
    /// The client stopped listening.
    Gone,
}

impl Session {
    /// Opens the ASR and dialogue streams and returns the session with
    /// their event streams.
    pub async fn open(
        backends: &super::Backends,
        cfg: Arc<CallConfig>,
        metrics: Arc<CallMetrics>,
        backchannels: Arc<Backchannels>,
        setup: CallSetup,
        out: mpsc::Sender<pb::CallEvent>,
        tts_events: mpsc::Sender<(u64, SpeechEvent)>,
    ) -> Result<(Self, Streams), CallError> {
        let conversation_id = if setup.conversation_id.is_empty() {
            new_conversation_id()
        } else {
            setup.conversation_id.clone()
        };
        let format = setup.format;
        let asr_config = pb::StreamingConfig {
            format: Some(format.to_pb()),
            language: setup.language.clone(),
            partial_results: true,
            conversation_id: conversation_id.clone(),
        };
        let customer = (!setup.caller_id.is_empty()).then(|| pb::CustomerHint {
            hint: Some(pb::customer_hint::Hint::PhoneNumber(
                setup.caller_id.clone(),
            )),
        });
        let dlg_start = pb::ConversationStart {
            conversation_id: conversation_id.clone(),
            channel: pb::Channel::Voice as i32,
            language: dialogue_language(&setup.language),
            customer,
        };
        let mut asr_client = pb::asr_client::AsrClient::new(backends.asr.clone());
        let mut dlg_client = pb::dialogue_client::DialogueClient::new(backends.dialogue.clone());
        let (asr, dlg) = tokio::join!(
            open_asr(&mut asr_client, &asr_config),
            open_dialogue(&mut dlg_client, &dlg_start),
        );
        let (asr_tx, asr_stream) = asr.map_err(|s| CallError::upstream("asr", &s))?;
        let (dlg_tx, dlg_stream) = dlg.map_err(|s| CallError::upstream("dialogue", &s))?;
        let language = if setup.language == "auto" {
            "en".to_owned()
        } else {
            setup.language.clone()
        };
        metrics.calls_started.fetch_add(1, Ordering::Relaxed);
        metrics.calls_active.fetch_add(1, Ordering::Relaxed);
        let rules = Rules {
            barge_in_min_ms: u64::from(cfg.barge_in_min_ms),
            merge_grace_ms: u64::from(cfg.merge_grace_ms),
            fragment_flush_ms: u64::from(cfg.fragment_flush_ms),
        };
        let session = Session {
            turns: TurnTaking::new(rules, backchannels.clone()),
            cfg,
            metrics,
            backchannels,
            conversation_id,
            format,
            out,
            asr_tx,
            asr_seq: 0,
            asr_client,
            asr_config,
            asr_base_ms: 0,
            dlg_tx,
            dlg_client,
            dlg_start,
            recoveries: 0,
            asr_backlogged: false,
            tts: TtsClient::new(backends.tts.clone()),
            tts_events,
            playout: Playout::new(format),
            clock: 0,
            arrivals: VecDeque::new(),
            speech_start: None,
            utterances: VecDeque::new(),
            next_utterance: 0,
            turns_sent: 0,
            language,
            tone: pb::Tone::Calm,
            idle_since: Some(0),
            prompted: false,
            closing: false,
            dtmf: String::new(),
            dtmf_last_ms: 0,
            setup,
        };
        Ok((
            session,
            Streams {
                asr: asr_stream,
                dialogue: dlg_stream,
            },
        ))
    }

    /// Runs the call until it ends.
    pub async fn run(
        mut self,
        mut streams: Streams,
        mut input: mpsc::Receiver<CallInput>,
        mut speech: mpsc::Receiver<(u64, SpeechEvent)>,
    ) -> Result<End, CallError> {
        use tokio_stream::StreamExt;
        if !self
            .emit(Out::ConversationId(self.conversation_id.clone()))
            .await
        {
            return Ok(End::Gone);
        }
        match self.setup.opening {
            Opening::Greeting if self.cfg.greet => {
                let text = line_text(Line::Greeting, &self.language);
                self.say(Kind::Prompt, text);
            }
            Opening::Greeting => {}
            Opening::TransferFailed => {
                let text = line_text(Line::TransferFailed, &self.language);
                self.say(Kind::Prompt, text);
            }
        }
        let idle = Duration::from_secs(u64::from(self.cfg.idle_timeout_secs));
        let mut last_input = Instant::now();
        loop {
            self.pump();
            if let Some(end) = self.finished_utterances() {
                return Ok(end);
            }
            let tone_deadline = self.tone_deadline();
            let step = tokio::select! {
                biased;
                msg = input.recv() => {
                    last_input = Instant::now();
                    match msg {
                        Some(CallInput::Audio(chunk)) => self.on_audio(chunk).await?,
                        Some(CallInput::Dtmf(digits)) => self.on_dtmf(&digits).await?,
                        Some(CallInput::Hangup) | None => Some(End::Ended("hangup", String::new())),
                        Some(CallInput::Invalid(message)) => return Err(CallError::Protocol(message)),
                    }
                }
                ev = speech.recv() => {
                    if let Some((id, ev)) = ev {
                        self.on_speech(id, ev);
                    }
                    None
                }
                ev = streams.asr.next() => match ev {
                    Some(Ok(r)) => self.on_asr(r).await?,
                    Some(Err(s)) => self.recover(Upstream::Asr, s, &mut streams).await?,
                    None => {
                        let s = tonic::Status::internal("the recognition stream ended");
                        self.recover(Upstream::Asr, s, &mut streams).await?
                    }
                },
                ev = streams.dialogue.next() => match ev {
                    Some(Ok(r)) => self.on_reply(r).await?,
                    Some(Err(s)) => self.recover(Upstream::Dialogue, s, &mut streams).await?,
                    None => {
                        let s = tonic::Status::internal("the conversation stream ended");
                        self.recover(Upstream::Dialogue, s, &mut streams).await?
                    }
                },
                _ = sleep_until(tone_deadline), if tone_deadline.is_some() => None,
                _ = tokio::time::sleep_until((last_input + idle).into()) => {
                    return Err(CallError::Vanished(self.cfg.idle_timeout_secs));
                }
            };
            if let Some(end) = step {
                return Ok(end);
            }
        }
    }

    /// Sends an event to the caller; false when the caller is gone.
    pub(super) async fn emit(&self, event: Out) -> bool {
        self.out
            .send(pb::CallEvent { event: Some(event) })
            .await
            .is_ok()
    }

    /// The caller's stream position, in milliseconds.
    pub(super) fn clock_ms(&self) -> u64 {
        self.format.ms(self.clock)
    }

    /// When the caller audio containing stream position `ms` arrived.
    pub(super) fn arrival_of(&self, ms: u64) -> Option<Instant> {
        self.arrivals
            .iter()
            .find(|(end, _)| *end >= ms)
            .map(|(_, at)| *at)
    }

    /// Caller audio: checked, counted, sent to the ASR; then agent frames
    /// whose time has come are sent, and the silence and duration limits
    /// are checked.
    async fn on_audio(&mut self, chunk: pb::AudioChunk) -> Result<Option<End>, CallError> {
        self.format.check_chunk(&chunk, self.cfg.max_chunk_bytes)?;
        let before = self.clock_ms();
        self.clock += self.format.samples(chunk.data.len());
        let now_ms = self.clock_ms();
        self.arrivals.push_back((now_ms, Instant::now()));
        while self
            .arrivals
            .front()
            .is_some_and(|(end, _)| end + 120_000 < now_ms)
        {
            self.arrivals.pop_front();
        }
        let request = pb::StreamingRecognizeRequest {
            request: Some(AsrIn::Audio(pb::AudioChunk {
                sequence: self.asr_seq,
                format: Some(self.format.to_pb()),
                data: chunk.data,
                offset_ms: before,
            })),
        };
        self.asr_seq += 1;
        // Never wait for the recognizer: a waiting loop stops reading its
        // caller, which on a shared HTTP/2 connection stalls other calls.
        match self.asr_tx.try_send(request) {
            Ok(()) => self.asr_backlogged = false,
            Err(mpsc::error::TrySendError::Full(_)) => {
                if !std::mem::replace(&mut self.asr_backlogged, true) {
                    tracing::warn!(conversation = %self.conversation_id, "speech recognition is a minute behind; caller audio dropped until it catches up");
                }
            }
            // Its event stream ends too; the loop reopens it there.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
        if !self.dtmf.is_empty() && now_ms >= self.dtmf_last_ms + u64::from(self.cfg.dtmf_gap_ms) {
            self.send_dtmf_turn().await?;
        }
        // The speaker's state is worked out only when words wait.
        let kept = self.turns.holds_fragment();
        if let Some(turn) = kept
            .then(|| self.turns.tick(now_ms, self.speaker()))
            .flatten()
        {
            tracing::info!(conversation = %self.conversation_id, pieces = turn.pieces, "a kept fragment goes alone");
            self.send_merged(turn).await?;
        }
        while let Some(frame) = self.playout.next_due(now_ms) {
            let (id, first) = (frame.utterance, frame.first);
            if first {
                self.started(id, frame.offset_ms);
            }
            let chunk = pb::AudioChunk {
                sequence: frame.sequence,
                format: Some(self.format.to_pb()),
                data: frame.data,
                offset_ms: frame.offset_ms,
            };
            if !self.emit(Out::Audio(chunk)).await {
                return Ok(Some(End::Gone));
            }
            if first && !self.first_audio(id).await {
                return Ok(Some(End::Gone));
            }
        }
        self.check_limits(now_ms);
        Ok(None)
    }

    /// Timings of a reply whose first frame just played.
    async fn first_audio(&mut self, id: u64) -> bool {
        let now = Instant::now();
        let Some(u) = self.utterances.iter().find(|u| u.id == id) else {
            return true;
        };
        if u.kind != Kind::Answer {
            return true;
        }
        let t = &u.timing;
        let ms = |a: Option<Instant>, b: Option<Instant>| match (a, b) {
            (Some(a), Some(b)) => b.saturating_duration_since(a).as_millis() as u32,
            _ => 0,
        };
        let timings = pb::StageTimings {
            asr_ms: t.asr_ms,
            dialogue_first_text_ms: ms(t.sent_at, t.first_text_at),
            tts_first_audio_ms: ms(t.tts_open_at, t.tts_audio_at),
            voice_to_voice_ms: ms(t.speech_end, Some(now)),
            end_of_turn_ms: t.end_of_turn_ms,
            turn_index: u.turn_index.unwrap_or(0),
        };
        let m = &self.metrics;
        m.observe(Stage::EndOfTurn, f64::from(timings.end_of_turn_ms));
        m.observe(Stage::AsrFinal, f64::from(timings.asr_ms));
        m.observe(
            Stage::FirstLlmToken,
            f64::from(timings.dialogue_first_text_ms),
        );
        m.observe(Stage::FirstTtsAudio, f64::from(timings.tts_first_audio_ms));
        if t.speech_end.is_some() {
            m.observe(Stage::VoiceToVoice, f64::from(timings.voice_to_voice_ms));
        }
        tracing::info!(
            conversation = %self.conversation_id, turn = timings.turn_index,
            end_of_turn_ms = timings.end_of_turn_ms, asr_ms = timings.asr_ms,
            first_text_ms = timings.dialogue_first_text_ms, tts_first_audio_ms = timings.tts_first_audio_ms,
            voice_to_voice_ms = timings.voice_to_voice_ms, "turn timings"
        );
        self.emit(Out::Timings(timings)).await
    }

    /// Silence prompt, silence close and the maximum duration.
    fn check_limits(&mut self, now_ms: u64) {
        if self.closing {
            return;
        }
        if now_ms >= u64::from(self.cfg.max_call_secs) * 1000 {
            tracing::info!(conversation = %self.conversation_id, "call reached its maximum duration");
            self.stop_speaking(false);
            let text = line_text(Line::MaxDurationGoodbye, &self.language);
            self.say(Kind::Closing("max_duration"), text);
            return;
        }
        let busy = self.speech_start.is_some()
            || !self.utterances.is_empty()
            || !self.dtmf.is_empty()
            || self.playout.is_playing();
        if busy {
            self.idle_since = None;
            return;
        }
        let since = *self.idle_since.get_or_insert(now_ms);
        let limit = if self.prompted {
            self.cfg.silence_close_secs
        } else {
            self.cfg.silence_prompt_secs
        };
        if now_ms >= since + u64::from(limit) * 1000 {
            if self.prompted {
                let text = line_text(Line::SilenceGoodbye, &self.language);
                self.say(Kind::Closing("silence"), text);
            } else {
                self.prompted = true;
                let text = line_text(Line::StillThere, &self.language);
                self.say(Kind::Prompt, text);
            }
        }
    }

    /// Queues a gateway line.
    pub(super) fn say(&mut self, kind: Kind, text: &str) {
        if matches!(kind, Kind::Closing(_)) {
            self.closing = true;
        }
        let id = self.next_id();
        self.utterances
            .push_back(Utterance::line(id, kind, text, &self.language));
    }

    pub(super) fn next_id(&mut self) -> u64 {
        self.next_utterance += 1;
        self.next_utterance
    }

    /// Speech synthesis events of utterance `id`.
    fn on_speech(&mut self, id: u64, event: SpeechEvent) {
        let Some(u) = self.utterances.iter_mut().find(|u| u.id == id) else {
            return;
        };
        if u.cancelled {
            return;
        }
        match event {
            SpeechEvent::Audio(data) => {
                u.timing.tts_audio_at.get_or_insert_with(Instant::now);
                self.playout.push(id, &data);
            }
            SpeechEvent::Sentence { chars, audio_ms } => self.playout.sentence(id, chars, audio_ms),
            SpeechEvent::Done => {
                u.synthesis = Synthesis::Done;
                self.playout.finish(id);
            }
            SpeechEvent::Failed(message)
                if u.kind == Kind::Answer
                    && !u.plain
                    && message.contains("SSML")
                    && self.playout.queued(id) == 0 =>
            {
                tracing::warn!(conversation = %self.conversation_id, utterance = id, error = %message, "synthesis refused the reply's SSML; speaking it as plain text");
                u.plain = true;
                u.text = strip_tags(&u.text);
                u.synthesis = Synthesis::NotOpen;
            }
            SpeechEvent::Failed(message) => {
                tracing::warn!(conversation = %self.conversation_id, utterance = id, error = %message, "speech synthesis failed; the utterance is cut");
                u.synthesis = Synthesis::Done;
                self.playout.finish(id);
            }
        }
    }
}

/// The ASR and dialogue event streams of a call.
pub struct Streams {
    pub(super) asr: tonic::Streaming<pb::StreamingRecognizeResponse>,
    pub(super) dialogue: tonic::Streaming<pb::ReplyEvent>,
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}

/// The dialogue's language for a call language ("auto" → detect).
fn dialogue_language(language: &str) -> String {
    if language == "auto" {
        String::new()
    } else {
        language.to_owned()
    }
}

fn new_conversation_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("call-{nanos:x}")
}

impl Drop for Session {
    fn drop(&mut self) {
        self.metrics.calls_active.fetch_sub(1, Ordering::Relaxed);
    }
}
