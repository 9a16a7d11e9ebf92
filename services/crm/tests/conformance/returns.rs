//! Return eligibility and the return lifecycle.

use crate::common::TestStore;
use crate::seeded;
use parla_crm::error::CrmError;
use parla_crm::model::*;

pub fn returns_follow_the_rules(t: &TestStore) {
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
