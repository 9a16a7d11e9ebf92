//! A developer's gRPC tool (`parla.v1.ToolService`) served on 127.0.0.1:0 by the test: one that
//! carries out the request and then answers after Parla's deadline is said as "could not be
//! confirmed" with the tool and key in the hand-off (every attempt carried the same key, so the
//! tool acted once); one that refuses with INVALID_ARGUMENT, or that cannot be reached, changed
//! nothing and is said so.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::talk::{self, Turn};
use parla_flows::{FlowReply, FlowSet, FlowState, Lang, ToolOutcome};
use parla_proto::v1 as pb;
use parla_proto::v1::tool_service_server::{ToolService, ToolServiceServer};
use tonic::{Request, Response, Status};

/// The shop's loyalty tool: adds points once per idempotency key.
#[derive(Clone, Default)]
struct Loyalty {
    /// Keys of the requests received (every attempt).
    keys: Arc<Mutex<Vec<String>>>,
    /// Points added, by key.
    added: Arc<Mutex<HashMap<String, u32>>>,
    /// Answer this late (after acting).
    delay: Duration,
    /// Refuse instead of acting.
    refuse: bool,
}

#[tonic::async_trait]
impl ToolService for Loyalty {
    async fn call(
        &self,
        request: Request<pb::ToolCallRequest>,
    ) -> Result<Response<pb::ToolCallResponse>, Status> {
        let r = request.into_inner();
        self.keys
            .lock()
            .expect("keys")
            .push(r.idempotency_key.clone());
        if self.refuse {
            return Err(Status::invalid_argument("the order has no loyalty account"));
        }
        self.added
            .lock()
            .expect("added")
            .entry(r.idempotency_key)
            .or_insert(100);
        tokio::time::sleep(self.delay).await;
        Ok(Response::new(pb::ToolCallResponse {
            result: [("points".to_owned(), "100".to_owned())].into(),
        }))
    }
}

async fn serve(tool: Loyalty) -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(ToolServiceServer::new(tool))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    Ok(url)
}

fn flow(url: &str) -> FlowSet {
    let text = format!(
        r#"
name: loyalty
triggers: [complaint]
tools:
  shop.add_points:
    kind: grpc
    url: {url}
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
