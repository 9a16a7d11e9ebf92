//! The hand-off queue over gRPC on 127.0.0.1:0 with a real SQLite file:
//! escalate, list, claim, answer, release, watch, and what a restart keeps.

use std::sync::Arc;
use std::time::Duration;

use parla_handoff::{HandoffQueue, HandoffService, SqliteTicketStore};
use parla_proto::v1::handoff_client::HandoffClient;
use parla_proto::v1::handoff_server::HandoffServer;
use parla_proto::v1::{
    AgentReplyRequest, CallbackRequest, ClaimRequest, ContextPackage, EscalateRequest,
    GetTicketRequest, HandoffDecision, HandoffReason, ListTicketsRequest, ReleaseRequest,
    TicketState, WatchQueueRequest,
};
use tonic::transport::Channel;

async fn start(
    db: &std::path::Path,
) -> anyhow::Result<(HandoffClient<Channel>, tokio::task::JoinHandle<()>)> {
    let store = Arc::new(SqliteTicketStore::open(db)?);
    let service = HandoffService::new(HandoffQueue::new(store));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(async move {
        let _ = tonic::transport::Server::builder()
            .add_service(HandoffServer::new(service))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await;
    });
    let client = HandoffClient::connect(format!("http://{addr}")).await?;
    Ok((client, server))
}

fn context(conversation_id: &str, language: &str) -> ContextPackage {
    ContextPackage {
        conversation_id: conversation_id.to_owned(),
        language: language.to_owned(),
        customer_id: "C100".to_owned(),
        summary: "wants to return order A1042; angry about the delay".to_owned(),
        transcript: vec!["customer: where is my jacket".to_owned()],
        decision: Some(HandoffDecision {
            handoff: true,
            reason: HandoffReason::Sentiment as i32,
            explanation: "sentiment fell three turns in a row".to_owned(),
            ticket_id: String::new(),
        }),
        ..ContextPackage::default()
    }
}

#[tokio::test]
async fn a_ticket_goes_from_waiting_to_an_agent_and_back_to_parla() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (mut client, server) = start(&dir.path().join("handoff.db")).await?;
    let mut watch = client
        .watch_queue(WatchQueueRequest::default())
        .await?
        .into_inner();

    let ticket = client
        .escalate(EscalateRequest {
            context: Some(context("conv-1", "it")),
            skill: "returns".to_owned(),
        })
        .await?
        .into_inner();
    assert_eq!(ticket.state, TicketState::Waiting as i32);
    let seen = tokio::time::timeout(Duration::from_secs(5), watch.message()).await??;
    assert_eq!(
        seen.and_then(|e| e.ticket).map(|t| t.id),
        Some(ticket.id.clone())
    );

    let waiting_it = client
        .list_tickets(ListTicketsRequest {
            state: TicketState::Waiting as i32,
            language: "it".to_owned(),
        })
        .await?
        .into_inner()
        .tickets;
    assert_eq!(waiting_it.len(), 1);
    let package = waiting_it[0].context.clone().unwrap_or_default();
    assert_eq!(
        package.summary,
        "wants to return order A1042; angry about the delay"
    );
    assert_eq!(
        package.decision.map(|d| d.reason),
        Some(HandoffReason::Sentiment as i32)
    );
    let none_en = client
        .list_tickets(ListTicketsRequest {
            state: 0,
            language: "en".to_owned(),
        })
        .await?
        .into_inner()
        .tickets;
    assert!(none_en.is_empty());

    let claimed = client
        .claim(ClaimRequest {
            ticket_id: ticket.id.clone(),
            agent_id: "anna".to_owned(),
        })
        .await?
        .into_inner();
    assert_eq!(claimed.state, TicketState::Claimed as i32);
    assert_eq!(claimed.agent_id, "anna");

    let taken = client
        .claim(ClaimRequest {
            ticket_id: ticket.id.clone(),
            agent_id: "marco".to_owned(),
        })
        .await
        .expect_err("a claimed ticket cannot be claimed again");
    assert_eq!(taken.code(), tonic::Code::FailedPrecondition);
    assert!(taken.message().contains("anna"), "{}", taken.message());

    let not_holder = client
        .agent_reply(AgentReplyRequest {
            ticket_id: ticket.id.clone(),
            agent_id: "marco".to_owned(),
            text: "Ciao!".to_owned(),
        })
        .await
        .expect_err("only the holder answers");
    assert_eq!(not_holder.code(), tonic::Code::FailedPrecondition);
    let reply = client
        .agent_reply(AgentReplyRequest {
            ticket_id: ticket.id.clone(),
            agent_id: "anna".to_owned(),
            text: "Buongiorno, sono Anna: vedo il suo ordine A1042.".to_owned(),
        })
        .await?
        .into_inner();
    assert!(!reply.message_id.is_empty());

    let released = client
        .release(ReleaseRequest {
            ticket_id: ticket.id.clone(),
            agent_id: "anna".to_owned(),
            return_to_bot: true,
            outcome: "refund agreed".to_owned(),
            note: String::new(),
        })
        .await?
        .into_inner();
    assert_eq!(released.state, TicketState::Returned as i32);
    server.abort();

    // A restart keeps the queue.
    let (mut client, server) = start(&dir.path().join("handoff.db")).await?;
    let all = client
        .list_tickets(ListTicketsRequest::default())
        .await?
        .into_inner()
        .tickets;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].state, TicketState::Returned as i32);
    server.abort();
    Ok(())
}

#[tokio::test]
async fn bad_requests_get_clear_statuses() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (mut client, server) = start(&dir.path().join("handoff.db")).await?;
    let missing_context = client
        .escalate(EscalateRequest::default())
        .await
        .expect_err("no context");
    assert_eq!(missing_context.code(), tonic::Code::InvalidArgument);
    let no_conversation = client
        .escalate(EscalateRequest {
            context: Some(context("", "en")),
            skill: String::new(),
        })
        .await
        .expect_err("no conversation id");
    assert_eq!(no_conversation.code(), tonic::Code::InvalidArgument);
    assert!(no_conversation.message().contains("conversation_id"));
    let unknown = client
        .claim(ClaimRequest {
            ticket_id: "T999999".to_owned(),
            agent_id: "anna".to_owned(),
        })
        .await
        .expect_err("unknown ticket");
    assert_eq!(unknown.code(), tonic::Code::NotFound);
    let ticket = client
        .escalate(EscalateRequest {
            context: Some(context("conv-2", "en")),
            skill: String::new(),
        })
        .await?
        .into_inner();
    client
        .claim(ClaimRequest {
            ticket_id: ticket.id.clone(),
            agent_id: "anna".to_owned(),
        })
        .await?;
    let too_long = client
        .agent_reply(AgentReplyRequest {
            ticket_id: ticket.id,
            agent_id: "anna".to_owned(),
            text: "x".repeat(5000),
        })
        .await
        .expect_err("oversized message");
    assert_eq!(too_long.code(), tonic::Code::InvalidArgument);
    server.abort();
    Ok(())
}

#[tokio::test]
async fn a_call_back_is_noted_on_an_open_ticket_and_refused_on_a_returned_one() -> anyhow::Result<()>
{
    let dir = tempfile::tempdir()?;
    let (mut client, server) = start(&dir.path().join("handoff.db")).await?;
    let ticket = client
        .escalate(EscalateRequest {
            context: Some(context("conv-phone", "en")),
            skill: String::new(),
        })
        .await?
        .into_inner();
    let note = client
        .request_callback(CallbackRequest {
            ticket_id: ticket.id.clone(),
            phone: "+39 333 123 4567".to_owned(),
            reason: "the transfer got 486 Busy Here".to_owned(),
        })
        .await?
        .into_inner();
    assert_eq!(note.speaker, "parla");
    assert_eq!(note.conversation_id, "conv-phone");
    assert!(note.text.contains("+39 333 123 4567"), "{}", note.text);
    assert!(note.text.contains("486 Busy Here"), "{}", note.text);
    let detail = client
        .get_ticket(GetTicketRequest {
            ticket_id: ticket.id.clone(),
        })
        .await?
        .into_inner();
    assert!(
        detail.messages.iter().any(|m| m.id == note.id),
        "the note is on the ticket's thread: {:?}",
        detail.messages
    );
    // The ticket stays in the queue for a person to pick up.
    assert_eq!(
        detail.ticket.map(|t| t.state),
        Some(TicketState::Waiting as i32)
    );

    let not_a_number = client
        .request_callback(CallbackRequest {
            ticket_id: ticket.id.clone(),
            phone: "'; DROP TABLE tickets; --".to_owned(),
            reason: String::new(),
        })
        .await
        .expect_err("not a phone number");
    assert_eq!(not_a_number.code(), tonic::Code::InvalidArgument);
    let unknown = client
        .request_callback(CallbackRequest {
            ticket_id: "T999999".to_owned(),
            phone: String::new(),
            reason: String::new(),
        })
        .await
        .expect_err("unknown ticket");
    assert_eq!(unknown.code(), tonic::Code::NotFound);

    client
        .claim(ClaimRequest {
            ticket_id: ticket.id.clone(),
            agent_id: "anna".to_owned(),
        })
        .await?;
    client
        .release(ReleaseRequest {
            ticket_id: ticket.id.clone(),
            agent_id: "anna".to_owned(),
            return_to_bot: true,
            ..ReleaseRequest::default()
        })
        .await?;
    let returned = client
        .request_callback(CallbackRequest {
            ticket_id: ticket.id,
            phone: "+39 333 123 4567".to_owned(),
            reason: String::new(),
        })
        .await
        .expect_err("the conversation is back with Parla");
    assert_eq!(returned.code(), tonic::Code::FailedPrecondition);
    server.abort();
    Ok(())
}

#[tokio::test]
async fn a_queue_feed_ends_when_its_agent_session_expires() -> anyhow::Result<()> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    use parla_handoff::{AgentAccount, AgentDirectory};
    use parla_proto::v1::AgentLoginRequest;

    let dir = tempfile::tempdir()?;
    let store = Arc::new(SqliteTicketStore::open(&dir.path().join("handoff.db"))?);
    let salt = SaltString::encode_b64(b"0123456789abcdef").expect("salt");
    let hash = argon2::Argon2::default()
        .hash_password(b"s3cret", &salt)
        .expect("hash")
        .to_string();
    let agents = AgentDirectory::new(
        &[AgentAccount {
            id: "anna".into(),
            name: "Anna".into(),
            role: "agent".into(),
            password_hash: hash,
            ..Default::default()
        }],
        Duration::from_millis(1500),
    );
    let service = HandoffService::new(HandoffQueue::new(store)).with_agents(Arc::new(agents), true);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(HandoffServer::new(service))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let mut client = HandoffClient::connect(format!("http://{addr}")).await?;
    let session = client
        .agent_login(AgentLoginRequest {
            username: "anna".into(),
            password: "s3cret".into(),
        })
        .await?
        .into_inner();
    let mut request = tonic::Request::new(WatchQueueRequest::default());
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {}", session.token).parse()?,
    );
    let mut watch = client.watch_queue(request).await?.into_inner();

    // A forged session is refused outright.
    let mut forged = tonic::Request::new(WatchQueueRequest::default());
    forged
        .metadata_mut()
        .insert("authorization", "Bearer 00ff".parse()?);
    let refused = client.watch_queue(forged).await.err().map(|s| s.code());
    assert_eq!(refused, Some(tonic::Code::Unauthenticated));

    // While the session lives, the feed carries the queue.
    let first = client
        .escalate(EscalateRequest {
            context: Some(context("conv-live", "en")),
            skill: String::new(),
        })
        .await?
        .into_inner();
    let seen = tokio::time::timeout(Duration::from_secs(5), watch.message()).await??;
    assert_eq!(seen.and_then(|e| e.ticket).map(|t| t.id), Some(first.id));

    // After it expires, the next change ends the feed instead of reaching it.
    tokio::time::sleep(Duration::from_millis(1700)).await;
    client
        .escalate(EscalateRequest {
            context: Some(context("conv-after", "en")),
            skill: String::new(),
        })
        .await?;
    let ended = tokio::time::timeout(Duration::from_secs(5), watch.message()).await?;
    assert_eq!(
        ended.err().map(|s| s.code()),
        Some(tonic::Code::Unauthenticated),
        "an expired session's feed ends with UNAUTHENTICATED"
    );
    Ok(())
}
