//! The gRPC adapter of `parla.v1.Asr`: converts messages to domain types,
//! hands work to the engine and maps [`AsrError`] to status codes, once,
//! here. Answers UNAVAILABLE until the engine has loaded.

use std::sync::Arc;
use std::time::Instant;

use parla_proto::v1::asr_server::{Asr, AsrServer};
use parla_proto::v1::recognize_request::Audio;
use parla_proto::v1::{
    AudioEncoding, AudioFormat, RecognizeRequest, RecognizeResponse, StreamingRecognizeRequest,
    StreamingRecognizeResponse, Word as WordMessage,
};
use tokio::sync::{mpsc, OnceCell};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::audio::{decode_utterance, decode_wav, AudioSpec, Encoding};
use crate::engine::AsrEngine;
use crate::recognizer::{LanguageChoice, Transcript, SAMPLE_RATE};
use crate::session;
use crate::AsrError;

/// The `parla.v1.Asr` service.
#[derive(Clone)]
pub struct AsrService {
    engine: Arc<OnceCell<Arc<AsrEngine>>>,
}

impl AsrService {
    /// A service whose engine is filled in by `engine` once it has loaded.
    pub fn new(engine: Arc<OnceCell<Arc<AsrEngine>>>) -> Self {
        Self { engine }
    }

    /// The tonic server for this service.
    pub fn into_server(self) -> AsrServer<Self> {
        AsrServer::new(self)
    }

    fn engine(&self) -> Result<Arc<AsrEngine>, Status> {
        self.engine.get().cloned().ok_or_else(|| {
            Status::unavailable("speech recognition is still loading its models; retry shortly")
        })
    }
}

impl From<AsrError> for Status {
    fn from(e: AsrError) -> Self {
        match &e {
            AsrError::BadAudio(_) | AsrError::UnsupportedLanguage { .. } => {
                Status::invalid_argument(e.to_string())
            }
            AsrError::Busy { .. } | AsrError::TooLong(_) => {
                Status::resource_exhausted(e.to_string())
            }
            AsrError::Stopped => Status::unavailable(e.to_string()),
            AsrError::Stalled { .. } => Status::deadline_exceeded(e.to_string()),
            AsrError::Aborted => Status::cancelled(e.to_string()),
            AsrError::ModelLoad { .. } | AsrError::OnnxLoad { .. } | AsrError::Inference { .. } => {
                Status::internal(e.to_string())
            }
        }
    }
}

/// Converts a wire format to a domain one.
pub(crate) fn audio_spec(format: Option<&AudioFormat>) -> Result<AudioSpec, AsrError> {
    let format = format.ok_or_else(|| {
        AsrError::BadAudio("audio format is missing: set encoding and sample_rate_hz".into())
    })?;
    let encoding = match AudioEncoding::try_from(format.encoding) {
        Ok(AudioEncoding::Pcm16le) => Encoding::Pcm16le,
        Ok(AudioEncoding::Mulaw) => Encoding::Mulaw,
        Ok(AudioEncoding::Alaw) => Encoding::Alaw,
        Ok(AudioEncoding::Unspecified) | Err(_) => {
            return Err(AsrError::BadAudio(format!(
                "unknown audio encoding {}; allowed: AUDIO_ENCODING_PCM16LE, AUDIO_ENCODING_MULAW, AUDIO_ENCODING_ALAW",
                format.encoding
            )))
        }
    };
    AudioSpec {
        encoding,
        sample_rate: format.sample_rate_hz,
    }
    .validate()
}

/// Converts a transcript to its wire form.
pub(crate) fn response(t: &Transcript) -> RecognizeResponse {
    RecognizeResponse {
        text: t.text.clone(),
        words: t
            .words
            .iter()
            .map(|w| WordMessage {
                text: w.text.clone(),
                start_ms: w.start_ms,
                end_ms: w.end_ms,
                confidence: w.confidence,
            })
            .collect(),
        language: t.language.clone(),
        confidence: t.confidence,
        audio_ms: t.audio_ms,
        processing_ms: t.processing_ms,
    }
}

#[tonic::async_trait]
impl Asr for AsrService {
    async fn recognize(
        &self,
        request: Request<RecognizeRequest>,
    ) -> Result<Response<RecognizeResponse>, Status> {
        let engine = self.engine()?;
        let started = Instant::now();
        let request = request.into_inner();
        let language = LanguageChoice::parse(&request.language);
        let decoded = (|| {
            engine.check_language(&language)?;
            match &request.audio {
                Some(Audio::Wav(bytes)) => decode_wav(bytes),
                Some(Audio::Chunk(chunk)) => {
                    decode_utterance(audio_spec(chunk.format.as_ref())?, &chunk.data)
                }
                None => Err(AsrError::BadAudio("no audio: set `wav` or `chunk`".into())),
            }
        })();
        let audio = decoded.inspect_err(|e| tracing::warn!(error = %e, "recognize refused"))?;
        let limit = engine.config.max_utterance_secs;
        if audio.len() > limit as usize * SAMPLE_RATE as usize {
            let e = AsrError::TooLong(format!(
                "audio is {:.1} s long; Recognize takes at most {limit} s (`asr.max_utterance_secs`): use StreamingRecognize for longer audio",
                audio.len() as f32 / SAMPLE_RATE as f32
            ));
            tracing::warn!(error = %e, "recognize refused");
            return Err(e.into());
        }
        let transcript = engine
            .recognize_utterance(audio, language)
            .await
            .inspect_err(|e| tracing::warn!(error = %e, "recognize failed"))?;
        let mut out = response(&transcript);
        out.processing_ms = started.elapsed().as_millis() as u32;
        tracing::info!(audio_ms = out.audio_ms, processing_ms = out.processing_ms, language = %out.language, confidence = out.confidence, "recognized");
        Ok(Response::new(out))
    }

    type StreamingRecognizeStream = ReceiverStream<Result<StreamingRecognizeResponse, Status>>;

    async fn streaming_recognize(
        &self,
        request: Request<Streaming<StreamingRecognizeRequest>>,
    ) -> Result<Response<Self::StreamingRecognizeStream>, Status> {
        let engine = self.engine()?;
        let (tx, rx) = mpsc::channel(32);
        tokio::spawn(session::run(engine, request.into_inner(), tx));
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}
