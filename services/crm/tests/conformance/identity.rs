//! Identification, customer context, orders and product search.

use std::collections::BTreeMap;

use common::TestStore;
use parla_crm::error::CrmError;
use parla_crm::model::*;
use parla_crm::seed;

use crate::{common, phone, seeded};

pub fn identifies_by_phone_email_and_id(t: &TestStore) {
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

pub fn rejects_malformed_contacts(t: &TestStore) {
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

pub fn context_in_one_call(t: &TestStore) {
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

pub fn lists_and_searches_orders(t: &TestStore) {
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

pub fn searches_products(t: &TestStore) {
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
