//! One `StreamingRecognize` stream: validates the config and each chunk,
//! decodes and resamples, runs turn detection on a blocking thread, asks
//! the pool for partials (at most one in flight, dropped when its turn
//! ends) and finals, and sends events back. Any bad input ends the stream
//! with a status; dropping the stream's state cancels its queued work.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parla_proto::v1::streaming_recognize_request::Request as Inbound;
use parla_proto::v1::streaming_recognize_response::Event;
use parla_proto::v1::{
    FinalResult, PartialResult, SpeechEnded, SpeechStarted, StreamingConfig,
    StreamingRecognizeRequest, StreamingRecognizeResponse,
};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tonic::{Status, Streaming};

use crate::audio::{AudioSpec, StreamDecoder};
use crate::engine::{language_tag, AsrEngine};
use crate::recognizer::{LanguageChoice, Pass, RecognitionRequest, Transcript};
use crate::service::{audio_spec, response};
use crate::turn::{TranscriptStarter, TurnDetector, TurnEnd, TurnEvent};
use crate::AsrError;

type Outbound = mpsc::Sender<Result<StreamingRecognizeResponse, Status>>;

/// Runs a stream to its end, sending its events and, on failure, the
/// status that ends it.
pub(crate) async fn run(
    engine: Arc<AsrEngine>,
    inbound: Streaming<StreamingRecognizeRequest>,
    tx: Outbound,
) {
    let mut stream = match Stream::open(engine, inbound, tx.clone()).await {
        Ok(stream) => stream,
        Err(status) => {
            tracing::warn!(code = ?status.code(), message = status.message(), "stream refused");
            let _ = tx.send(Err(status)).await;
            return;
        }
    };
    if let Err(status) = stream.serve().await {
        tracing::warn!(conversation_id = %stream.conversation_id, code = ?status.code(), message = status.message(), "stream ended with an error");
        let _ = tx.send(Err(status)).await;
    }
    stream.cancel_partial();
}

struct Stream {
    engine: Arc<AsrEngine>,
    inbound: Streaming<StreamingRecognizeRequest>,
    tx: Outbound,
    conversation_id: String,
    spec: AudioSpec,
    language: LanguageChoice,
    partials: bool,
    decoder: StreamDecoder,
    detector: Option<TurnDetector>,
    /// The agent's last words asked the caller something (`TurnContext`).
    expects_answer: bool,
    idle: Duration,
    samples_in: u64,
    finals: u32,
    turn: u64,
    partial_task: Option<JoinHandle<()>>,
    /// The latest partial the detector asked for while one was running:
    /// started when that one ends, so a pass that yields nothing (empty,
    /// skipped by a busy pool) is followed by one on newer audio, even if no
    /// more audio comes.
    next_partial: Option<(Arc<Vec<f32>>, u32)>,
    partial_rx: mpsc::Receiver<PartialDone>,
    partial_tx: mpsc::Sender<PartialDone>,
}

/// A partial pass has ended: its turn, its offset, and its transcript
/// (`None` when the pool skipped it).
type PartialDone = (u64, u32, Option<Transcript>);

fn status(e: AsrError) -> Status {
    e.into()
}

fn event(e: Event) -> StreamingRecognizeResponse {
    StreamingRecognizeResponse { event: Some(e) }
}

impl Stream {
    async fn open(
        engine: Arc<AsrEngine>,
        mut inbound: Streaming<StreamingRecognizeRequest>,
        tx: Outbound,
    ) -> Result<Self, Status> {
        let idle = Duration::from_secs(engine.config.idle_timeout_secs as u64);
        let first = next(&mut inbound, idle).await?;
        let config: StreamingConfig = match first.and_then(|m| m.request) {
            Some(Inbound::Config(config)) => config,
            Some(Inbound::Audio(_) | Inbound::Context(_)) => {
                return Err(Status::invalid_argument(
                    "the first message of a stream must be `config`",
                ))
            }
            None => {
                return Err(Status::invalid_argument(
                    "the stream ended before its `config` message",
                ))
            }
        };
        let spec = audio_spec(config.format.as_ref()).map_err(status)?;
        let language = LanguageChoice::parse(&config.language);
        engine.check_language(&language).map_err(status)?;
        let decoder = StreamDecoder::new(spec).map_err(status)?;
        let (recognizer, pause_language) = (engine.recognizer.clone(), language.clone());
        // Queues the pause's pass at once; the detector waits for it (on
        // its blocking thread) only when it judges the pause. Dropping the
        // pending pass (speech resumed) cancels it.
        let starter: TranscriptStarter = Box::new(move |audio| {
            let request = RecognitionRequest {
                audio,
                language: pause_language.clone(),
                pass: Pass::Final,
            };
            // The mutex only makes the future shareable (the stream is).
            let answer = std::sync::Mutex::new(recognizer.recognize(request));
            Box::new(move || futures::executor::block_on(answer.into_inner().ok()?).ok())
        });
        let detector = TurnDetector::new(
            engine.vad.clone(),
            engine.turn.clone(),
            engine.turn_settings(),
        )
        .with_starter(starter);
        let (partial_tx, partial_rx) = mpsc::channel(4);
        tracing::info!(conversation_id = %config.conversation_id, encoding = ?spec.encoding, sample_rate = spec.sample_rate, language = ?language, "stream opened");
        Ok(Self {
            engine,
            inbound,
            tx,
            conversation_id: config.conversation_id,
            spec,
            language,
            partials: config.partial_results,
            decoder,
            detector: Some(detector),
            expects_answer: false,
            idle,
            samples_in: 0,
            finals: 0,
            turn: 0,
            partial_task: None,
            next_partial: None,
            partial_rx,
            partial_tx,
        })
    }

    async fn serve(&mut self) -> Result<(), Status> {
        loop {
            tokio::select! {
                message = next(&mut self.inbound, self.idle) => {
                    match message?.and_then(|m| m.request) {
                        None => return self.finish().await,
                        Some(Inbound::Config(_)) => {
                            return Err(Status::invalid_argument("`config` may only be the first message of a stream"))
                        }
                        Some(Inbound::Context(context)) => {
                            self.expects_answer = context.expects_answer;
                        }
                        Some(Inbound::Audio(chunk)) => {
                            if let Some(format) = chunk.format.as_ref() {
                                let spec = audio_spec(Some(format)).map_err(status)?;
                                if spec != self.spec {
                                    return Err(Status::invalid_argument(format!(
                                        "chunk {} is {:?} at {} Hz but the stream was configured as {:?} at {} Hz; the format cannot change mid-stream",
                                        chunk.sequence, spec.encoding, spec.sample_rate, self.spec.encoding, self.spec.sample_rate
                                    )));
                                }
                            }
                            self.audio(&chunk.data).await?;
                        }
                    }
                }
                Some((turn, offset_ms, transcript)) = self.partial_rx.recv() => {
                    if turn != self.turn {
                        continue;
                    }
                    self.partial_task = None;
                    if let Some(t) = transcript.filter(|t| !t.text.is_empty()) {
                        self.send(Event::Partial(PartialResult { text: t.text, offset_ms, confidence: t.confidence })).await?;
                    }
                    if let Some((audio, offset_ms)) = self.next_partial.take() {
                        self.partial(audio, offset_ms);
                    }
                }
            }
        }
    }

    async fn audio(&mut self, data: &[u8]) -> Result<(), Status> {
        let config = &self.engine.config;
        if data.len() > config.max_chunk_bytes as usize {
            return Err(status(AsrError::TooLong(format!(
                "audio chunk of {} bytes is over the limit of {} bytes (`asr.max_chunk_bytes`); send smaller chunks (20–200 ms)",
                data.len(),
                config.max_chunk_bytes
            ))));
        }
        let samples = self.decoder.decode(data).map_err(status)?;
        self.samples_in += (data.len() / self.spec.bytes_per_sample()) as u64;
        let limit = config.max_stream_secs as u64 * self.spec.sample_rate as u64;
        if self.samples_in > limit {
            return Err(status(AsrError::TooLong(format!(
                "the stream is over its maximum of {} s of audio (`asr.max_stream_secs`); open a new stream",
                config.max_stream_secs
            ))));
        }
        let events = self.detect(samples, false).await?;
        self.handle(events).await
    }

    async fn finish(&mut self) -> Result<(), Status> {
        let tail = self.decoder.flush();
        let mut events = self.detect(tail, false).await?;
        events.extend(self.detect(Vec::new(), true).await?);
        self.handle(events).await?;
        if self.finals == 0 {
            // Silence or noise only: the caller still gets a (empty) final.
            let position = self.detector.as_ref().map_or(0, TurnDetector::position_ms);
            let mut result = response(&Transcript::silence(
                &language_tag(&self.language),
                position,
            ));
            result.processing_ms = 0;
            self.send(Event::Final(FinalResult {
                result: Some(result),
                start_ms: position,
                end_ms: position,
                end_of_turn_probability: 0.0,
                latency_ms: 0,
                decided_ms: position,
                end_reason: "no_speech".into(),
            }))
            .await?;
        }
        tracing::info!(conversation_id = %self.conversation_id, finals = self.finals, "stream closed");
        Ok(())
    }

    /// Runs the detector on a blocking thread (VAD and Smart Turn are
    /// model inference).
    async fn detect(&mut self, samples: Vec<f32>, end: bool) -> Result<Vec<TurnEvent>, Status> {
        let mut detector = self
            .detector
            .take()
            .ok_or_else(|| Status::internal("turn detector lost"))?;
        detector.set_answering(self.expects_answer);
        let (detector, events) = tokio::task::spawn_blocking(move || {
            let events = if end {
                detector.finish()
            } else {
                detector.push(&samples)
            };
            (detector, events)
        })
        .await
        .map_err(|e| Status::internal(format!("turn detection stopped: {e}")))?;
        self.detector = Some(detector);
        events.map_err(status)
    }

    async fn handle(&mut self, events: Vec<TurnEvent>) -> Result<(), Status> {
        for e in events {
            match e {
                TurnEvent::SpeechStarted { offset_ms } => {
                    self.send(Event::SpeechStarted(SpeechStarted { offset_ms }))
                        .await?
                }
                TurnEvent::SpeechEnded {
                    offset_ms,
                    probability,
                } => {
                    self.send(Event::SpeechEnded(SpeechEnded {
                        offset_ms,
                        end_of_turn_probability: probability,
                    }))
                    .await?
                }
                TurnEvent::Partial { audio, offset_ms } => self.partial(audio, offset_ms),
                TurnEvent::Ended {
                    audio,
                    start_ms,
                    end_ms,
                    decided_ms,
                    probability,
                    reason,
                    transcript,
                } => {
                    self.cancel_partial();
                    self.turn += 1;
                    let started = Instant::now();
                    let transcript = match transcript {
                        Some(t) => t,
                        None => self
                            .engine
                            .recognizer
                            .recognize(RecognitionRequest {
                                audio,
                                language: self.language.clone(),
                                pass: Pass::Final,
                            })
                            .await
                            .map_err(status)?,
                    };
                    // Made at the pause: its recognition time was spent
                    // before the decision.
                    let recognition_ms = transcript.processing_ms;
                    let waited = decided_ms.saturating_sub(end_ms);
                    let processing = (started.elapsed().as_millis() as u32).max(recognition_ms);
                    let mut result = response(&transcript);
                    result.processing_ms = processing;
                    tracing::info!(conversation_id = %self.conversation_id, start_ms, end_ms, decided_ms, probability, reason = ?reason, processing_ms = processing, "turn final");
                    self.finals += 1;
                    self.send(Event::Final(FinalResult {
                        result: Some(result),
                        start_ms,
                        end_ms,
                        end_of_turn_probability: probability,
                        latency_ms: waited + processing,
                        decided_ms,
                        end_reason: reason_name(reason).into(),
                    }))
                    .await?;
                }
            }
        }
        Ok(())
    }

    /// Starts a partial recognition unless one is still running.
    fn partial(&mut self, audio: Arc<Vec<f32>>, offset_ms: u32) {
        if !self.partials {
            return;
        }
        if self.partial_task.as_ref().is_some_and(|t| !t.is_finished()) {
            self.next_partial = Some((audio, offset_ms));
            return;
        }
        let future = self.engine.recognizer.recognize(RecognitionRequest {
            audio,
            language: self.language.clone(),
            pass: Pass::Partial,
        });
        let (turn, tx) = (self.turn, self.partial_tx.clone());
        self.partial_task = Some(tokio::spawn(async move {
            let transcript = match future.await {
                Ok(transcript) => Some(transcript),
                // A busy pool skips partials; the final still queues.
                Err(e) => {
                    tracing::debug!(error = %e, "partial skipped");
                    None
                }
            };
            let _ = tx.send((turn, offset_ms, transcript)).await;
        }));
    }

    /// Drops a running partial; its queued job is skipped by the pool.
    fn cancel_partial(&mut self) {
        self.next_partial = None;
        if let Some(task) = self.partial_task.take() {
            task.abort();
        }
    }

    async fn send(&self, e: Event) -> Result<(), Status> {
        self.tx
            .send(Ok(event(e)))
            .await
            .map_err(|_| Status::cancelled("the client has gone"))
    }
}

fn reason_name(reason: TurnEnd) -> &'static str {
    match reason {
        TurnEnd::Complete => "complete",
        TurnEnd::Timeout => "silence",
        TurnEnd::TooLong => "max_turn",
        TurnEnd::StreamEnd => "stream_end",
    }
}

/// The next inbound message, or DEADLINE_EXCEEDED after `idle` without one.
async fn next(
    inbound: &mut Streaming<StreamingRecognizeRequest>,
    idle: Duration,
) -> Result<Option<StreamingRecognizeRequest>, Status> {
    match tokio::time::timeout(idle, inbound.message()).await {
        Ok(message) => message,
        Err(_) => Err(Status::deadline_exceeded(format!(
            "no audio for {} s (`asr.idle_timeout_secs`): send chunks continuously (silence included) or close the stream",
            idle.as_secs()
        ))),
    }
}
