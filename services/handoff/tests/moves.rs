//! Who may move a ticket to whom: claim, transfer and take-over on the
//! queue itself, with the exact refusals a console shows.

use std::sync::Arc;

use parla_handoff::{HandoffQueue, QueueError, SqliteTicketStore, Ticket, TicketState};
use parla_proto::v1::ContextPackage;

async fn queue_with_ticket(dir: &tempfile::TempDir) -> anyhow::Result<(HandoffQueue, Ticket)> {
    let store = SqliteTicketStore::open(&dir.path().join("handoff.db"))?;
    let queue = HandoffQueue::new(Arc::new(store));
    let context = ContextPackage {
        conversation_id: "moves".to_owned(),
        language: "en".to_owned(),
        customer_id: "C100".to_owned(),
        ..ContextPackage::default()
    };
    let ticket = queue.escalate(context, String::new()).await?;
    Ok((queue, ticket))
}

fn conflict(result: Result<Ticket, QueueError>) -> String {
    match result {
        Err(QueueError::Conflict(m)) => m,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

#[tokio::test]
async fn claims_transfers_and_take_overs_move_tickets_or_say_why_not() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (queue, ticket) = queue_with_ticket(&dir).await?;
    let id = ticket.id.clone();
    let mut changes = queue.subscribe();

    // A waiting ticket cannot be transferred, only claimed.
    let m = conflict(queue.transfer(id.clone(), None, "bob".into(), None).await);
    assert_eq!(
        m,
        format!("ticket {id} cannot be transferred: it is Waiting")
    );
    let claimed = queue.claim(id.clone(), "anna".into()).await?;
    assert_eq!(
        (claimed.state, claimed.agent_id.as_deref()),
        (TicketState::Claimed, Some("anna"))
    );
    assert_eq!(changes.recv().await?.ticket(), &claimed);
    let m = conflict(queue.claim(id.clone(), "bob".into()).await);
    assert_eq!(
        m,
        format!("ticket {id} cannot be claimed: it is Claimed by agent \"anna\"")
    );

    // Only the holder (or a supervisor) transfers, within the receiver's capacity.
    let m = conflict(
        queue
            .transfer(id.clone(), Some("bob".into()), "carl".into(), None)
            .await,
    );
    assert_eq!(
        m,
        format!(
            "ticket {id} is not held by agent \"bob\" (state Claimed, agent Some(\"anna\")); \
             claim it first"
        )
    );
    let m = conflict(
        queue
            .transfer(id.clone(), Some("anna".into()), "anna".into(), Some(1))
            .await,
    );
    assert_eq!(
        m,
        "agent \"anna\" already holds 1 conversations (capacity 1)"
    );
    let moved = queue
        .transfer(id.clone(), Some("anna".into()), "bob".into(), Some(1))
        .await?;
    assert_eq!(moved.agent_id.as_deref(), Some("bob"));
    assert_eq!(changes.recv().await?.ticket(), &moved);

    // A supervisor takes a claimed ticket; a closed one stays closed.
    let taken = queue.take_over(id.clone(), "sara".into()).await?;
    assert_eq!(
        (taken.state, taken.agent_id.as_deref()),
        (TicketState::Claimed, Some("sara"))
    );
    assert_eq!(changes.recv().await?.ticket(), &taken);
    queue.release(id.clone(), "sara".into(), false).await?;
    let m = conflict(queue.take_over(id.clone(), "sara".into()).await);
    assert_eq!(
        m,
        format!("ticket {id} cannot be taken over: it is Closed by agent \"sara\"")
    );

    // Unknown tickets and empty agents.
    for result in [
        queue.claim("T999999".into(), "anna".into()).await,
        queue.take_over("T999999".into(), "sara".into()).await,
        queue
            .transfer("T999999".into(), None, "bob".into(), None)
            .await,
    ] {
        assert!(
            matches!(&result, Err(QueueError::NotFound(t)) if t == "T999999"),
            "{result:?}"
        );
    }
    for result in [
        queue.claim(id.clone(), " ".into()).await,
        queue.transfer(id.clone(), None, String::new(), None).await,
    ] {
        assert!(
            matches!(&result, Err(QueueError::InvalidArgument(_))),
            "{result:?}"
        );
    }
    Ok(())
}
