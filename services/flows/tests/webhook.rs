//! A developer's webhook tool against a local HTTP server that plays the shop's returns system:
//! the body is signed (HMAC-SHA256, verified by the server), a 503 is retried with the same
//! idempotency key and body, one return is created. When the shop may have acted but Parla
//! cannot tell (a timeout after the request was sent, an answer that cannot be read or lacks a
//! required key), the customer hears that it could not be confirmed — never that nothing was
//! changed — and the hand-off names the tool and the key; a refusal (4xx) or a shop that cannot
//! be reached is said as "nothing has been changed". Neither is published as an ACTION. A
//! declared `token_env` reaches the shop as `Authorization: Bearer …`.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::talk::{self, Turn};
use common::HttpDouble;
use parla_flows::tools::signature;
use parla_flows::{FlowReply, FlowSet, FlowState, Lang, ToolOutcome};
use parla_proto::v1 as pb;

const SECRET_ENV: &str = "PARLA_TEST_SHOP_WEBHOOK_SECRET";
const SECRET: &str = "shop-secret-1";

fn flow(url: &str, timeout_ms: u64) -> FlowSet {
    let text = format!(
        r#"
name: shop_returns
triggers: [return]
tools:
  shop.create_return:
    kind: webhook
    url: {url}/returns
    secret_env: {SECRET_ENV}
    timeout_ms: {timeout_ms}
    retries: 2
    backoff_ms: 20
    action: true
    returns: [rma_id]
start: find
steps:
  find:
    call: order.lookup
    next: [{{goto: create}}]
  create:
    call: shop.create_return
    args: {{order_id: "{{order_id}}", sku: "{{sku}}"}}
    next: [{{goto: done}}]
  done:
    say: done
    end: resolved
messages:
  done: {{en: "Return {{rma_id}} is open.", it: "Il reso {{rma_id}} è aperto."}}
"#
    );
    FlowSet::from_sources([("shop_returns.yaml".to_owned(), text)]).expect("valid flow")
}

fn context() -> pb::CustomerContext {
    pb::CustomerContext {
        recent_orders: vec![pb::Order {
            id: "A1042".into(),
            status: "delivered".into(),
            lines: vec![pb::OrderLine {
                id: "A1042-1".into(),
                sku: "JKT-BREEZE-M".into(),
                name: "Breeze light jacket".into(),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// The customer asks for the return (turn 1), with real tool calls.
async fn turn(set: &FlowSet, lang: Lang) -> (FlowReply, Vec<pb::ConversationEvent>) {
    let ctx = context();
    let mut state = FlowState::new("conv-shop");
    talk::turn(
        set,
        &mut state,
        Turn {
            conversation: "conv-shop",
            index: 1,
            text: "I want to return my jacket",
            intent: "return",
            lang,
            context: Some(&ctx),
        },
    )
    .await
}

fn of_type(events: &[pb::ConversationEvent], t: pb::EventType) -> Vec<&pb::ConversationEvent> {
    events.iter().filter(|e| e.r#type == t as i32).collect()
}

/// The shop's returns: one per idempotency key (a retry of a key gets the first return).
type Returns = Arc<Mutex<HashMap<String, String>>>;

fn create(shop: &Returns, r: &common::Received) -> String {
    let key = r
        .headers
        .get("idempotency-key")
        .cloned()
        .unwrap_or_default();
    let mut shop = shop.lock().expect("lock");
    let next = format!("SHOP-{}", shop.len() + 1);
    shop.entry(key).or_insert(next).clone()
}

#[tokio::test]
async fn signed_retried_on_503_with_the_same_key_and_one_return_created() -> anyhow::Result<()> {
    std::env::set_var(SECRET_ENV, SECRET);
    let returns: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    let bad_signatures = Arc::new(Mutex::new(0));
    let (shop, bad) = (Arc::clone(&returns), Arc::clone(&bad_signatures));
    let server = HttpDouble::start(move |r, n| {
        let sig = r
            .headers
            .get("x-parla-signature")
            .cloned()
            .unwrap_or_default();
        if sig != signature(SECRET.as_bytes(), &r.body) {
            *bad.lock().expect("lock") += 1;
            return (401, "{}".into(), Duration::ZERO);
        }
        if n == 1 {
            return (503, "{\"error\":\"busy\"}".into(), Duration::ZERO);
        }
        let rma = create(&shop, r);
        (
            200,
            format!("{{\"rma_id\":\"{rma}\",\"label_url\":\"https://shop.example/l/{rma}\"}}"),
            Duration::ZERO,
        )
    })
    .await?;
    let set = flow(&server.url, 1000);
    let (reply, events) = turn(&set, Lang::En).await;
    assert_eq!(reply.text(), "Return SHOP-1 is open.");
    assert_eq!(of_type(&events, pb::EventType::Action).len(), 1);
    let actions: Vec<_> = reply.actions().collect();
    assert_eq!(actions.len(), 1);
    assert_eq!(actions[0].result.attempts, 2);
    assert!(matches!(
        actions[0].result.outcome,
        ToolOutcome::Succeeded(_)
    ));
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(
        *bad_signatures.lock().expect("lock"),
        0,
        "signature verified"
    );
    let key = |i: usize| requests[i].headers.get("idempotency-key").cloned();
    assert_eq!(key(0), key(1));
    assert_eq!(requests[0].body, requests[1].body);
    let body: serde_json::Value = serde_json::from_slice(&requests[1].body)?;
    assert_eq!(body["arguments"]["order_id"], "A1042");
    assert_eq!(body["idempotency_key"], key(1).unwrap_or_default().as_str());
    assert_eq!(returns.lock().expect("lock").len(), 1, "one return created");
    Ok(())
}

/// What the customer and the colleague must be told when the shop may have acted: it could not
/// be confirmed (never "nothing has been changed"), and the hand-off names the tool and the key.
fn assert_unconfirmed(what: &str, reply: &FlowReply, events: &[pb::ConversationEvent]) {
    let text = reply.text();
    assert!(text.contains("couldn't confirm"), "{what}: {text}");
    assert!(text.contains("colleague"), "{what}: {text}");
    assert!(!text.contains("nothing has been changed"), "{what}: {text}");
    assert!(reply.handoff, "{what}: {reply:?}");
    let calls: Vec<_> = reply.actions().collect();
    assert_eq!(calls.len(), 1, "{what}");
    let key = &calls[0].call.idempotency_key;
    assert!(!key.is_empty(), "{what}");
    for part in ["outcome unknown", "shop.create_return", key.as_str()] {
        assert!(
            reply.handoff_reason.contains(part),
            "{what}: hand-off reason lacks {part}: {}",
            reply.handoff_reason
        );
    }
    assert!(
        matches!(calls[0].result.outcome, ToolOutcome::Unknown(_)),
        "{what}: {:?}",
        calls[0].result
    );
    assert_eq!(reply.outcome.as_deref(), Some("tool_unconfirmed"), "{what}");
    assert_eq!(reply.unconfirmed_actions().count(), 1, "{what}");
    assert!(
        of_type(events, pb::EventType::Action).is_empty(),
        "{what}: an unconfirmed action is not an ACTION"
    );
    let unconfirmed = of_type(events, pb::EventType::ActionUnconfirmed);
    assert_eq!(unconfirmed.len(), 1, "{what}");
    let record = unconfirmed[0].tool_call.clone().unwrap_or_default();
    assert_eq!(record.idempotency_key, *key, "{what}");
    assert_eq!(record.outcome, pb::ToolOutcome::Unknown as i32, "{what}");
    let action = unconfirmed[0].action.clone().unwrap_or_default();
    assert!(
        !action.ok && action.result.contains(key.as_str()),
        "{what}: {action:?}"
    );
}

#[tokio::test]
async fn a_timeout_after_the_shop_acted_is_said_as_unconfirmed() -> anyhow::Result<()> {
    std::env::set_var(SECRET_ENV, SECRET);
    let returns: Returns = Arc::default();
    let shop = Arc::clone(&returns);
    // The shop creates the return, then answers too late for Parla, every time.
    let server = HttpDouble::start(move |r, _| {
        let rma = create(&shop, r);
        (
            200,
            format!("{{\"rma_id\":\"{rma}\"}}"),
            Duration::from_millis(700),
        )
    })
    .await?;
    let (reply, events) = turn(&flow(&server.url, 200), Lang::En).await;
    assert_unconfirmed("timeout", &reply, &events);
    let requests = server.requests();
    assert_eq!(requests.len(), 3, "retried twice");
    let keys: Vec<_> = requests
        .iter()
        .map(|r| r.headers.get("idempotency-key").cloned())
        .collect();
    assert!(keys.iter().all(|k| *k == keys[0]), "{keys:?}");
    assert_eq!(
        returns.lock().expect("lock").len(),
        1,
        "the shop acted once"
    );
    Ok(())
}

#[tokio::test]
async fn unreadable_answers_after_the_shop_acted_are_said_as_unconfirmed() -> anyhow::Result<()> {
    std::env::set_var(SECRET_ENV, SECRET);
    for answer in [
        "{\"label_url\":\"https://shop.example/l/1\"}",
        "not json at all",
        "[\"rma\"]",
    ] {
        let server =
            HttpDouble::start(move |_, _| (200, answer.to_owned(), Duration::ZERO)).await?;
        let (reply, events) = turn(&flow(&server.url, 500), Lang::En).await;
        assert_unconfirmed(answer, &reply, &events);
        assert_eq!(server.requests().len(), 1, "{answer}: not retried");
    }
    Ok(())
}

#[tokio::test]
async fn a_refusal_or_an_unreachable_shop_changed_nothing() -> anyhow::Result<()> {
    std::env::set_var(SECRET_ENV, SECRET);
    let refusing =
        HttpDouble::start(|_, _| (422, "{\"error\":\"not returnable\"}".into(), Duration::ZERO))
            .await?;
    // A port nobody listens on: the request never leaves.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        format!("http://{}", l.local_addr()?)
    };
    for (what, url, attempts) in [
        ("refused", refusing.url.clone(), 1),
        ("unreachable", closed, 3),
    ] {
        let (reply, events) = turn(&flow(&url, 300), Lang::En).await;
        let text = reply.text();
        assert!(text.contains("nothing has been changed"), "{what}: {text}");
        assert!(!text.contains("couldn't confirm"), "{what}: {text}");
        assert!(reply.handoff, "{what}");
        let a: Vec<_> = reply.actions().collect();
        assert_eq!(a.len(), 1, "{what}");
        assert_eq!(a[0].result.attempts, attempts, "{what}");
        assert!(
            matches!(a[0].result.outcome, ToolOutcome::Failed(_)),
            "{what}: {:?}",
            a[0].result
        );
        assert_eq!(reply.outcome.as_deref(), Some("tool_failed"), "{what}");
        assert!(of_type(&events, pb::EventType::Action).is_empty(), "{what}");
        assert_eq!(of_type(&events, pb::EventType::ToolCall).len(), 2, "{what}");
    }
    assert_eq!(refusing.requests().len(), 1, "a refusal is not retried");
    Ok(())
}

#[tokio::test]
async fn a_missing_signing_key_is_not_called() -> anyhow::Result<()> {
    let server =
        HttpDouble::start(|_, _| (200, "{\"rma_id\":\"X\"}".into(), Duration::ZERO)).await?;
    let text = format!(
        "name: t\ntriggers: [return]\ntools:\n  shop.x:\n    kind: webhook\n    url: {}/x\n    secret_env: PARLA_TEST_UNSET_SECRET_42\n    action: true\nstart: a\nsteps:\n  a:\n    call: shop.x\n    next: [{{goto: b}}]\n  b:\n    say: m\n    end: resolved\nmessages:\n  m: {{en: ok, it: ok}}\n",
        server.url
    );
    let set = FlowSet::from_sources([("t.yaml".to_owned(), text)])?;
    let (reply, _) = turn(&set, Lang::En).await;
    assert!(reply.handoff);
    assert!(
        reply.text().contains("nothing has been changed"),
        "{}",
        reply.text()
    );
    assert!(server.requests().is_empty());
    Ok(())
}

#[tokio::test]
async fn a_bearer_token_is_sent_when_declared() -> anyhow::Result<()> {
    std::env::set_var(SECRET_ENV, SECRET);
    std::env::set_var("PARLA_TEST_SHOP_WEBHOOK_TOKEN", "shop-token-7");
    let server =
        HttpDouble::start(|_, _| (200, "{\"rma_id\":\"SHOP-1\"}".into(), Duration::ZERO)).await?;
    let text = format!(
        "name: t\ntriggers: [return]\ntools:\n  shop.x:\n    kind: webhook\n    url: {}/x\n    secret_env: {SECRET_ENV}\n    token_env: PARLA_TEST_SHOP_WEBHOOK_TOKEN\n    action: true\nstart: a\nsteps:\n  a:\n    call: shop.x\n    next: [{{goto: b}}]\n  b:\n    say: m\n    end: resolved\nmessages:\n  m: {{en: ok, it: ok}}\n",
        server.url
    );
    let set = FlowSet::from_sources([("t.yaml".to_owned(), text)])?;
    let (reply, _) = turn(&set, Lang::En).await;
    assert!(!reply.handoff, "{reply:?}");
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].headers.get("authorization").map(String::as_str),
        Some("Bearer shop-token-7")
    );
    Ok(())
}
