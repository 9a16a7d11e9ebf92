//! The conversation timeline: order, details and concurrent writers.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::common::TestStore;
use crate::{seeded, turn};
use parla_crm::error::CrmError;
use parla_crm::model::*;
use parla_crm::Store;

pub fn timeline_keeps_order_and_details(t: &TestStore) {
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

pub fn concurrent_appends_lose_nothing(t: &TestStore) {
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
