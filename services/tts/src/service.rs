//! The gRPC layer (`parla.v1.Tts`): converts requests to domain calls,
//! runs synthesis on blocking threads, and turns errors into statuses.
//! Handlers answer UNAVAILABLE until the voices have loaded.

use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;
use parla_proto::v1 as pb;
use parla_proto::v1::synthesize_stream_request::Request as StreamRequest;
use parla_proto::v1::synthesize_stream_response::Event;
use tokio::sync::{mpsc, OnceCell};
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::StreamExt;
use tonic::{Request, Response, Status, Streaming};

use crate::output::{EncodedChunk, Encoder, Encoding, OutputFormat};
use crate::text::{self, Lang, SentenceBuffer};
use crate::voices::{Voice, VoiceBank};
use crate::{Gender, Tone, TtsError};

/// The `parla.v1.Tts` handler.
#[derive(Clone)]
pub struct TtsService {
    bank: Arc<OnceCell<Arc<VoiceBank>>>,
}

fn fail(what: &str, e: TtsError) -> Status {
    tracing::warn!(rpc = what, error = %e, "tts request rejected");
    e.into()
}

fn tone_of(t: i32) -> Tone {
    match pb::Tone::try_from(t).unwrap_or(pb::Tone::Unspecified) {
        pb::Tone::Warm => Tone::Warm,
        pb::Tone::Empathetic => Tone::Empathetic,
        pb::Tone::Apologetic => Tone::Apologetic,
        pb::Tone::Upbeat => Tone::Upbeat,
        pb::Tone::Calm => Tone::Calm,
        pb::Tone::Neutral | pb::Tone::Unspecified => Tone::Neutral,
    }
}

/// Everything a request decided before synthesis.
struct Job {
    voice: Voice,
    tone: Tone,
    format: OutputFormat,
    ssml: bool,
    lang: Lang,
}

impl TtsService {
    /// A handler whose voices arrive later in `bank`.
    pub fn new(bank: Arc<OnceCell<Arc<VoiceBank>>>) -> Self {
        Self { bank }
    }

    /// The gRPC server for this handler.
    pub fn into_server(self) -> pb::tts_server::TtsServer<Self> {
        pb::tts_server::TtsServer::new(self)
    }

    fn bank(&self) -> Result<Arc<VoiceBank>, TtsError> {
        self.bank.get().cloned().ok_or(TtsError::NotReady)
    }

    fn job(bank: &VoiceBank, config: Option<&pb::SynthesisConfig>) -> Result<Job, TtsError> {
        let default = pb::SynthesisConfig::default();
        let c = config.unwrap_or(&default);
        let voice = bank.resolve(&c.language, &c.voice)?.clone();
        let (encoding, rate) = match &c.output_format {
            None => (None, 0),
            Some(f) => {
                let e = match pb::AudioEncoding::try_from(f.encoding) {
                    Ok(pb::AudioEncoding::Unspecified) if f.sample_rate_hz == 0 => None,
                    Ok(pb::AudioEncoding::Unspecified) => Some(Encoding::Pcm16),
                    Ok(pb::AudioEncoding::Pcm16le) => Some(Encoding::Pcm16),
                    Ok(pb::AudioEncoding::Mulaw) => Some(Encoding::Mulaw),
                    Ok(pb::AudioEncoding::Alaw) => Some(Encoding::Alaw),
                    Err(_) => {
                        return Err(TtsError::Format(format!(
                            "encoding {} is not PCM16LE, MULAW or ALAW",
                            f.encoding
                        )))
                    }
                };
                (e, f.sample_rate_hz)
            }
        };
        let format = OutputFormat::resolve(encoding, rate, voice.info.sample_rate)?;
        let lang = Lang::from_tag(&voice.info.language);
        Ok(Job {
            voice,
            tone: tone_of(c.tone),
            format,
            ssml: c.ssml,
            lang,
        })
    }
}

fn check_text(text: &str, limit: usize) -> Result<(), TtsError> {
    if text.trim().is_empty() {
        return Err(TtsError::EmptyText);
    }
    let chars = text.chars().count();
    if chars > limit {
        return Err(TtsError::TextTooLong { chars, limit });
    }
    Ok(())
}

/// How far numbers, dates and say-as may read a text out, as a factor of
/// `tts.max_text_chars`: an amount or a date grows a few times; thousands of
/// digits read one by one do not pass.
pub const EXPANSION_FACTOR: usize = 4;

/// Refuses pieces that read out to more than [`EXPANSION_FACTOR`] times
/// the text limit.
fn check_spoken(pieces: &[text::Piece], max_text_chars: usize) -> Result<(), TtsError> {
    check_spoken_total(text::spoken_chars(pieces), max_text_chars)
}

fn check_spoken_total(chars: usize, max_text_chars: usize) -> Result<(), TtsError> {
    let limit = max_text_chars.saturating_mul(EXPANSION_FACTOR);
    if chars > limit {
        return Err(TtsError::ExpandsTooFar {
            chars,
            limit,
            factor: EXPANSION_FACTOR,
        });
    }
    Ok(())
}

fn chunk_pb(c: EncodedChunk, format: OutputFormat) -> pb::AudioChunk {
    let encoding = match format.encoding {
        Encoding::Pcm16 => pb::AudioEncoding::Pcm16le,
        Encoding::Mulaw => pb::AudioEncoding::Mulaw,
        Encoding::Alaw => pb::AudioEncoding::Alaw,
    };
    pb::AudioChunk {
        sequence: c.sequence,
        format: Some(pb::AudioFormat {
            encoding: encoding as i32,
            sample_rate_hz: format.sample_rate,
        }),
        data: c.data,
        offset_ms: c.offset_ms,
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::SynthesizeStreamResponse, Status>> + Send>>;

#[tonic::async_trait]
impl pb::tts_server::Tts for TtsService {
    async fn synthesize(
        &self,
        request: Request<pb::SynthesizeRequest>,
    ) -> Result<Response<pb::SynthesizeResponse>, Status> {
        let req = request.into_inner();
        let bank = self.bank().map_err(|e| fail("synthesize", e))?;
        check_text(&req.text, bank.config().max_text_chars).map_err(|e| fail("synthesize", e))?;
        let job = Self::job(&bank, req.config.as_ref()).map_err(|e| fail("synthesize", e))?;
        let pieces = text::plan(&req.text, job.ssml, job.lang)
            .and_then(|p| check_spoken(&p, bank.config().max_text_chars).map(|()| p))
            .map_err(|e| fail("synthesize", e))?;
        let started = std::time::Instant::now();
        let voice_name = job.voice.info.name.clone();
        let result = tokio::task::spawn_blocking(move || {
            let mut enc = Encoder::new(job.format, job.voice.info.sample_rate, None)?;
            bank.speak(&job.voice, job.tone, &pieces, &mut |pcm| {
                enc.push(pcm);
            })?;
            let chunk = enc.finish().into_iter().next();
            let samples = enc.samples();
            let chunk = chunk.map(|c| chunk_pb(c, job.format));
            Ok::<_, TtsError>((
                chunk,
                (samples * 1000 / u64::from(job.format.sample_rate)) as u32,
            ))
        })
        .await
        .map_err(|e| Status::internal(format!("synthesis task failed: {e}")))?;
        let (audio, audio_ms) = result.map_err(|e| fail("synthesize", e))?;
        tracing::info!(voice = %voice_name, audio_ms, elapsed_ms = started.elapsed().as_millis() as u64, "synthesized");
        Ok(Response::new(pb::SynthesizeResponse {
            audio,
            voice: voice_name,
            audio_ms,
        }))
    }

    type SynthesizeStreamStream = EventStream;

    async fn synthesize_stream(
        &self,
        request: Request<Streaming<pb::SynthesizeStreamRequest>>,
    ) -> Result<Response<EventStream>, Status> {
        let bank = self.bank().map_err(|e| fail("synthesize_stream", e))?;
        let mut inbound = request.into_inner();
        let first = inbound.message().await?.ok_or_else(|| {
            fail(
                "synthesize_stream",
                TtsError::Protocol("the stream ended before its config message".into()),
            )
        })?;
        let Some(StreamRequest::Config(config)) = first.request else {
            return Err(fail(
                "synthesize_stream",
                TtsError::Protocol("the first message must be a config".into()),
            ));
        };
        let job = Self::job(&bank, Some(&config)).map_err(|e| fail("synthesize_stream", e))?;
        let (out_tx, out_rx) = mpsc::channel::<Result<pb::SynthesizeStreamResponse, Status>>(64);
        let (sentences_tx, sentences_rx) = std::sync::mpsc::channel::<String>();
        let limit = bank.config().max_text_chars;
        let chunk_ms = bank.config().chunk_ms;
        // Reader: cuts deltas into sentences for the synthesis thread.
        let reader_out = out_tx.clone();
        let ssml = job.ssml;
        tokio::spawn(async move {
            let mut buffer = SentenceBuffer::new(ssml);
            let mut total = 0usize;
            loop {
                let msg = match inbound.next().await {
                    Some(Ok(m)) => m,
                    Some(Err(status)) => {
                        tracing::debug!(%status, "tts stream client error");
                        return;
                    }
                    None => break,
                };
                let err = match msg.request {
                    Some(StreamRequest::TextDelta(delta)) => {
                        total += delta.chars().count();
                        if total > limit {
                            Some(TtsError::TextTooLong {
                                chars: total,
                                limit,
                            })
                        } else {
                            for s in buffer.push(&delta) {
                                let _ = sentences_tx.send(s);
                            }
                            None
                        }
                    }
                    Some(StreamRequest::Flush(_)) => break,
                    Some(StreamRequest::Config(_)) => Some(TtsError::Protocol(
                        "config may be sent only once, first".into(),
                    )),
                    None => Some(TtsError::Protocol(
                        "empty message: send text_delta or flush".into(),
                    )),
                };
                if let Some(e) = err {
                    let _ = reader_out.send(Err(fail("synthesize_stream", e))).await;
                    return; // dropping sentences_tx ends the synthesis thread
                }
            }
            if let Some(rest) = buffer.finish() {
                let _ = sentences_tx.send(rest);
            }
            if total == 0 {
                let _ = reader_out
                    .send(Err(fail("synthesize_stream", TtsError::EmptyText)))
                    .await;
            }
        });
        // Synthesis: one blocking thread per stream, sentence by sentence.
        tokio::task::spawn_blocking(move || {
            let sample_rate = job.voice.info.sample_rate;
            let mut enc = match Encoder::new(job.format, sample_rate, Some(chunk_ms)) {
                Ok(e) => e,
                Err(e) => {
                    let _ = out_tx.blocking_send(Err(e.into()));
                    return;
                }
            };
            let send_chunks = |chunks: Vec<EncodedChunk>, tx: &mpsc::Sender<_>| -> bool {
                chunks.into_iter().all(|c| {
                    tx.blocking_send(Ok(pb::SynthesizeStreamResponse {
                        event: Some(Event::Audio(chunk_pb(c, job.format))),
                    }))
                    .is_ok()
                })
            };
            // Characters read out so far, after numbers and say-as.
            let mut spoken = 0usize;
            for sentence in sentences_rx {
                let first_sequence = enc.samples();
                let first_seq_no = first_sequence / enc_chunk(&enc, chunk_ms);
                let audio_limit =
                    u64::from(job.format.sample_rate) * u64::from(bank.config().max_audio_secs);
                if enc.samples() > audio_limit {
                    let e = TtsError::AudioTooLong {
                        limit_secs: bank.config().max_audio_secs,
                    };
                    let _ = out_tx.blocking_send(Err(fail("synthesize_stream", e)));
                    return;
                }
                let planned = text::plan(&sentence, job.ssml, job.lang).and_then(|p| {
                    spoken += text::spoken_chars(&p);
                    check_spoken_total(spoken, bank.config().max_text_chars).map(|()| p)
                });
                let pieces = match planned {
                    Ok(p) => p,
                    Err(e) => {
                        let _ = out_tx.blocking_send(Err(fail("synthesize_stream", e)));
                        return;
                    }
                };
                let mut open = true;
                let r = bank.speak(&job.voice, job.tone, &pieces, &mut |pcm| {
                    if open {
                        open = send_chunks(enc.push(pcm), &out_tx);
                    }
                });
                let sentence_end = enc.samples();
                if let Err(e) = r {
                    let _ = out_tx.blocking_send(Err(fail("synthesize_stream", e)));
                    return;
                }
                if !open {
                    return; // client gone
                }
                let audio_ms = ((sentence_end - first_sequence) * 1000
                    / u64::from(job.format.sample_rate)) as u32;
                let event = Event::Sentence(pb::SentenceSpoken {
                    text: sentence,
                    first_sequence: first_seq_no,
                    audio_ms,
                });
                if out_tx
                    .blocking_send(Ok(pb::SynthesizeStreamResponse { event: Some(event) }))
                    .is_err()
                {
                    return;
                }
            }
            send_chunks(enc.finish(), &out_tx);
        });
        Ok(Response::new(
            Box::pin(ReceiverStream::new(out_rx)) as EventStream
        ))
    }

    async fn list_voices(
        &self,
        request: Request<pb::ListVoicesRequest>,
    ) -> Result<Response<pb::ListVoicesResponse>, Status> {
        let bank = self.bank().map_err(|e| fail("list_voices", e))?;
        let voices = bank
            .list(&request.into_inner().language)
            .into_iter()
            .map(|v| pb::Voice {
                name: v.info.name.clone(),
                language: v.info.language.clone(),
                gender: match v.info.gender {
                    Gender::Female => pb::VoiceGender::Female,
                    Gender::Male => pb::VoiceGender::Male,
                    Gender::Neutral => pb::VoiceGender::Neutral,
                } as i32,
                engine: v.info.engine.to_owned(),
                sample_rate_hz: v.info.sample_rate,
                is_default: v.is_default,
            })
            .collect();
        Ok(Response::new(pb::ListVoicesResponse { voices }))
    }
}

/// Output samples per chunk.
fn enc_chunk(enc: &Encoder, chunk_ms: u32) -> u64 {
    (u64::from(enc.format().sample_rate) * u64::from(chunk_ms) / 1000).max(1)
}
