//! The conformance suite: every case runs against SQLite and against a real
//! PostgreSQL server, through the same `Store` trait.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::{TestStore, KEY};
use parla_crm::error::CrmError;
use parla_crm::model::*;
use parla_crm::{seed, FieldCipher, Store};

/// Defines `sqlite_NAME` and `postgres_NAME` for a case.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[test] fn $name() { super::$name(&super::common::sqlite(parla_crm::FieldCipher::plain())); })*
        }
        mod postgres {
            $(#[test] fn $name() {
                if let Some(s) = super::common::postgres(parla_crm::FieldCipher::plain()) { super::$name(&s); }
            })*
        }
    };
}

conformance!(
    identifies_by_phone_email_and_id,
    rejects_malformed_contacts,
    context_in_one_call,
    lists_and_searches_orders,
    searches_products,
    returns_follow_the_rules,
    timeline_keeps_order_and_details,
    export_erase_export,
    concurrent_appends_lose_nothing,
    migrations_run_once,
    encrypts_personal_fields,
);

fn seeded(t: &TestStore) -> &dyn Store {
    seed::load(t.store.as_ref(), &seed::demo().unwrap()).unwrap();
    t.store.as_ref()
}

fn phone(s: &str) -> CustomerHint {
    CustomerHint::Phone(s.into())
}

fn identifies_by_phone_email_and_id(t: &TestStore) {
    let s = seeded(t);
    for hint in [
        phone("+39 02 5551 2345"),
        phone("0039 (02) 5551-2345"),
        phone("tel:+390255512345"),
        CustomerHint::Email(" Giulia.Rossi@Example.com".into()),
        CustomerHint::Id("C100".into()),
    ] {
        let c = s
            .identify(&hint)
            .unwrap_or_else(|e| panic!("{hint:?}: {e}"));
        assert_eq!(c.id, "C100");
        assert_eq!(c.name, "Giulia Rossi");
        assert_eq!(c.address.city, "Milan");
        assert!(c.contacts.iter().any(|cp| cp.value == "+390255512345"));
    }
    for hint in [
        phone("+39 02 0000 0000"),
        CustomerHint::Email("nobody@example.com".into()),
        CustomerHint::Id("C999".into()),
    ] {
        assert!(
            matches!(s.identify(&hint), Err(CrmError::NotFound { .. })),
            "{hint:?}"
        );
    }
}

fn rejects_malformed_contacts(t: &TestStore) {
    let s = seeded(t);
    for hint in [
        phone("02 5551 2345"),
        phone("+39 abc"),
        phone("+1"),
        CustomerHint::Email("giulia.rossi@".into()),
    ] {
        assert!(
            matches!(s.identify(&hint), Err(CrmError::InvalidArgument { .. })),
            "{hint:?}"
        );
    }
    let mut c = s.identify(&CustomerHint::Id("C200".into())).unwrap();
    c.contacts.push(ContactPoint {
        kind: ContactKind::Email,
        value: "not an email".into(),
    });
    assert!(matches!(
        s.upsert_customer(&c),
        Err(CrmError::InvalidArgument { .. })
    ));
    // Giulia's number cannot also be Marco's.
    let mut c = s.identify(&CustomerHint::Id("C200".into())).unwrap();
    c.contacts.push(ContactPoint {
        kind: ContactKind::Phone,
        value: "+390255512345".into(),
    });
    assert!(matches!(
        s.upsert_customer(&c),
        Err(CrmError::AlreadyExists(_))
    ));
}

fn context_in_one_call(t: &TestStore) {
    let s = seeded(t);
    let ctx = s.context("C100", 5).unwrap();
    assert_eq!(ctx.customer.name, "Giulia Rossi");
    assert!(ctx
        .consents
        .iter()
        .any(|c| c.purpose == ConsentPurpose::Personalization && c.granted));
    let order = &ctx.recent_orders[0];
    assert_eq!(order.id, "A1042");
    assert_eq!(order.lines[0].sku, "JKT-BREEZE-M");
    assert_eq!(order.total_minor, 8900);
    assert_eq!(
        order.delivered_at,
        Some(seed::parse_time("2026-11-15").unwrap())
    );
    let chat = &ctx.recent_interactions[0];
    assert_eq!(chat.conversation_id, "seed-C100-chat-1");
    assert!(chat.summary.contains("Breeze"));
    assert_eq!(chat.turns.len(), 3);
    assert_eq!(chat.turns[0].speaker, "customer");
    // Personalization withdrawn: no history in the context.
    let ctx = s.context("C400", 5).unwrap();
    assert!(ctx.recent_interactions.is_empty());
    // Damaged teapot: the open return is there.
    let ctx = s.context("C320", 5).unwrap();
    assert_eq!(ctx.open_returns.len(), 1);
    assert_eq!(ctx.open_returns[0].status, "label_sent");
    assert!(matches!(
        s.context("C999", 5),
        Err(CrmError::NotFound { .. })
    ));
}

fn lists_and_searches_orders(t: &TestStore) {
    let s = seeded(t);
    let ids = |q: &str| {
        s.list_orders("C350", q, 0)
            .unwrap()
            .into_iter()
            .map(|o| o.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(""), ["Q2044", "Q2001"]);
    assert_eq!(ids("parka"), ["Q2001"]);
    assert_eq!(ids("q2044"), ["Q2044"]);
    assert_eq!(ids("boot-trail"), ["Q2044"]);
    assert!(ids("teapot").is_empty());
    assert_eq!(s.list_orders("C350", "", 1).unwrap().len(), 1);
    assert!(matches!(
        s.list_orders("C999", "", 0),
        Err(CrmError::NotFound { .. })
    ));
}

fn searches_products(t: &TestStore) {
    let s = seeded(t);
    let q = ProductQuery {
        category: "outerwear".into(),
        attributes: BTreeMap::from([("waterproof".into(), "true".into())]),
        size: "M".into(),
    };
    let skus: Vec<_> = s
        .search_products(&q)
        .unwrap()
        .into_iter()
        .map(|p| p.sku)
        .collect();
    assert_eq!(skus, ["RCT-STORM-M"]);
    let q = ProductQuery {
        category: "outerwear".into(),
        attributes: BTreeMap::from([("warmth_min_c".into(), "-10".into())]),
        size: "M".into(),
    };
    let found = s.search_products(&q).unwrap();
    assert!(
        found
            .iter()
            .any(|p| p.sku == "PRK-ALPINE-M" && p.price_minor == 18900),
        "{found:?}"
    );
    // Out of stock in S: the wool sweater is not offered.
    let q = ProductQuery {
        category: "knitwear".into(),
        size: "S".into(),
        ..Default::default()
    };
    assert!(s.search_products(&q).unwrap().is_empty());
}

fn returns_follow_the_rules(t: &TestStore) {
    let s = seeded(t);
    let new = |order: &str, resolution: &str| NewReturn {
        order_id: order.into(),
        reason: "too light".into(),
        resolution: resolution.into(),
        ..Default::default()
    };
    let r = s.create_return(&new("A1042", "refund")).unwrap();
    assert!(r.rma_id.starts_with("RMA-"));
    assert_eq!(
        (r.status.as_str(), r.customer_id.as_str()),
        ("requested", "C100")
    );
    assert_eq!(r.line_ids, ["A1042-1"]);
    assert_eq!(
        s.context("C100", 1).unwrap().open_returns[0].rma_id,
        r.rma_id
    );
    let again = s.create_return(&new("A1042", "refund"));
    assert!(
        matches!(again, Err(CrmError::FailedPrecondition(_))),
        "{again:?}"
    );
    assert_eq!(
        s.update_return(&r.rma_id, "received").unwrap().status,
        "received"
    );
    assert_eq!(
        s.update_return(&r.rma_id, "refunded").unwrap().status,
        "refunded"
    );
    assert!(matches!(
        s.update_return(&r.rma_id, "requested"),
        Err(CrmError::FailedPrecondition(_))
    ));
    assert!(s.context("C100", 1).unwrap().open_returns.is_empty());
    assert!(matches!(
        s.update_return(&r.rma_id, "lost"),
        Err(CrmError::InvalidArgument { .. })
    ));
    assert!(matches!(
        s.update_return("RMA-NOPE", "received"),
        Err(CrmError::NotFound { .. })
    ));
    // Final sale, not yet delivered, unknown order, bad resolution.
    assert!(matches!(
        s.create_return(&new("F8100", "refund")),
        Err(CrmError::FailedPrecondition(_))
    ));
    assert!(matches!(
        s.create_return(&new("D5531", "refund")),
        Err(CrmError::FailedPrecondition(_))
    ));
    assert!(matches!(
        s.create_return(&new("Z0000", "refund")),
        Err(CrmError::NotFound { .. })
    ));
    assert!(matches!(
        s.create_return(&new("K4400", "swap")),
        Err(CrmError::InvalidArgument { .. })
    ));
    assert!(matches!(
        s.create_return(&new("K4400", "exchange")),
        Err(CrmError::InvalidArgument { .. })
    ));
    let mut bad_line = new("K4400", "refund");
    bad_line.line_ids = vec!["A1042-1".into()];
    assert!(matches!(
        s.create_return(&bad_line),
        Err(CrmError::InvalidArgument { .. })
    ));
    let mut exchange = new("K4400", "exchange");
    exchange.exchange_sku = "PRK-ALPINE-L".into();
    exchange.exchange_size = "L".into();
    exchange.conversation_id = "conv-ben".into();
    let r = s.create_return(&exchange).unwrap();
    assert_eq!(
        (r.exchange_sku.as_str(), r.conversation_id.as_str()),
        ("PRK-ALPINE-L", "conv-ben")
    );
}

fn turn(speaker: &str, text: &str) -> TimelineTurn {
    TimelineTurn {
        speaker: speaker.into(),
        text: text.into(),
        ..Default::default()
    }
}

fn timeline_keeps_order_and_details(t: &TestStore) {
    let s = seeded(t);
    let mut first = turn("customer", "I want to return my jacket");
    first.sentiment = Some(Sentiment {
        score: -0.25,
        label: "negative".into(),
        trend: -0.5,
    });
    first.intent = Some(Intent {
        name: "return".into(),
        confidence: 0.875,
        slots: BTreeMap::from([("product".into(), "jacket".into())]),
    });
    let mut second = turn("parla", "I have opened the return.");
    second.actions = vec![Action {
        name: "create_return".into(),
        arguments: BTreeMap::from([("order_id".into(), "A1042".into())]),
        ok: true,
        result: "RMA-1".into(),
    }];
    second.handoff = Some(Handoff {
        handoff: true,
        reason: "sentiment".into(),
        explanation: "upset".into(),
        ticket_id: "T1".into(),
    });
    let append = |turn: TimelineTurn, summary: &str, outcome: &str| Append {
        conversation_id: "conv-1".into(),
        customer_id: None,
        channel: Channel::Voice,
        turn,
        summary: summary.into(),
        outcome: outcome.into(),
    };
    assert_eq!(s.append(&append(first.clone(), "", "")).unwrap(), 0);
    let mut with_customer = append(second.clone(), "Return opened", "");
    with_customer.customer_id = Some("C100".into());
    assert_eq!(s.append(&with_customer).unwrap(), 1);
    assert_eq!(
        s.append(&append(turn("customer", "Thanks"), "", "resolved"))
            .unwrap(),
        2
    );
    let i = s.interaction("conv-1").unwrap();
    assert_eq!(i.customer_id.as_deref(), Some("C100"));
    assert_eq!(
        (i.summary.as_str(), i.outcome.as_str(), i.turn_count),
        ("Return opened", "resolved", 3)
    );
    assert_eq!(i.channel, Channel::Voice);
    assert_eq!(i.turns.len(), 3);
    assert_eq!(i.turns[0].text, first.text);
    assert_eq!(i.turns[0].sentiment, first.sentiment);
    assert_eq!(i.turns[0].intent, first.intent);
    assert_eq!(i.turns[1].actions, second.actions);
    assert_eq!(i.turns[1].handoff, second.handoff);
    assert!(i.turns[0].at > 0);
    assert_eq!(
        s.context("C100", 1).unwrap().recent_interactions[0].conversation_id,
        "conv-1"
    );
    assert!(matches!(
        s.append(&append(turn("robot", "x"), "", "")),
        Err(CrmError::InvalidArgument { .. })
    ));
    let mut unknown = append(turn("customer", "x"), "", "");
    unknown.customer_id = Some("C999".into());
    assert!(matches!(s.append(&unknown), Err(CrmError::NotFound { .. })));
    assert!(matches!(
        s.interaction("conv-none"),
        Err(CrmError::NotFound { .. })
    ));
}

fn export_erase_export(t: &TestStore) {
    let s = seeded(t);
    s.append(&Append {
        conversation_id: "conv-erase".into(),
        customer_id: Some("C100".into()),
        channel: Channel::Chat,
        turn: turn("customer", "Send it to Via Torino 21 please"),
        summary: "Giulia asked about delivery".into(),
        outcome: String::new(),
    })
    .unwrap();
    s.create_return(&NewReturn {
        order_id: "A1042".into(),
        reason: "Giulia finds it too light".into(),
        resolution: "refund".into(),
        ..Default::default()
    })
    .unwrap();
    let personal = [
        "Giulia",
        "Rossi",
        "390255512345",
        "giulia.rossi@example.com",
        "Via Torino",
        "20123",
        "Is the Breeze jacket warm enough",
    ];
    let before = s.export("C100", "dpo@shop.example").unwrap();
    for p in personal {
        assert!(before.json.contains(p), "first export lacks {p}");
    }
    let doc: serde_json::Value = serde_json::from_str(&before.json).unwrap();
    assert_eq!(doc["orders"][0]["id"], "A1042");
    let erase_id = s.erase("C100", "dpo@shop.example").unwrap();
    let after = s.export("C100", "dpo@shop.example").unwrap();
    for p in personal {
        assert!(
            !after.json.contains(p),
            "second export still holds {p}:\n{}",
            after.json
        );
    }
    let doc: serde_json::Value = serde_json::from_str(&after.json).unwrap();
    assert_eq!(doc["orders"][0]["id"], "A1042", "aggregates are kept");
    assert_eq!(doc["orders"][0]["total_minor"], 8900);
    assert!(doc["customer"]["erased_at"].is_i64());
    let log = s.audit_log("C100").unwrap();
    let actions: Vec<_> = log.iter().map(|a| a.action.as_str()).collect();
    assert_eq!(actions, ["export", "erase", "export"]);
    assert_eq!(log[0].id, before.audit_id);
    assert_eq!(log[1].id, erase_id);
    assert_eq!(log[2].id, after.audit_id);
    assert!(log.iter().all(|a| a.requested_by == "dpo@shop.example"));
    assert!(matches!(
        s.identify(&phone("+390255512345")),
        Err(CrmError::NotFound { .. })
    ));
    assert!(matches!(
        s.context("C100", 5),
        Err(CrmError::NotFound { .. })
    ));
    // Unknown ids and anonymous requests are reported.
    assert!(matches!(
        s.erase("C999", "dpo"),
        Err(CrmError::NotFound { .. })
    ));
    assert!(matches!(
        s.export("C999", "dpo"),
        Err(CrmError::NotFound { .. })
    ));
    assert!(matches!(
        s.erase("C200", ""),
        Err(CrmError::InvalidArgument { .. })
    ));
}

fn concurrent_appends_lose_nothing(t: &TestStore) {
    let s: Arc<dyn Store> = t.store.clone();
    // 50 conversations, 20 turns each, all at once.
    std::thread::scope(|scope| {
        for c in 0..50 {
            let s = s.clone();
            scope.spawn(move || {
                for k in 0..20u64 {
                    let a = Append {
                        conversation_id: format!("conc-{c}"),
                        channel: Channel::Chat,
                        turn: turn(
                            if k % 2 == 0 { "customer" } else { "parla" },
                            &format!("turn {k}"),
                        ),
                        ..Default::default()
                    };
                    assert_eq!(s.append(&a).unwrap(), k);
                }
            });
        }
    });
    for c in 0..50 {
        let i = s.interaction(&format!("conc-{c}")).unwrap();
        let texts: Vec<_> = i.turns.iter().map(|t| t.text.clone()).collect();
        let want: Vec<_> = (0..20).map(|k| format!("turn {k}")).collect();
        assert_eq!(texts, want, "conversation {c}");
    }
    // 8 writers into one conversation: positions are unique and each
    // writer's turns keep their order.
    std::thread::scope(|scope| {
        for w in 0..8 {
            let s = s.clone();
            scope.spawn(move || {
                let mut last = None;
                for k in 0..25 {
                    let a = Append {
                        conversation_id: "shared".into(),
                        channel: Channel::Voice,
                        turn: turn("agent", &format!("w{w}-{k}")),
                        ..Default::default()
                    };
                    let p = s.append(&a).unwrap();
                    assert!(last.is_none_or(|l| p > l));
                    last = Some(p);
                }
            });
        }
    });
    let i = s.interaction("shared").unwrap();
    assert_eq!((i.turns.len(), i.turn_count), (200, 200));
    for w in 0..8 {
        let mine: Vec<_> = i
            .turns
            .iter()
            .filter(|t| t.text.starts_with(&format!("w{w}-")))
            .map(|t| t.text.clone())
            .collect();
        let want: Vec<_> = (0..25).map(|k| format!("w{w}-{k}")).collect();
        assert_eq!(mine, want);
    }
}

fn migrations_run_once(t: &TestStore) {
    let rows = t.raw.dump("SELECT version, name FROM schema_migrations");
    assert_eq!(rows.len(), parla_crm::migrations::MIGRATIONS.len());
    // Running them again changes nothing.
    match &t.raw {
        common::Raw::Sqlite(s) => assert_eq!(parla_crm::migrations::run(s.database()).unwrap(), 1),
        common::Raw::Postgres(s) => {
            assert_eq!(parla_crm::migrations::run(s.database()).unwrap(), 1)
        }
    }
    assert_eq!(
        t.raw.dump("SELECT version FROM schema_migrations").len(),
        rows.len()
    );
}

fn encrypts_personal_fields(_plain: &TestStore) {
    let key = FieldCipher::from_hex(KEY, "test").unwrap();
    let t = match _plain.store.backend() {
        "sqlite" => common::sqlite(key),
        _ => match common::postgres(key) {
            Some(t) => t,
            None => return,
        },
    };
    let s = seeded(&t);
    s.append(&Append {
        conversation_id: "enc".into(),
        customer_id: Some("C100".into()),
        channel: Channel::Voice,
        turn: turn("customer", "my number is 02 5551 2345"),
        summary: "Giulia gave her number".into(),
        outcome: String::new(),
    })
    .unwrap();
    let raw = [
        t.raw
            .dump("SELECT name, street, city, postal_code, preferences FROM customers"),
        t.raw.dump("SELECT lookup, value FROM contact_points"),
        t.raw.dump("SELECT text, detail FROM turns"),
        t.raw.dump("SELECT summary FROM conversations"),
    ]
    .concat()
    .join("\n");
    for p in [
        "Giulia",
        "Rossi",
        "390255512345",
        "giulia.rossi@example.com",
        "Via Torino",
        "Milan",
        "5551 2345",
        "Breeze jacket",
    ] {
        assert!(!raw.contains(p), "{p} is stored in the clear");
    }
    // Still found and read back.
    let c = s.identify(&phone("+39 02 5551 2345")).unwrap();
    assert_eq!(
        (c.id.as_str(), c.name.as_str(), c.address.city.as_str()),
        ("C100", "Giulia Rossi", "Milan")
    );
    assert_eq!(
        s.identify(&CustomerHint::Email("giulia.rossi@example.com".into()))
            .unwrap()
            .id,
        "C100"
    );
    assert_eq!(
        s.interaction("enc").unwrap().turns[0].text,
        "my number is 02 5551 2345"
    );
}

#[test]
fn unreachable_postgres_is_unavailable() {
    let started = std::time::Instant::now();
    let e = parla_crm::postgres::PostgresDb::open("postgres://parla@127.0.0.1:1/parla", 2).err();
    assert!(matches!(e, Some(CrmError::Unavailable(_))), "{e:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

#[test]
fn bad_urls_name_the_key() {
    let config = parla_crm::CrmConfig {
        database_url: "mysql://x".into(),
        ..Default::default()
    };
    let e = parla_crm::open(&config).err().unwrap().to_string();
    assert!(e.contains("crm.database_url"), "{e}");
    let config = parla_crm::CrmConfig {
        encryption_key: "abc".into(),
        ..Default::default()
    };
    assert!(config
        .validate()
        .unwrap_err()
        .to_string()
        .contains("crm.encryption_key"));
}
