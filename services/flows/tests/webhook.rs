//! A developer's webhook tool against a local HTTP server that plays the shop's returns system:
//! the body is signed (HMAC-SHA256, verified by the server), a 503 is retried with the same
//! idempotency key and body, one return is created; invalid JSON, a missing result key and a
//! timeout give the customer an honest message and leave no action behind.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::HttpDouble;
use parla_flows::tools::{signature, CallContext};
use parla_flows::weather::ClimateNormals;
use parla_flows::{Directive, FlowReply, FlowRunner, FlowSet, FlowState, Lang, Toolbox, TurnInput};
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

/// Runs one turn with real tool calls.
async fn turn(set: &FlowSet, state: &mut FlowState, index: u32) -> FlowReply {
    let runner = FlowRunner::new(set.clone());
    let toolbox = Toolbox::new(set.clone(), None, None, Arc::new(ClimateNormals));
    let ctx = context();
    let slots = BTreeMap::new();
    let input = TurnInput {
        text: "I want to return my jacket",
        intent: "return",
        confidence: 0.9,
        slots: &slots,
        lang: Lang::En,
        context: Some(&ctx),
        today: 0,
        turn: index,
    };
    let mut d = runner.turn(state, &input);
    loop {
        match d {
            Directive::Reply(r) => return r,
            Directive::Pass => panic!("flow did not start"),
            Directive::Call(call) => {
                let known = state.known();
                let cx = CallContext {
                    conversation_id: "conv-shop",
                    customer_id: "C100",
                    context: Some(&ctx),
                    caller_phone: None,
                    lang: Lang::En,
                    today: 0,
                    facts: &known,
                };
                let result = toolbox.call(&call, &cx).await;
                d = runner.resume(state, &input, result);
            }
        }
    }
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
        let key = r
            .headers
            .get("idempotency-key")
            .cloned()
            .unwrap_or_default();
        let mut shop = shop.lock().expect("lock");
        let next = format!("SHOP-{}", shop.len() + 1);
        let rma = shop.entry(key).or_insert(next).clone();
        (
            200,
            format!("{{\"rma_id\":\"{rma}\",\"label_url\":\"https://shop.example/l/{rma}\"}}"),
            Duration::ZERO,
        )
    })
    .await?;
    let set = flow(&server.url, 1000);
    let mut state = FlowState::new("conv-shop");
    let reply = turn(&set, &mut state, 1).await;
    assert_eq!(reply.text(), "Return SHOP-1 is open.");
    let actions: Vec<_> = reply.actions().collect();
    assert_eq!(actions.len(), 1);
    assert_eq!(actions[0].result.attempts, 2);
    assert!(actions[0].result.outcome.is_ok());
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

#[tokio::test]
async fn invalid_answers_and_timeouts_leave_no_action() -> anyhow::Result<()> {
    std::env::set_var(SECRET_ENV, SECRET);
    for (answer, delay, attempts) in [
        ("not json at all", Duration::ZERO, 1),
        ("{\"label_url\":\"x\"}", Duration::ZERO, 1),
        ("[\"rma\"]", Duration::ZERO, 1),
        ("{\"rma_id\":\"late\"}", Duration::from_millis(900), 3),
    ] {
        let server = HttpDouble::start(move |_, _| (200, answer.to_owned(), delay)).await?;
        let set = flow(&server.url, 300);
        let mut state = FlowState::new("conv-bad");
        let reply = turn(&set, &mut state, 1).await;
        assert!(reply.handoff, "{answer}: {reply:?}");
        assert!(
            reply.text().contains("nothing has been changed"),
            "{}",
            reply.text()
        );
        assert!(!reply.text().contains("late"), "{}", reply.text());
        let a: Vec<_> = reply.actions().collect();
        assert_eq!(a.len(), 1);
        assert!(a[0].result.outcome.is_err(), "{answer}");
        assert_eq!(a[0].result.attempts, attempts, "{answer}");
        assert_eq!(server.requests().len(), attempts as usize);
    }
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
    let mut state = FlowState::new("conv-nokey");
    let reply = turn(&set, &mut state, 1).await;
    assert!(reply.handoff);
    assert!(server.requests().is_empty());
    Ok(())
}
