//! Bad input gets the right status and a message that says what was
//! wrong, frees its place, and leaves the server serving.

mod common;

use std::time::{Duration, Instant};

use common::speech::{jfk, pcm_bytes, silence, wav_bytes};
use common::{audio_message, client, config_message, pcm16k, stream_all};
use parla_asr::AsrConfig;
use parla_proto::v1::recognize_request::Audio;
use parla_proto::v1::{AudioChunk, AudioEncoding, AudioFormat, RecognizeRequest};
use tonic::Code;

fn strict_server() -> &'static str {
    static URL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    URL.get_or_init(|| {
        common::start_server(AsrConfig {
            idle_timeout_secs: 1,
            max_stream_secs: 2,
            max_chunk_bytes: 3200,
            workers: 1,
            queue_depth: 1,
            ..AsrConfig::default()
        })
    })
}

fn code_of(
    result: Result<Vec<parla_proto::v1::streaming_recognize_response::Event>, tonic::Status>,
) -> (Code, String) {
    match result {
        Ok(events) => panic!("stream succeeded: {events:?}"),
        Err(status) => (status.code(), status.message().to_owned()),
    }
}

#[tokio::test]
async fn stream_format_errors_are_invalid_argument() {
    let url = strict_server();
    let unknown = AudioFormat {
        encoding: 0,
        sample_rate_hz: 16000,
    };
    let (code, msg) = code_of(stream_all(url, unknown, "en", false, &[0; 640], 640).await);
    assert_eq!(code, Code::InvalidArgument, "{msg}");
    assert!(msg.contains("encoding"), "{msg}");

    let bogus = AudioFormat {
        encoding: 42,
        sample_rate_hz: 16000,
    };
    assert_eq!(
        code_of(stream_all(url, bogus, "en", false, &[0; 640], 640).await).0,
        Code::InvalidArgument
    );

    let mulaw16 = AudioFormat {
        encoding: AudioEncoding::Mulaw as i32,
        sample_rate_hz: 16000,
    };
    let (code, msg) = code_of(stream_all(url, mulaw16, "en", false, &[0; 640], 640).await);
    assert_eq!(code, Code::InvalidArgument);
    assert!(msg.contains("8000"), "{msg}");

    let (code, msg) = code_of(stream_all(url, pcm16k(), "en", false, &[0; 641], 641).await);
    assert_eq!(code, Code::InvalidArgument);
    assert!(msg.contains("odd"), "{msg}");

    let (code, msg) = code_of(stream_all(url, pcm16k(), "xx", false, &[0; 640], 640).await);
    assert_eq!(code, Code::InvalidArgument);
    assert!(msg.contains("xx"), "{msg}");
}

#[tokio::test]
async fn rate_change_and_order_errors() {
    let url = strict_server();
    let mut c = client(url).await;
    let eight = AudioFormat {
        encoding: AudioEncoding::Pcm16le as i32,
        sample_rate_hz: 8000,
    };
    let messages = vec![
        config_message(pcm16k(), "en", false),
        audio_message(0, Some(pcm16k()), vec![0; 640]),
        audio_message(1, Some(eight), vec![0; 320]),
    ];
    let status = c
        .streaming_recognize(tokio_stream::iter(messages))
        .await
        .expect("open")
        .into_inner()
        .message()
        .await;
    let status = status.expect_err("rate change refused");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().contains("mid-stream"),
        "{}",
        status.message()
    );

    let messages = vec![audio_message(0, Some(pcm16k()), vec![0; 640])];
    let status = c
        .streaming_recognize(tokio_stream::iter(messages))
        .await
        .expect("open")
        .into_inner()
        .message()
        .await;
    assert_eq!(
        status.expect_err("audio first refused").code(),
        Code::InvalidArgument
    );
}

#[tokio::test]
async fn limits_are_resource_exhausted() {
    let url = strict_server();
    let (code, msg) = code_of(stream_all(url, pcm16k(), "en", false, &[0; 6400], 6400).await);
    assert_eq!(code, Code::ResourceExhausted);
    assert!(msg.contains("max_chunk_bytes"), "{msg}");
    let (code, msg) =
        code_of(stream_all(url, pcm16k(), "en", false, &pcm_bytes(&silence(3000)), 640).await);
    assert_eq!(code, Code::ResourceExhausted);
    assert!(msg.contains("max_stream_secs"), "{msg}");
}

#[tokio::test]
async fn idle_client_gets_deadline_exceeded() {
    let url = strict_server();
    let mut c = client(url).await;
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tx.send(config_message(pcm16k(), "en", false))
        .await
        .unwrap();
    tx.send(audio_message(0, None, vec![0; 640])).await.unwrap();
    let started = Instant::now();
    let mut inbound = c
        .streaming_recognize(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .expect("open")
        .into_inner();
    let status = loop {
        match inbound.message().await {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("stream ended without a status"),
            Err(status) => break status,
        }
    };
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(tx);
}

#[tokio::test]
async fn unary_errors_and_busy_queue() {
    let url = strict_server();
    let mut c = client(url).await;
    let bad_wav = RecognizeRequest {
        audio: Some(Audio::Wav(b"RIFFxxxxWAVEjunk".to_vec())),
        language: "en".into(),
    };
    assert_eq!(
        c.recognize(bad_wav).await.unwrap_err().code(),
        Code::InvalidArgument
    );
    let none = RecognizeRequest {
        audio: None,
        language: "en".into(),
    };
    assert_eq!(
        c.recognize(none).await.unwrap_err().code(),
        Code::InvalidArgument
    );
    let odd = RecognizeRequest {
        audio: Some(Audio::Chunk(AudioChunk {
            sequence: 0,
            format: Some(pcm16k()),
            data: vec![0; 3],
            offset_ms: 0,
        })),
        language: "en".into(),
    };
    assert_eq!(
        c.recognize(odd).await.unwrap_err().code(),
        Code::InvalidArgument
    );
    let long = RecognizeRequest {
        audio: Some(Audio::Wav(wav_bytes(&silence(31_000)))),
        language: "en".into(),
    };
    assert_eq!(
        c.recognize(long).await.unwrap_err().code(),
        Code::ResourceExhausted
    );

    // One worker and one queue place: of six concurrent recognitions some
    // are refused at once, the others succeed.
    let speech = wav_bytes(&jfk());
    let calls = (0..6).map(|_| {
        let mut c = c.clone();
        let wav = speech.clone();
        tokio::spawn(async move {
            c.recognize(RecognizeRequest {
                audio: Some(Audio::Wav(wav)),
                language: "en".into(),
            })
            .await
        })
    });
    let results = futures::future::join_all(calls).await;
    let codes: Vec<Code> = results
        .into_iter()
        .map(|r| match r.expect("task") {
            Ok(_) => Code::Ok,
            Err(s) => s.code(),
        })
        .collect();
    println!("concurrent codes: {codes:?}");
    assert!(codes.contains(&Code::Ok), "{codes:?}");
    assert!(codes.contains(&Code::ResourceExhausted), "{codes:?}");
    assert!(
        codes
            .iter()
            .all(|c| matches!(c, Code::Ok | Code::ResourceExhausted)),
        "{codes:?}"
    );

    // The server still serves.
    let ok = c
        .recognize(RecognizeRequest {
            audio: Some(Audio::Wav(speech)),
            language: "en".into(),
        })
        .await;
    assert!(ok.is_ok(), "{ok:?}");
}

/// The watchdog, with a deadline no recognition can meet: the recognition
/// is stopped with DEADLINE_EXCEEDED naming the setting, and the engine
/// reports itself unhealthy (health then says NOT_SERVING; `parla serve`
/// polls it, tested in the workspace's `tests/readiness.rs`).
#[tokio::test]
async fn a_recognition_past_its_deadline_is_stopped_and_marks_the_engine_unhealthy() {
    use parla_asr::{LanguageChoice, Pass, RecognitionRequest};
    let config = AsrConfig {
        job_deadline_ms: 1,
        ..AsrConfig::default()
    };
    let engine = tokio::task::spawn_blocking(move || {
        parla_asr::AsrEngine::load(&common::paths(), &config).expect("engine loads")
    })
    .await
    .unwrap();
    assert!(engine.healthy(), "healthy before any recognition");
    let started = Instant::now();
    let result = engine
        .recognizer
        .recognize(RecognitionRequest {
            audio: std::sync::Arc::new(jfk()),
            language: LanguageChoice::Fixed("en".into()),
            pass: Pass::Final,
        })
        .await;
    let err = result.expect_err("11 s of speech cannot be recognized in 1 ms");
    assert!(
        matches!(err, parla_asr::AsrError::Stalled { .. }),
        "{err:?}"
    );
    let status = tonic::Status::from(err);
    assert_eq!(status.code(), Code::DeadlineExceeded);
    assert!(
        status.message().contains("asr.job_deadline_ms"),
        "{}",
        status.message()
    );
    assert!(
        !engine.healthy(),
        "unhealthy after the watchdog stopped a recognition"
    );
    // Stopped at once, not after a whole decode.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}
