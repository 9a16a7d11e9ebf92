//! The OpenAI-compatible backend against a small HTTP server in the test that speaks the chat
//! completions streaming protocol (a test double for a remote engine: vLLM cannot run here).
//! It passes the same streaming and cancellation checks as the candle backend, and shows
//! retries, a down endpoint, a mid-stream disconnect, a refusal, a time budget that also
//! covers the wait for the response headers, and a body of standard parameters only (extra
//! ones when configured).

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use parla_llm::{
    ChatMessage, Constraint, GenerationParams, GenerationRequest, LanguageModel, LlmError,
    OpenAiConfig, OpenAiModel, StopReason,
};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Clone, Copy)]
enum Behaviour {
    /// Streams `word{i} ` deltas, one every 5 ms, up to the request's max_tokens.
    Stream,
    /// Answers 503 to the first two requests, then streams.
    BusyTwice,
    /// Always 429.
    AlwaysBusy,
    /// Two deltas, then closes the connection without `[DONE]`.
    Disconnect,
    /// Answers with this label.
    Label(&'static str),
    /// Sends its headers only after 12 s.
    LateHeaders,
    /// Refuses: a `refusal` delta, then `finish_reason: content_filter`.
    Refuse,
}

struct Server {
    url: String,
    requests: Arc<AtomicU64>,
    deltas: Arc<AtomicU64>,
    bodies: Arc<Mutex<Vec<Value>>>,
}

async fn serve(behaviour: Behaviour) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let requests = Arc::new(AtomicU64::new(0));
    let deltas = Arc::new(AtomicU64::new(0));
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let (r, d, b) = (requests.clone(), deltas.clone(), bodies.clone());
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let n = r.fetch_add(1, Ordering::SeqCst) + 1;
            tokio::spawn(answer(sock, behaviour, n, d.clone(), b.clone()));
        }
    });
    Server {
        url,
        requests,
        deltas,
        bodies,
    }
}

/// Reads one request and returns its JSON body.
async fn read_request(sock: &mut TcpStream) -> Value {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = sock.read(&mut chunk).await.unwrap();
        assert!(n > 0, "client closed before sending a request");
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
            assert!(head.starts_with("post /v1/chat/completions "), "{head}");
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map(|v| v.trim().parse().unwrap())
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let n = sock.read(&mut chunk).await.unwrap();
                buf.extend_from_slice(&chunk[..n]);
            }
            return serde_json::from_slice(&buf[end + 4..end + 4 + len]).unwrap();
        }
    }
}

fn event(content: Option<&str>, finish: Option<&str>) -> String {
    let delta = match content {
        Some(c) => serde_json::json!({"content": c}),
        None => serde_json::json!({}),
    };
    let v = serde_json::json!({"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
    format!("data: {v}\n\n")
}

async fn answer(
    mut sock: TcpStream,
    behaviour: Behaviour,
    n: u64,
    deltas: Arc<AtomicU64>,
    bodies: Arc<Mutex<Vec<Value>>>,
) {
    let body = read_request(&mut sock).await;
    bodies.lock().unwrap().push(body.clone());
    if let Behaviour::LateHeaders = behaviour {
        tokio::time::sleep(Duration::from_secs(12)).await;
    }
    assert_eq!(body["stream"], true);
    assert!(body["messages"].as_array().is_some_and(|m| !m.is_empty()));
    let status = match behaviour {
        Behaviour::BusyTwice if n <= 2 => Some("503 Service Unavailable"),
        Behaviour::AlwaysBusy => Some("429 Too Many Requests"),
        _ => None,
    };
    if let Some(status) = status {
        let resp = format!(
            "HTTP/1.1 {status}\r\nContent-Length: 0\r\nRetry-After: 0\r\nConnection: close\r\n\r\n"
        );
        let _ = sock.write_all(resp.as_bytes()).await;
        return;
    }
    let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n";
    if sock.write_all(head.as_bytes()).await.is_err() {
        return;
    }
    let max = body["max_tokens"].as_u64().unwrap_or(16);
    let mut out = String::new();
    match behaviour {
        Behaviour::Label(label) => {
            out.push_str(&event(Some(label), None));
            out.push_str(&event(None, Some("stop")));
            out.push_str("data: [DONE]\n\n");
            let _ = sock.write_all(out.as_bytes()).await;
            return;
        }
        Behaviour::Refuse => {
            let refusal = serde_json::json!({"choices": [{"index": 0, "delta": {"refusal": "I can't help with that."}, "finish_reason": null}]});
            out.push_str(&format!("data: {refusal}\n\n"));
            out.push_str(&event(None, Some("content_filter")));
            out.push_str("data: [DONE]\n\n");
            let _ = sock.write_all(out.as_bytes()).await;
            return;
        }
        Behaviour::Disconnect => {
            out.push_str(&event(Some("Hello"), None));
            out.push_str(&event(Some(" there"), None));
            let _ = sock.write_all(out.as_bytes()).await;
            return; // dropped: the connection closes mid-answer
        }
        _ => {}
    }
    for i in 0..max {
        let finish = (i + 1 == max).then_some("length");
        if sock
            .write_all(event(Some(&format!("word{i} ")), None).as_bytes())
            .await
            .is_err()
        {
            return; // the client went away (cancelled)
        }
        deltas.fetch_add(1, Ordering::SeqCst);
        if let Some(f) = finish {
            let _ = sock
                .write_all(format!("{}data: [DONE]\n\n", event(None, Some(f))).as_bytes())
                .await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn client(url: &str) -> OpenAiModel {
    let config = OpenAiConfig {
        base_url: url.into(),
        backoff_ms: 10,
        idle_timeout_ms: 2_000,
        ..OpenAiConfig::default()
    };
    OpenAiModel::new(&config).unwrap()
}

fn request(max_tokens: usize) -> GenerationRequest {
    GenerationRequest {
        params: GenerationParams::greedy(max_tokens),
        ..GenerationRequest::new("c1", vec![ChatMessage::user("Hello")])
    }
}

#[tokio::test]
async fn streams_like_the_candle_backend() {
    let server = serve(Behaviour::Stream).await;
    common::streams_deltas_up_to_max_tokens(&client(&server.url)).await;
}

#[tokio::test]
async fn cancels_like_the_candle_backend() {
    let server = serve(Behaviour::Stream).await;
    let deltas = server.deltas.clone();
    common::cancellation_stops_within_one_token(&client(&server.url), &|| {
        deltas.load(Ordering::SeqCst)
    })
    .await;
    // The connection was dropped: the server stops writing soon after.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(server.deltas.load(Ordering::SeqCst) < 300);
}

#[tokio::test]
async fn retries_busy_answers_with_backoff() {
    let server = serve(Behaviour::BusyTwice).await;
    let out = client(&server.url)
        .generate(request(3))
        .unwrap()
        .finish()
        .await
        .unwrap();
    assert_eq!(out.text, "word0 word1 word2 ");
    assert_eq!(out.stop_reason, StopReason::MaxTokens);
    assert_eq!(server.requests.load(Ordering::SeqCst), 3);

    let server = serve(Behaviour::AlwaysBusy).await;
    let err = client(&server.url)
        .generate(request(3))
        .unwrap()
        .finish()
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            LlmError::Overloaded {
                status: 429,
                attempts: 4,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(server.requests.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn a_down_endpoint_is_a_clear_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let err = client(&format!("http://127.0.0.1:{port}/v1"))
        .generate(request(3))
        .unwrap()
        .finish()
        .await
        .unwrap_err();
    assert!(matches!(err, LlmError::Endpoint { .. }), "{err}");
    assert!(err.to_string().contains("cannot connect"), "{err}");
}

#[tokio::test]
async fn a_mid_stream_disconnect_is_an_error() {
    let server = serve(Behaviour::Disconnect).await;
    let err = client(&server.url)
        .generate(request(20))
        .unwrap()
        .finish()
        .await
        .unwrap_err();
    assert!(matches!(err, LlmError::Disconnected { .. }), "{err}");
}

#[tokio::test]
async fn labels_are_checked_when_the_server_cannot_mask() {
    let labels = vec!["positive".to_string(), "negative".to_string()];
    let mut req = request(4);
    req.constraint = Some(Constraint::Labels(labels.clone()));
    let server = serve(Behaviour::Label("negative")).await;
    let out = client(&server.url)
        .generate(req.clone())
        .unwrap()
        .finish()
        .await
        .unwrap();
    assert_eq!(out.text, "negative");
    let server = serve(Behaviour::Label("maybe")).await;
    let err = client(&server.url)
        .generate(req)
        .unwrap()
        .finish()
        .await
        .unwrap_err();
    assert!(matches!(err, LlmError::ConstraintViolated { .. }), "{err}");
}

#[tokio::test]
async fn the_time_budget_covers_the_wait_for_the_headers() {
    let server = serve(Behaviour::LateHeaders).await;
    let mut req = request(8);
    req.params.time_budget = Some(Duration::from_millis(300));
    let started = Instant::now();
    let out = client(&server.url)
        .generate(req)
        .unwrap()
        .finish()
        .await
        .unwrap();
    let took = started.elapsed();
    assert_eq!(out.stop_reason, StopReason::TimeBudget, "{out:?}");
    assert_eq!(out.text, "");
    assert!(took < Duration::from_millis(400), "{took:?}");
}

#[tokio::test]
async fn a_refusal_is_an_error() {
    let server = serve(Behaviour::Refuse).await;
    let err = client(&server.url)
        .generate(request(8))
        .unwrap()
        .finish()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("refused"), "{err}");
}

/// Chat-completions parameters of the OpenAI API that Parla sets.
const STANDARD: [&str; 8] = [
    "model",
    "messages",
    "stream",
    "temperature",
    "top_p",
    "max_tokens",
    "seed",
    "stop",
];

#[tokio::test]
async fn only_standard_parameters_are_sent_by_default() {
    let server = serve(Behaviour::Stream).await;
    let mut req = request(2);
    req.params.repetition_penalty = 1.3;
    req.params.stop = vec!["\nCustomer:".into()];
    client(&server.url)
        .generate(req)
        .unwrap()
        .finish()
        .await
        .unwrap();
    let bodies = server.bodies.lock().unwrap();
    let keys: Vec<&String> = bodies[0].as_object().unwrap().keys().collect();
    assert!(
        keys.iter().all(|k| STANDARD.contains(&k.as_str())),
        "non-standard parameters sent: {keys:?}"
    );
    assert_eq!(bodies[0]["stop"], serde_json::json!(["\nCustomer:"]));
}

#[tokio::test]
async fn extra_parameters_are_sent_when_configured() {
    let server = serve(Behaviour::Stream).await;
    let config = OpenAiConfig {
        base_url: server.url.clone(),
        extra_body: [("repetition_penalty".to_owned(), serde_json::json!(1.1))].into(),
        ..OpenAiConfig::default()
    };
    OpenAiModel::new(&config)
        .unwrap()
        .generate(request(2))
        .unwrap()
        .finish()
        .await
        .unwrap();
    let bodies = server.bodies.lock().unwrap();
    assert_eq!(bodies[0]["repetition_penalty"], serde_json::json!(1.1));

    let config = OpenAiConfig {
        extra_body: [("stream".to_owned(), serde_json::json!(false))].into(),
        ..OpenAiConfig::default()
    };
    let err = OpenAiModel::new(&config).err().expect("refused");
    assert!(err.to_string().contains("extra_body.stream"), "{err}");
}
