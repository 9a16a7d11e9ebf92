//! Idempotency keys name a request, not its arguments: a customer who moves the delivery
//! address to the office, then home, then the office again makes three requests, and the
//! shop's backend (a local HTTP server that dedupes by `Idempotency-Key`, as the flows README
//! tells integrators to) is called three times with three keys and ends with the office. A
//! retry of one request (a 503, then success) keeps that request's key.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::HttpDouble;
use parla_flows::tools::CallContext;
use parla_flows::weather::ClimateNormals;
use parla_flows::{Directive, FlowReply, FlowRunner, FlowSet, FlowState, Lang, Toolbox, TurnInput};

fn flow(url: &str) -> FlowSet {
    let text = format!(
        r#"
name: delivery_address
triggers: [delivery_problem]
slots:
  address:
    values:
      office: [office, ufficio]
      home: [home, casa]
tools:
  shop.set_address:
    kind: webhook
    url: {url}/address
    secret_env: PARLA_TEST_ADDRESS_SECRET
    timeout_ms: 1000
    retries: 2
    backoff_ms: 10
    action: true
    returns: [ref]
start: ask
steps:
  ask:
    say: ask
    wait_for: [address]
    next: [{{goto: set}}]
  set:
    call: shop.set_address
    args: {{address: "{{address}}"}}
    next: [{{goto: done}}]
  done:
    say: done
    end: resolved
messages:
  ask: {{en: "Which address?", it: "Quale indirizzo?"}}
  done: {{en: "Done: the delivery goes to {{address}} ({{ref}}).", it: "Fatto: la consegna va a {{address}} ({{ref}})."}}
"#
    );
    FlowSet::from_sources([("delivery_address.yaml".to_owned(), text)]).expect("valid flow")
}

/// One customer turn, with the tools run against the servers.
async fn turn(set: &FlowSet, state: &mut FlowState, index: u32, text: &str) -> FlowReply {
    let runner = FlowRunner::new(set.clone());
    let toolbox = Toolbox::new(set.clone(), None, None, Arc::new(ClimateNormals));
    let slots = BTreeMap::new();
    let input = TurnInput {
        text,
        intent: "delivery_problem",
        confidence: 0.9,
        slots: &slots,
        lang: Lang::En,
        context: None,
        today: 0,
        turn: index,
    };
    let mut d = runner.turn(state, &input);
    loop {
        match d {
            Directive::Reply(r) => return r,
            Directive::Pass => panic!("flow did not take the turn"),
            Directive::Call(call) => {
                let known = state.known();
                let cx = CallContext {
                    conversation_id: "conv-address",
                    customer_id: "C100",
                    context: None,
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

/// The shop: one reference per idempotency key (a retry gets the first answer again), the
/// address as the last new request set it. The first attempt of the second request is a 503.
struct Shop {
    refs: HashMap<String, String>,
    address: String,
}

#[tokio::test]
async fn office_home_office_is_three_requests_with_three_keys() -> anyhow::Result<()> {
    std::env::set_var("PARLA_TEST_ADDRESS_SECRET", "address-secret");
    let shop = Arc::new(Mutex::new(Shop {
        refs: HashMap::new(),
        address: "unset".into(),
    }));
    let backend = Arc::clone(&shop);
    let server = HttpDouble::start(move |r, n| {
        if n == 2 {
            return (503, "{\"error\":\"busy\"}".into(), Duration::ZERO);
        }
        let key = r
            .headers
            .get("idempotency-key")
            .cloned()
            .unwrap_or_default();
        let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
        let mut shop = backend.lock().expect("shop");
        let next = format!("ADR-{:04}", 14 + shop.refs.len());
        let reference = match shop.refs.get(&key) {
            Some(done) => done.clone(),
            None => {
                shop.address = body["arguments"]["address"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned();
                shop.refs.insert(key, next.clone());
                next
            }
        };
        (200, format!("{{\"ref\":\"{reference}\"}}"), Duration::ZERO)
    })
    .await?;
    let set = flow(&server.url);
    let mut state = FlowState::new("conv-address");
    let mut index = 0;
    let mut said = Vec::new();
    for place in ["office", "home", "office"] {
        index += 1;
        let asked = turn(
            &set,
            &mut state,
            index,
            "I need to change the delivery address",
        )
        .await;
        assert_eq!(asked.text(), "Which address?");
        index += 1;
        let done = turn(&set, &mut state, index, &format!("to my {place}")).await;
        said.push(done.text());
    }
    assert_eq!(
        said,
        [
            "Done: the delivery goes to office (ADR-0014).",
            "Done: the delivery goes to home (ADR-0015).",
            "Done: the delivery goes to office (ADR-0016).",
        ]
    );
    assert_eq!(shop.lock().expect("shop").address, "office");
    let requests = server.requests();
    let keys: Vec<String> = requests
        .iter()
        .map(|r| {
            r.headers
                .get("idempotency-key")
                .cloned()
                .unwrap_or_default()
        })
        .collect();
    let attempts: Vec<&str> = requests
        .iter()
        .map(|r| r.headers.get("x-parla-attempt").map_or("", String::as_str))
        .collect();
    // Four requests: office, home (a 503, then its retry), office.
    assert_eq!(attempts, ["1", "1", "2", "1"]);
    assert!(keys.iter().all(|k| !k.is_empty()), "{keys:?}");
    assert_eq!(keys[1], keys[2], "a retry of one request keeps its key");
    assert_eq!(requests[1].body, requests[2].body, "and its body");
    assert_ne!(keys[0], keys[1], "office, then home: two requests");
    assert_ne!(keys[0], keys[3], "office again is a new request");
    assert_ne!(keys[2], keys[3]);
    Ok(())
}
