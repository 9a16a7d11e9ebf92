//! Helpers shared by the ASR tests: the real engine from the model cache
//! behind a real gRPC server on 127.0.0.1:0, speech made with eSpeak NG,
//! the human `jfk.wav` sample, word error rate, and stream helpers.

#![allow(dead_code)]

pub mod natural;
pub mod phrases;
pub mod speech;
pub mod wer;

use std::sync::{Arc, OnceLock};

use parla_asr::{AsrConfig, AsrEngine, AsrPaths, AsrService};
use parla_proto::v1::asr_client::AsrClient;
use parla_proto::v1::streaming_recognize_request::Request as Inbound;
use parla_proto::v1::streaming_recognize_response::Event;
use parla_proto::v1::{
    AudioChunk, AudioEncoding, AudioFormat, StreamingConfig, StreamingRecognizeRequest,
    StreamingRecognizeResponse,
};
use tonic::transport::Channel;

/// The engine's files from the model cache (`PARLA_CACHE` or the default).
pub fn paths() -> AsrPaths {
    let cache = parla_models::ModelCache::from_env().expect("model cache");
    let get = |name: &str| {
        cache
            .require(name)
            .unwrap_or_else(|e| panic!("model {name} missing ({e}); run `parla models fetch`"))
    };
    AsrPaths {
        model_en: Some(get("whisper-tiny-en")),
        model_multilingual: Some(get("whisper-base")),
        vad: get("silero-vad"),
        turn: get("smart-turn-v3.2"),
        onnxruntime: get("onnxruntime"),
    }
}

/// Starts a server with `config` on its own thread and runtime; returns
/// its URL. The server lives as long as the test process.
pub fn start_server(config: AsrConfig) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        runtime.block_on(async move {
            let engine = Arc::new(AsrEngine::load(&paths(), &config).expect("engine loads"));
            let cell = Arc::new(tokio::sync::OnceCell::new());
            cell.set(engine).ok();
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let url = format!("http://{}", listener.local_addr().expect("addr"));
            tx.send(url).expect("send url");
            tonic::transport::Server::builder()
                .add_service(AsrService::new(cell).into_server())
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
                .await
                .expect("serve");
        });
    });
    rx.recv().expect("server started")
}

/// The shared server with the default configuration.
pub fn default_server() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| start_server(AsrConfig::default()))
}

/// A client of `url`.
pub async fn client(url: &str) -> AsrClient<Channel> {
    AsrClient::connect(url.to_owned()).await.expect("connect")
}

/// Format of 16 kHz PCM.
pub fn pcm16k() -> AudioFormat {
    AudioFormat {
        encoding: AudioEncoding::Pcm16le as i32,
        sample_rate_hz: 16_000,
    }
}

/// A stream config message.
pub fn config_message(
    format: AudioFormat,
    language: &str,
    partials: bool,
) -> StreamingRecognizeRequest {
    StreamingRecognizeRequest {
        request: Some(Inbound::Config(StreamingConfig {
            format: Some(format),
            language: language.into(),
            partial_results: partials,
            conversation_id: "test".into(),
        })),
    }
}

/// An audio message.
pub fn audio_message(
    sequence: u64,
    format: Option<AudioFormat>,
    data: Vec<u8>,
) -> StreamingRecognizeRequest {
    StreamingRecognizeRequest {
        request: Some(Inbound::Audio(AudioChunk {
            sequence,
            format,
            data,
            offset_ms: 0,
        })),
    }
}

/// Streams `bytes` in chunks of `chunk` bytes (as fast as the server
/// takes them) and collects every event, or the status that ended the
/// stream.
pub async fn stream_all(
    url: &str,
    format: AudioFormat,
    language: &str,
    partials: bool,
    bytes: &[u8],
    chunk: usize,
) -> Result<Vec<Event>, tonic::Status> {
    let mut messages = vec![config_message(format, language, partials)];
    for (i, piece) in bytes.chunks(chunk).enumerate() {
        messages.push(audio_message(i as u64, Some(format), piece.to_vec()));
    }
    let mut client = client(url).await;
    let mut inbound = client
        .streaming_recognize(tokio_stream::iter(messages))
        .await?
        .into_inner();
    let mut events = Vec::new();
    while let Some(message) = inbound.message().await? {
        let StreamingRecognizeResponse { event } = message;
        events.extend(event);
    }
    Ok(events)
}

/// The finals among `events`.
pub fn finals(events: &[Event]) -> Vec<parla_proto::v1::FinalResult> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Final(f) => Some(f.clone()),
            _ => None,
        })
        .collect()
}
