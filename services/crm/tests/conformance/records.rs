//! Records an integrator's request must not corrupt: an order that would
//! change customer, negative amounts, an unknown state, scores that are not
//! numbers. Each is refused with the field named, and the stored record is
//! left as it was.

use super::*;

/// C100's order A1042 as the store has it.
fn a1042(store: &dyn Store) -> Order {
    store
        .list_orders("C100", "A1042", 10)
        .unwrap()
        .into_iter()
        .find(|o| o.id == "A1042")
        .expect("the demo's order A1042 of C100")
}

pub fn refuses_records_that_would_corrupt(t: &TestStore) {
    let store = seeded(t);
    let before = a1042(store);
    assert!(!before.lines.is_empty());

    // Another customer cannot take the order over.
    let moved = Order {
        customer_id: "C200".into(),
        lines: Vec::new(),
        ..before.clone()
    };
    let e = store.upsert_order(&moved).unwrap_err();
    assert!(matches!(e, CrmError::FailedPrecondition(_)), "{e:?}");
    assert!(e.to_string().contains("another customer"), "{e}");

    let mut negative_quantity = before.clone();
    negative_quantity.lines[0].quantity = -3;
    let mut negative_price = before.clone();
    negative_price.lines[0].unit_price_minor = -8900;
    let unknown_status = Order {
        status: "teleported".into(),
        ..before.clone()
    };
    let negative_total = Order {
        total_minor: -1,
        ..before.clone()
    };
    for (order, field) in [
        (negative_quantity, "order.lines.quantity"),
        (negative_price, "order.lines.unit_price_minor"),
        (unknown_status, "order.status"),
        (negative_total, "order.total_minor"),
    ] {
        match store.upsert_order(&order) {
            Err(CrmError::InvalidArgument { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        }
    }
    // Nothing above changed the stored order.
    assert_eq!(a1042(store), before);

    // The owner may still update it.
    let shipped = Order {
        status: "delivered".into(),
        ..before.clone()
    };
    store.upsert_order(&shipped).unwrap();
    assert_eq!(a1042(store).status, "delivered");

    // A turn whose sentiment or confidence is not a number in range.
    let conversation = "conformance-records-1";
    for (sentiment, confidence, field) in [
        (f32::NAN, 0.9, "turn.sentiment.score"),
        (1.5, 0.9, "turn.sentiment.score"),
        (0.2, f32::INFINITY, "turn.intent.confidence"),
    ] {
        let append = Append {
            conversation_id: conversation.into(),
            customer_id: Some("C100".into()),
            turn: TimelineTurn {
                sentiment: Some(Sentiment {
                    score: sentiment,
                    label: "neutral".into(),
                    trend: 0.0,
                }),
                intent: Some(Intent {
                    name: "order_status".into(),
                    confidence,
                    slots: Default::default(),
                }),
                ..turn("customer", "where is my order")
            },
            ..Default::default()
        };
        match store.append(&append) {
            Err(CrmError::InvalidArgument { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        }
    }
}
