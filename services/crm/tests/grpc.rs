//! The `parla.v1.Crm` service on a real gRPC server (127.0.0.1:0) over a
//! real SQLite file: status codes a client sees for bad input, unknown
//! records, a store still opening and a locked database.

mod common;

use std::time::{Duration, Instant};

use parla_crm::{seed, CrmService, FieldCipher};
use parla_proto::v1 as pb;
use pb::crm_client::CrmClient;
use pb::customer_hint::Hint;
use tonic::transport::Channel;
use tonic::Code;

async fn serve(service: CrmService) -> CrmClient<Channel> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service.into_server())
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    CrmClient::connect(format!("http://{addr}")).await.unwrap()
}

fn hint(h: Hint) -> pb::IdentifyCustomerRequest {
    pb::IdentifyCustomerRequest {
        hint: Some(pb::CustomerHint { hint: Some(h) }),
    }
}

#[tokio::test]
async fn status_codes_match_the_contract() {
    let t = common::sqlite(FieldCipher::plain());
    seed::load(t.store.as_ref(), &seed::demo().unwrap()).unwrap();
    let mut crm = serve(CrmService::with_store(t.store.clone(), 5)).await;

    let c = crm
        .identify_customer(hint(Hint::PhoneNumber("+39 02 5551 2345".into())))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((c.id.as_str(), c.name.as_str()), ("C100", "Giulia Rossi"));

    let code = |r: Result<tonic::Response<pb::Customer>, tonic::Status>| r.unwrap_err().code();
    assert_eq!(
        code(
            crm.identify_customer(hint(Hint::PhoneNumber("+39 02 0000 0000".into())))
                .await
        ),
        Code::NotFound
    );
    assert_eq!(
        code(
            crm.identify_customer(hint(Hint::PhoneNumber("call me maybe".into())))
                .await
        ),
        Code::InvalidArgument
    );
    assert_eq!(
        code(
            crm.identify_customer(hint(Hint::Email("giulia@".into())))
                .await
        ),
        Code::InvalidArgument
    );
    assert_eq!(
        code(
            crm.identify_customer(pb::IdentifyCustomerRequest { hint: None })
                .await
        ),
        Code::InvalidArgument
    );

    let ctx = crm
        .get_customer_context(pb::GetCustomerContextRequest {
            customer_id: "C100".into(),
            recent_interactions: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ctx.recent_orders[0].id, "A1042");
    assert_eq!(ctx.recent_orders[0].lines[0].name, "Breeze light jacket");
    assert_eq!(ctx.recent_interactions[0].turns.len(), 3);

    let ret = crm
        .create_return(pb::CreateReturnRequest {
            order_id: "A1042".into(),
            reason: "too light".into(),
            resolution: "exchange".into(),
            exchange_sku: "PRK-ALPINE-M".into(),
            exchange_size: "M".into(),
            conversation_id: "conv-g".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ret.status, "requested");
    let again = crm
        .create_return(pb::CreateReturnRequest {
            order_id: "F8100".into(),
            resolution: "refund".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition);
    assert!(
        again.message().contains("final sale"),
        "{}",
        again.message()
    );

    let mut turn = pb::TimelineTurn {
        speaker: "customer".into(),
        text: "hello".into(),
        ..Default::default()
    };
    turn.sentiment = Some(pb::Sentiment {
        score: -0.5,
        label: pb::SentimentLabel::Negative as i32,
        trend: 0.0,
    });
    turn.handoff = Some(pb::HandoffDecision {
        handoff: true,
        reason: pb::HandoffReason::NoProgress as i32,
        ..Default::default()
    });
    let append = pb::AppendInteractionRequest {
        conversation_id: "conv-g".into(),
        customer_id: "C100".into(),
        channel: pb::Channel::Chat as i32,
        turn: Some(turn),
        ..Default::default()
    };
    assert_eq!(
        crm.append_interaction(append.clone())
            .await
            .unwrap()
            .into_inner()
            .position,
        0
    );
    assert_eq!(
        crm.append_interaction(append)
            .await
            .unwrap()
            .into_inner()
            .position,
        1
    );
    let i = crm
        .get_interaction(pb::GetInteractionRequest {
            conversation_id: "conv-g".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(i.turns.len(), 2);
    assert_eq!(
        i.turns[0].sentiment.unwrap().label,
        pb::SentimentLabel::Negative as i32
    );
    assert_eq!(
        i.turns[0].handoff.as_ref().unwrap().reason,
        pb::HandoffReason::NoProgress as i32
    );
    assert_eq!(i.channel, pb::Channel::Chat as i32);

    let erase = crm
        .erase_customer(pb::EraseCustomerRequest {
            customer_id: "C999".into(),
            requested_by: "dpo".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(erase.code(), Code::NotFound);
    let bad_turn = crm
        .append_interaction(pb::AppendInteractionRequest {
            conversation_id: "x".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_turn.code(), Code::InvalidArgument);

    let upserted = crm
        .upsert_customer(pb::UpsertCustomerRequest {
            customer: Some(pb::Customer {
                name: "Nuovo Cliente".into(),
                language: "it".into(),
                contacts: vec![pb::ContactPoint {
                    kind: "phone".into(),
                    value: "+39 333 123 4567".into(),
                }],
                ..Default::default()
            }),
            consents: vec![pb::Consent {
                purpose: pb::ConsentPurpose::Marketing as i32,
                granted: false,
                ..Default::default()
            }],
        })
        .await
        .unwrap()
        .into_inner();
    assert!(upserted.id.starts_with("CUS-"));
    assert_eq!(upserted.contacts[0].value, "+393331234567");
    let dup = crm
        .upsert_customer(pb::UpsertCustomerRequest {
            customer: Some(pb::Customer {
                id: "C200".into(),
                contacts: vec![pb::ContactPoint {
                    kind: "phone".into(),
                    value: "+393331234567".into(),
                }],
                ..Default::default()
            }),
            consents: vec![],
        })
        .await
        .unwrap_err();
    assert_eq!(dup.code(), Code::AlreadyExists);
}

#[tokio::test]
async fn unavailable_until_open_and_when_locked() {
    // Not yet loaded.
    let pending = CrmService::pending(5);
    let slot = pending.slot();
    let mut crm = serve(pending).await;
    let e = crm
        .identify_customer(hint(Hint::CustomerId("C100".into())))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unavailable);
    assert!(e.message().contains("retry"), "{}", e.message());

    // Loaded: then another process holds the write lock.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crm.db");
    let config = parla_crm::CrmConfig {
        database_url: format!("sqlite://{}", path.display()),
        ..Default::default()
    };
    let _ = slot.set(parla_crm::open(&config).unwrap());
    assert_eq!(
        crm.identify_customer(hint(Hint::CustomerId("C100".into())))
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );
    let locker = rusqlite::Connection::open(&path).unwrap();
    locker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let started = Instant::now();
    let e = crm.append_interaction(greeting()).await.unwrap_err();
    assert_eq!(e.code(), Code::Unavailable, "{e:?}");
    assert!(e.message().contains("retry"), "{}", e.message());
    assert_eq!(e.metadata().get("grpc-retry-pushback-ms").unwrap(), "1000");
    assert!(started.elapsed() < Duration::from_secs(20));
    locker.execute_batch("ROLLBACK").unwrap();
    // The server keeps serving once the lock is gone.
    let ok = crm.append_interaction(greeting()).await.unwrap();
    assert_eq!(ok.into_inner().position, 0);
}

/// A one-word customer turn for conversation "c".
fn greeting() -> pb::AppendInteractionRequest {
    pb::AppendInteractionRequest {
        conversation_id: "c".into(),
        turn: Some(pb::TimelineTurn {
            speaker: "customer".into(),
            text: "hi".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}
