//! A recognition stream that fails mid-call does not end the call: the
//! gateway reopens it and asks the caller to repeat; only a stream that
//! keeps failing ends the call with an error. The speech services here are
//! test doubles on a real gRPC server (127.0.0.1:0), because the fault, an
//! ASR stream dying mid-turn, cannot be caused on demand with the real one;
//! the gateway's call pipeline is the real one.

use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parla_gateway::call::{
    Backends, CallConfig, CallInput, CallMetrics, CallService, CallSetup, Format,
};
use parla_proto::v1 as pb;
use parla_proto::v1::asr_server::{Asr, AsrServer};
use parla_proto::v1::call_event::Event as Out;
use parla_proto::v1::dialogue_server::{Dialogue, DialogueServer};
use parla_proto::v1::synthesize_stream_request::Request as TtsIn;
use parla_proto::v1::tts_server::{Tts, TtsServer};
use parla_proto::PeerChannel;
use tokio::sync::mpsc;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tokio_stream::{Stream, StreamExt};
use tonic::transport::Server;
use tonic::{Request, Response, Status, Streaming};

type Boxed<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// Recognition whose first `failing` streams fail after five chunks (with
/// the caller's speech started); later streams listen quietly.
struct FlakyAsr {
    streams: Arc<AtomicU32>,
    failing: u32,
}

#[tonic::async_trait]
impl Asr for FlakyAsr {
    async fn recognize(
        &self,
        _: Request<pb::RecognizeRequest>,
    ) -> Result<Response<pb::RecognizeResponse>, Status> {
        Err(Status::unimplemented("not in this test"))
    }

    type StreamingRecognizeStream = Boxed<pb::StreamingRecognizeResponse>;

    async fn streaming_recognize(
        &self,
        request: Request<Streaming<pb::StreamingRecognizeRequest>>,
    ) -> Result<Response<Self::StreamingRecognizeStream>, Status> {
        let n = self.streams.fetch_add(1, Ordering::SeqCst);
        let fail = n < self.failing;
        let mut inbound = request.into_inner();
        let (tx, rx) = mpsc::channel(8);
        tokio::spawn(async move {
            let mut chunks = 0;
            while let Some(Ok(_)) = inbound.next().await {
                chunks += 1;
                if fail && chunks == 5 {
                    let started = pb::StreamingRecognizeResponse {
                        event: Some(pb::streaming_recognize_response::Event::SpeechStarted(
                            pb::SpeechStarted { offset_ms: 40 },
                        )),
                    };
                    let _ = tx.send(Ok(started)).await;
                    let _ = tx
                        .send(Err(Status::resource_exhausted("recognition queue full")))
                        .await;
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

/// A dialogue that listens and never answers.
struct SilentDialogue;

#[tonic::async_trait]
impl Dialogue for SilentDialogue {
    type ConverseStream = Boxed<pb::ReplyEvent>;

    async fn converse(
        &self,
        request: Request<Streaming<pb::ConverseRequest>>,
    ) -> Result<Response<Self::ConverseStream>, Status> {
        let mut inbound = request.into_inner();
        let (tx, rx) = mpsc::channel::<Result<pb::ReplyEvent, Status>>(1);
        tokio::spawn(async move {
            while let Some(Ok(_)) = inbound.next().await {}
            drop(tx);
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

/// Synthesis that answers any text with 200 ms of a constant signal.
struct FlatTts;

#[tonic::async_trait]
impl Tts for FlatTts {
    async fn synthesize(
        &self,
        _: Request<pb::SynthesizeRequest>,
    ) -> Result<Response<pb::SynthesizeResponse>, Status> {
        Err(Status::unimplemented("not in this test"))
    }

    type SynthesizeStreamStream = Boxed<pb::SynthesizeStreamResponse>;

    async fn synthesize_stream(
        &self,
        request: Request<Streaming<pb::SynthesizeStreamRequest>>,
    ) -> Result<Response<Self::SynthesizeStreamStream>, Status> {
        let mut inbound = request.into_inner();
        let (tx, rx) = mpsc::channel(8);
        tokio::spawn(async move {
            while let Some(Ok(m)) = inbound.next().await {
                if matches!(m.request, Some(TtsIn::Flush(_))) {
                    break;
                }
            }
            let audio = pb::SynthesizeStreamResponse {
                event: Some(pb::synthesize_stream_response::Event::Audio(
                    pb::AudioChunk {
                        data: vec![0x10; 6400],
                        ..Default::default()
                    },
                )),
            };
            let _ = tx.send(Ok(audio)).await;
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn list_voices(
        &self,
        _: Request<pb::ListVoicesRequest>,
    ) -> Result<Response<pb::ListVoicesResponse>, Status> {
        Ok(Response::new(pb::ListVoicesResponse::default()))
    }
}

/// Serves the doubles; returns the call service and the ASR stream count.
async fn start(failing: u32) -> anyhow::Result<(CallService, Arc<AtomicU32>, Arc<CallMetrics>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let streams = Arc::new(AtomicU32::new(0));
    let asr = FlakyAsr {
        streams: Arc::clone(&streams),
        failing,
    };
    tokio::spawn(
        Server::builder()
            .add_service(AsrServer::new(asr))
            .add_service(DialogueServer::new(SilentDialogue))
            .add_service(TtsServer::new(FlatTts))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    let channel = PeerChannel::lazy(&format!("http://{addr}"), None)?;
    let backends = Backends {
        asr: channel.clone(),
        tts: channel.clone(),
        dialogue: channel,
    };
    let config = CallConfig {
        greet: false,
        ..CallConfig::default()
    };
    let metrics = Arc::new(CallMetrics::default());
    Ok((
        CallService::new(backends, config, Arc::clone(&metrics)),
        streams,
        metrics,
    ))
}

fn setup() -> anyhow::Result<CallSetup> {
    Ok(CallSetup {
        caller_id: String::new(),
        language: "en".into(),
        format: Format::from_pb(Some(&pb::AudioFormat {
            encoding: pb::AudioEncoding::Pcm16le as i32,
            sample_rate_hz: 16000,
        }))?,
        conversation_id: String::new(),
        transfer_to: String::new(),
        edge: "grpc",
        opening: Default::default(),
    })
}

/// Sends `frames` 20 ms chunks of silence, collecting the call's events.
async fn talk(
    input: &mpsc::Sender<CallInput>,
    events: &mut mpsc::Receiver<pb::CallEvent>,
    frames: u64,
) -> Vec<Out> {
    let mut seen = Vec::new();
    for i in 0..frames {
        let chunk = pb::AudioChunk {
            sequence: i,
            data: vec![0; 640],
            offset_ms: i * 20,
            format: None,
        };
        if input.send(CallInput::Audio(chunk)).await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
        while let Ok(e) = events.try_recv() {
            seen.extend(e.event);
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_recognition_stream_is_reopened_and_the_caller_asked_to_repeat(
) -> anyhow::Result<()> {
    let (calls, streams, metrics) = start(1).await?;
    let mut call = calls.start_call(setup()?).await?;
    let seen = talk(&call.input, &mut call.events, 150).await;
    assert!(
        !seen.iter().any(|e| matches!(e, Out::Ended(_))),
        "the call ended: {seen:?}"
    );
    assert!(
        seen.iter().any(|e| matches!(e, Out::Audio(_))),
        "no prompt to repeat was played"
    );
    assert_eq!(
        streams.load(Ordering::SeqCst),
        2,
        "the stream was not reopened"
    );
    assert_eq!(metrics.upstream_recoveries.load(Ordering::Relaxed), 1);
    call.input.send(CallInput::Hangup).await?;
    let done = tokio::time::timeout(Duration::from_secs(10), call.done).await??;
    assert!(done.is_ok(), "the call failed: {done:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_keeps_failing_ends_the_call_with_an_error() -> anyhow::Result<()> {
    let (calls, streams, _metrics) = start(u32::MAX).await?;
    let mut call = calls.start_call(setup()?).await?;
    let seen = talk(&call.input, &mut call.events, 400).await;
    let done = tokio::time::timeout(Duration::from_secs(10), call.done).await??;
    assert!(done.is_err(), "the call did not fail; events: {seen:?}");
    // The first stream and MAX_RECOVERIES reopened ones.
    assert_eq!(streams.load(Ordering::SeqCst), 6);
    Ok(())
}
