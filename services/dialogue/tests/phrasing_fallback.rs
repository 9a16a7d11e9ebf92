//! Phrasing by a language model is an improvement, never a risk to the reply: with the
//! OpenAI-compatible backend pointed at a local test double (a small HTTP server in this test,
//! standing in for faults a real engine cannot be made to show on demand) that is down, answers
//! 500, cuts its stream in the middle, sends its headers only after 12 s or refuses, the
//! customer gets the template reply within `phrasing_budget_ms` + 100 ms, with no hand-off; the
//! model is reported degraded (not for a refusal: it answered); the request holds only standard
//! chat-completions parameters.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use parla_dialogue::converse::{run_turn, ConversationState};
use parla_dialogue::{Channel, DialogueConfig, DialogueModel, Engine, Language, Phrasing};
use parla_dialogue::{Templates, Understanding};
use parla_llm::{LlmBackend, OpenAiConfig, OpenAiModel};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The budget the tests give phrasing.
const BUDGET_MS: u64 = 800;

/// What the double does with a request.
#[derive(Clone, Copy, Debug)]
enum Fault {
    /// Answers 500 to every request.
    ServerError,
    /// Headers and two deltas, then the connection closes without `[DONE]`.
    CutStream,
    /// Sends its headers only after 12 s.
    LateHeaders,
    /// A `refusal` delta.
    Refuse,
}

/// Starts the double; its base URL and the JSON bodies it received.
async fn double(fault: Fault) -> (String, Arc<Mutex<Vec<serde_json::Value>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/v1", listener.local_addr().expect("addr"));
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&bodies);
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            tokio::spawn(answer(sock, fault, Arc::clone(&seen)));
        }
    });
    (url, bodies)
}

async fn answer(mut sock: TcpStream, fault: Fault, seen: Arc<Mutex<Vec<serde_json::Value>>>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let body = loop {
        let Ok(n) = sock.read(&mut chunk).await else {
            return;
        };
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        if buf.len() >= end + 4 + len {
            break buf[end + 4..end + 4 + len].to_vec();
        }
    };
    seen.lock()
        .expect("bodies")
        .push(serde_json::from_slice(&body).unwrap_or_default());
    let delta = |text: &str| {
        let v = serde_json::json!({"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]});
        format!("data: {v}\n\n")
    };
    let ok = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n";
    let out = match fault {
        Fault::ServerError => {
            "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                .to_owned()
        }
        Fault::CutStream => format!("{ok}{}{}", delta("Certainly! "), delta("Your ")),
        Fault::Refuse => {
            let v = serde_json::json!({"choices": [{"index": 0, "delta": {"refusal": "I can't help with that."}, "finish_reason": "stop"}]});
            format!("{ok}data: {v}\n\ndata: [DONE]\n\n")
        }
        Fault::LateHeaders => {
            tokio::time::sleep(Duration::from_secs(12)).await;
            format!("{ok}{}data: [DONE]\n\n", delta("Certainly!"))
        }
    };
    let _ = sock.write_all(out.as_bytes()).await;
    let _ = sock.shutdown().await;
}

/// A port nobody listens on.
fn closed_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    format!("http://{}/v1", l.local_addr().expect("addr"))
}

/// The dialogue with the model at `base_url` phrasing every reply (default retry settings).
fn setup(base_url: &str) -> (Engine, DialogueConfig) {
    let openai = OpenAiConfig {
        base_url: base_url.to_owned(),
        ..OpenAiConfig::default()
    };
    let config = DialogueConfig {
        llm_backend: LlmBackend::Openai,
        openai: openai.clone(),
        phrasing: Phrasing::Model,
        phrasing_budget_ms: BUDGET_MS,
        sentence_encoder: false,
        ..DialogueConfig::default()
    };
    let cache = parla_models::ModelCache::from_env().expect("model cache");
    let nlu = Understanding::load_with(&cache, false).expect(
        "lexicons provisioned: run `parla models fetch vader-lexicon pattern-it-sentiment`",
    );
    let model = OpenAiModel::new(&openai).expect("client");
    let engine = Engine {
        nlu,
        templates: Templates::shipped().expect("shipped templates"),
        llm: Some(DialogueModel::new(Arc::new(model), true)),
    };
    (engine, config)
}

/// What one phrased turn came to.
struct Phrased {
    /// The template reply the turn chose.
    template: String,
    /// The reply delivered.
    reply: String,
    /// How long phrasing took.
    took: Duration,
    /// The turn hands off.
    handoff: bool,
    /// The conversation is handed off.
    handed_off: bool,
    /// The model is reported degraded afterwards.
    degraded: bool,
}

/// One chat turn through the understanding and the phrasing step.
async fn phrase(base_url: &str) -> Phrased {
    let (engine, config) = setup(base_url);
    let mut state = ConversationState::new(
        "phrasing-fallback".into(),
        Channel::Chat,
        Some(Language::En),
        config.trend_decay,
    );
    let text = "Hello, good morning!";
    let mut outcome = run_turn(
        &engine.nlu,
        &engine.templates,
        &config,
        &mut state,
        text,
        Some(Language::En),
        0.0,
    );
    let template = outcome.reply.clone();
    assert!(!template.is_empty());
    let started = Instant::now();
    parla_dialogue::phrasing::finish(&engine, &config, &mut state, text, &mut outcome).await;
    let took = started.elapsed();
    assert!(!outcome.model_phrased, "{outcome:?}");
    Phrased {
        template,
        reply: outcome.reply,
        took,
        handoff: outcome.decision.handoff,
        handed_off: state.handed_off,
        degraded: engine.llm.as_ref().is_some_and(|m| m.health.is_degraded()),
    }
}

/// The template within the budget, no hand-off; `degraded`: what the model's health says.
fn check(fault: &str, p: Phrased, degraded: bool) {
    assert_eq!(
        p.reply, p.template,
        "{fault}: the template reply, not an apology"
    );
    assert!(!p.handoff && !p.handed_off, "{fault}: no hand-off");
    assert!(
        p.took <= Duration::from_millis(BUDGET_MS + 100),
        "{fault}: the template came after {:?} (budget {BUDGET_MS} ms)",
        p.took
    );
    assert_eq!(p.degraded, degraded, "{fault}: model health");
}

/// The request holds only standard chat-completions parameters (no `repetition_penalty`).
fn standard_only(bodies: &Mutex<Vec<serde_json::Value>>) {
    let bodies = bodies.lock().expect("bodies");
    assert!(!bodies.is_empty(), "the model was asked");
    let standard = [
        "model",
        "messages",
        "stream",
        "temperature",
        "top_p",
        "max_tokens",
        "seed",
        "stop",
    ];
    for body in bodies.iter() {
        let keys: Vec<&String> = body.as_object().expect("a JSON object").keys().collect();
        assert!(
            keys.iter().all(|k| standard.contains(&k.as_str())),
            "non-standard parameters sent: {keys:?}"
        );
    }
}

#[tokio::test]
async fn a_model_server_that_is_down_leaves_the_template_reply() {
    check("down", phrase(&closed_url()).await, true);
}

#[tokio::test]
async fn a_model_server_answering_500_leaves_the_template_reply() {
    let (url, bodies) = double(Fault::ServerError).await;
    check("500", phrase(&url).await, true);
    standard_only(&bodies);
}

#[tokio::test]
async fn a_cut_stream_leaves_the_template_reply() {
    let (url, bodies) = double(Fault::CutStream).await;
    check("cut stream", phrase(&url).await, true);
    standard_only(&bodies);
}

#[tokio::test]
async fn headers_after_12_s_leave_the_template_reply_within_the_budget() {
    let (url, bodies) = double(Fault::LateHeaders).await;
    check("late headers", phrase(&url).await, true);
    standard_only(&bodies);
}

#[tokio::test]
async fn a_refusal_leaves_the_template_reply() {
    let (url, bodies) = double(Fault::Refuse).await;
    check("refusal", phrase(&url).await, false);
    standard_only(&bodies);
}
