//! A developer's gRPC tool (`parla.v1.ToolService`) served on 127.0.0.1:0 by the test: one that
//! carries out the request and then answers after Parla's deadline is said as "could not be
//! confirmed" with the tool and key in the hand-off (every attempt carried the same key, so the
//! tool acted once); one that is slow only the first time sees the deadline (`grpc-timeout`)
//! and the bearer token on every attempt and answers the retry with its first result; one whose
//! server ends calls at its own deadline (CANCELLED) is retried too; one that refuses with
//! INVALID_ARGUMENT, or that cannot be reached, changed nothing and is said so.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::talk::{self, Turn};
use parla_flows::{FlowReply, FlowSet, FlowState, Lang, ToolOutcome};
use parla_proto::v1 as pb;
use parla_proto::v1::tool_service_server::{ToolService, ToolServiceServer};
use tonic::{Request, Response, Status};

/// What a request carried: its deadline (`grpc-timeout`) and `authorization` metadata.
type Metadata = (Option<Duration>, Option<String>);

/// The shop's loyalty tool: adds points once per idempotency key.
#[derive(Clone, Default)]
struct Loyalty {
    /// Keys of the requests received (every attempt).
    keys: Arc<Mutex<Vec<String>>>,
    /// The deadline (`grpc-timeout`) and `authorization` metadata of every attempt.
    metadata: Arc<Mutex<Vec<Metadata>>>,
    /// Points added, by key.
    added: Arc<Mutex<HashMap<String, u32>>>,
    /// Answer this late (after acting).
    delay: Duration,
    /// Only the first this many requests are late (`None`: all of them).
    late_requests: Option<usize>,
    /// Refuse instead of acting.
    refuse: bool,
}

/// A `grpc-timeout` value ("200m", "200000u", "1S" ...) as a duration.
fn grpc_timeout(value: &str) -> Option<Duration> {
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

#[tonic::async_trait]
impl ToolService for Loyalty {
    async fn call(
        &self,
        request: Request<pb::ToolCallRequest>,
    ) -> Result<Response<pb::ToolCallResponse>, Status> {
        let meta = request.metadata();
        let deadline = meta
            .get("grpc-timeout")
            .and_then(|v| v.to_str().ok())
            .and_then(grpc_timeout);
        let token = meta
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        self.metadata
            .lock()
            .expect("metadata")
            .push((deadline, token));
        let r = request.into_inner();
        let nth = {
            let mut keys = self.keys.lock().expect("keys");
            keys.push(r.idempotency_key.clone());
            keys.len()
        };
        if self.refuse {
            return Err(Status::invalid_argument("the order has no loyalty account"));
        }
        self.added
            .lock()
            .expect("added")
            .entry(r.idempotency_key)
            .or_insert(100);
        if self.late_requests.is_none_or(|late| nth <= late) {
            tokio::time::sleep(self.delay).await;
        }
        Ok(Response::new(pb::ToolCallResponse {
            result: [("points".to_owned(), "100".to_owned())].into(),
        }))
    }
}

async fn serve(tool: Loyalty) -> anyhow::Result<String> {
    serve_with(tool, None).await
}

/// Serves the tool; `server_deadline`: the server ends every call after it (tonic answers
/// CANCELLED), as a server configured with its own timeout does.
async fn serve_with(tool: Loyalty, server_deadline: Option<Duration>) -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let mut builder = tonic::transport::Server::builder();
    if let Some(d) = server_deadline {
        builder = builder.timeout(d);
    }
    tokio::spawn(
        builder
            .add_service(ToolServiceServer::new(tool))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    Ok(url)
}

fn flow(url: &str) -> FlowSet {
    flow_with(url, "")
}

/// The flow with `extra` lines in its tool (e.g. `token_env`).
fn flow_with(url: &str, extra: &str) -> FlowSet {
    let text = format!(
        r#"
name: loyalty
triggers: [complaint]
tools:
  shop.add_points:
    kind: grpc
    url: {url}{extra}
    timeout_ms: 200
    retries: 1
    backoff_ms: 10
    action: true
    returns: [points]
start: add
steps:
  add:
    call: shop.add_points
    args: {{reason: goodwill}}
    next: [{{goto: done}}]
  done:
    say: done
    end: resolved
messages:
  done: {{en: "I've added {{points}} points.", it: "Ho aggiunto {{points}} punti."}}
"#
    );
    FlowSet::from_sources([("loyalty.yaml".to_owned(), text)]).expect("valid flow")
}

async fn turn(set: &FlowSet) -> (FlowReply, Vec<pb::ConversationEvent>) {
    let mut state = FlowState::new("conv-loyalty");
    talk::turn(
        set,
        &mut state,
        Turn {
            conversation: "conv-loyalty",
            index: 4,
            text: "this is the third late parcel",
            intent: "complaint",
            lang: Lang::En,
            context: None,
        },
    )
    .await
}

#[tokio::test]
async fn a_deadline_after_the_tool_acted_is_said_as_unconfirmed() -> anyhow::Result<()> {
    let tool = Loyalty {
        delay: Duration::from_millis(600),
        ..Loyalty::default()
    };
    let url = serve(tool.clone()).await?;
    let (reply, events) = turn(&flow(&url)).await;
    let text = reply.text();
    assert!(text.contains("couldn't confirm"), "{text}");
    assert!(!text.contains("nothing has been changed"), "{text}");
    assert!(reply.handoff, "{reply:?}");
    let calls: Vec<_> = reply.actions().collect();
    assert_eq!(calls.len(), 1);
    assert_eq!(
        calls[0].result.attempts, 2,
        "retried once on DEADLINE_EXCEEDED"
    );
    let key = calls[0].call.idempotency_key.clone();
    for part in ["outcome unknown", "shop.add_points", key.as_str()] {
        assert!(
            reply.handoff_reason.contains(part),
            "lacks {part}: {}",
            reply.handoff_reason
        );
    }
    assert_eq!(*tool.keys.lock().expect("keys"), [key.clone(), key]);
    assert_eq!(tool.added.lock().expect("added").len(), 1, "acted once");
    assert!(events
        .iter()
        .all(|e| e.r#type != pb::EventType::Action as i32));
    assert!(events
        .iter()
        .any(|e| e.r#type == pb::EventType::ActionUnconfirmed as i32));
    Ok(())
}

/// Environment variable of the loyalty tool's bearer token in these tests.
const TOKEN_ENV: &str = "PARLA_TEST_LOYALTY_TOKEN";

#[tokio::test]
async fn a_slow_tool_sees_its_deadline_and_token_and_its_retry_gets_the_first_result(
) -> anyhow::Result<()> {
    std::env::set_var(TOKEN_ENV, "loyalty-s3cret");
    // Acts, then answers after the deadline; the retry finds the key and answers at once.
    let tool = Loyalty {
        delay: Duration::from_millis(600),
        late_requests: Some(1),
        ..Loyalty::default()
    };
    let url = serve(tool.clone()).await?;
    let started = std::time::Instant::now();
    let (reply, events) = turn(&flow_with(&url, &format!("\n    token_env: {TOKEN_ENV}"))).await;
    let text = reply.text();
    assert!(text.contains("added 100 points"), "{text}");
    assert!(!reply.handoff, "{reply:?}");
    let calls: Vec<_> = reply.actions().collect();
    assert_eq!(calls.len(), 1);
    assert!(
        matches!(calls[0].result.outcome, ToolOutcome::Succeeded(_)),
        "{:?}",
        calls[0].result
    );
    assert_eq!(calls[0].result.attempts, 2, "retried after the deadline");
    assert!(
        started.elapsed() < Duration::from_millis(550),
        "the first attempt was given up at its deadline, not waited for: {:?}",
        started.elapsed()
    );
    let key = calls[0].call.idempotency_key.clone();
    assert_eq!(*tool.keys.lock().expect("keys"), [key.clone(), key]);
    assert_eq!(tool.added.lock().expect("added").len(), 1, "acted once");
    let metadata = tool.metadata.lock().expect("metadata").clone();
    assert_eq!(metadata.len(), 2);
    for (deadline, token) in metadata {
        let deadline = deadline.expect("grpc-timeout sent");
        assert!(
            deadline > Duration::from_millis(100) && deadline <= Duration::from_millis(200),
            "the tool's timeout_ms: {deadline:?}"
        );
        assert_eq!(token.as_deref(), Some("Bearer loyalty-s3cret"));
    }
    assert!(events
        .iter()
        .any(|e| e.r#type == pb::EventType::Action as i32));
    Ok(())
}

#[tokio::test]
async fn a_call_the_tool_server_cancels_at_its_deadline_is_retried() -> anyhow::Result<()> {
    // The tool's server ends calls after 100 ms (tonic answers CANCELLED): a deadline hit, so
    // retried with the same key, and its outcome unknown (it may have acted).
    let tool = Loyalty {
        delay: Duration::from_millis(600),
        ..Loyalty::default()
    };
    let url = serve_with(tool.clone(), Some(Duration::from_millis(100))).await?;
    let (reply, _) = turn(&flow(&url)).await;
    let calls: Vec<_> = reply.actions().collect();
    assert_eq!(calls[0].result.attempts, 2, "{:?}", calls[0].result);
    assert!(
        matches!(calls[0].result.outcome, ToolOutcome::Unknown(_)),
        "{:?}",
        calls[0].result
    );
    assert!(
        reply.text().contains("couldn't confirm"),
        "{}",
        reply.text()
    );
    let key = calls[0].call.idempotency_key.clone();
    assert_eq!(*tool.keys.lock().expect("keys"), [key.clone(), key]);
    Ok(())
}

#[tokio::test]
async fn a_token_whose_variable_is_unset_is_no_call() -> anyhow::Result<()> {
    let tool = Loyalty::default();
    let url = serve(tool.clone()).await?;
    let (reply, _) = turn(&flow_with(
        &url,
        "\n    token_env: PARLA_TEST_UNSET_TOKEN_42",
    ))
    .await;
    let calls: Vec<_> = reply.actions().collect();
    assert!(
        matches!(&calls[0].result.outcome, ToolOutcome::Failed(why) if why.contains("PARLA_TEST_UNSET_TOKEN_42")),
        "{:?}",
        calls[0].result
    );
    assert!(
        reply.text().contains("nothing has been changed"),
        "{}",
        reply.text()
    );
    assert!(tool.keys.lock().expect("keys").is_empty(), "not called");
    Ok(())
}

#[tokio::test]
async fn a_refusal_changed_nothing() -> anyhow::Result<()> {
    let tool = Loyalty {
        refuse: true,
        ..Loyalty::default()
    };
    let url = serve(tool.clone()).await?;
    let (reply, _) = turn(&flow(&url)).await;
    let text = reply.text();
    assert!(text.contains("nothing has been changed"), "{text}");
    assert!(reply.handoff);
    let calls: Vec<_> = reply.actions().collect();
    assert!(
        matches!(calls[0].result.outcome, ToolOutcome::Failed(_)),
        "{:?}",
        calls[0].result
    );
    assert_eq!(tool.keys.lock().expect("keys").len(), 1, "not retried");
    Ok(())
}

#[tokio::test]
async fn an_unreachable_tool_changed_nothing() -> anyhow::Result<()> {
    // A port nobody listens on: no attempt leaves.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        format!("http://{}", l.local_addr()?)
    };
    let (reply, _) = turn(&flow(&closed)).await;
    let text = reply.text();
    assert!(text.contains("nothing has been changed"), "{text}");
    let calls: Vec<_> = reply.actions().collect();
    assert_eq!(calls[0].result.attempts, 2, "retried once");
    assert!(
        matches!(calls[0].result.outcome, ToolOutcome::Failed(_)),
        "{:?}",
        calls[0].result
    );
    Ok(())
}

#[test]
fn the_readme_example_of_a_grpc_tool_loads() -> anyhow::Result<()> {
    // The flow file under "A gRPC tool" in the README, as a developer would copy it.
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))?;
    let section = readme
        .split_once("### A gRPC tool")
        .map(|(_, rest)| rest)
        .ok_or_else(|| anyhow::anyhow!("the README has no section `### A gRPC tool`"))?;
    let yaml = section
        .split_once("```yaml\n")
        .and_then(|(_, rest)| rest.split_once("```"))
        .map(|(block, _)| block)
        .ok_or_else(|| anyhow::anyhow!("the section has no yaml block"))?;
    let set = FlowSet::from_sources([("README.md".to_owned(), yaml.to_owned())])?;
    let tools: Vec<_> = set
        .flows()
        .iter()
        .flat_map(|f| f.spec.tools.values())
        .filter(|t| t.kind == parla_flows::spec::ToolKind::Grpc)
        .collect();
    assert_eq!(tools.len(), 1, "one gRPC tool in the example");
    assert!(yaml.contains("token_env:"), "the example shows the token");
    Ok(())
}
