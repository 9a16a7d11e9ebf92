//! Logs never carry personal data: every log line of a gRPC session (at
//! TRACE, including tonic, h2 and hyper) that identifies, fetches, appends,
//! rejects, exports and erases a customer is captured and searched for the
//! customer's phone number and e-mail.
//!
//! One test in this binary: it owns the global tracing subscriber.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use parla_crm::{seed, CrmService, FieldCipher};
use parla_proto::v1 as pb;
use pb::crm_client::CrmClient;
use pb::customer_hint::Hint;

const PHONE_DIGITS: &str = "390255512345";
const EMAIL: &str = "giulia.rossi@example.com";

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phone_and_email_never_reach_the_log() {
    let captured = Captured::default();
    let sink = captured.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .init();

    let t = common::sqlite(FieldCipher::plain());
    seed::load(t.store.as_ref(), &seed::demo().unwrap()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(CrmService::with_store(t.store.clone(), 5).into_server())
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let mut crm = CrmClient::connect(format!("http://{addr}")).await.unwrap();
    let ask = |h: Hint| pb::IdentifyCustomerRequest {
        hint: Some(pb::CustomerHint { hint: Some(h) }),
    };

    for h in [
        Hint::PhoneNumber("+39 02 5551 2345".into()),
        Hint::PhoneNumber("+390255512345".into()),
        Hint::Email(EMAIL.into()),
        Hint::Email(EMAIL.to_uppercase()),
    ] {
        assert_eq!(
            crm.identify_customer(ask(h)).await.unwrap().into_inner().id,
            "C100"
        );
    }
    // Rejected and unknown variants of the same values.
    for h in [
        Hint::PhoneNumber("+390255512345 ext. 9".into()),
        Hint::PhoneNumber("0255512345".into()),
        Hint::PhoneNumber("+3902555123450000000".into()),
        Hint::Email("giulia.rossi@example".into()),
        Hint::Email("giulia.rossi@example.com.".into()),
        Hint::Email("giulia.rossi@example.org".into()),
    ] {
        assert!(crm.identify_customer(ask(h)).await.is_err());
    }
    let dup = pb::UpsertCustomerRequest {
        customer: Some(pb::Customer {
            id: "C200".into(),
            contacts: vec![
                pb::ContactPoint {
                    kind: "phone".into(),
                    value: "+390255512345".into(),
                },
                pb::ContactPoint {
                    kind: "email".into(),
                    value: EMAIL.into(),
                },
            ],
            ..Default::default()
        }),
        consents: vec![],
    };
    assert!(crm.upsert_customer(dup).await.is_err());
    crm.get_customer_context(pb::GetCustomerContextRequest {
        customer_id: "C100".into(),
        recent_interactions: 5,
    })
    .await
    .unwrap();
    crm.append_interaction(pb::AppendInteractionRequest {
        conversation_id: "conv-privacy".into(),
        customer_id: "C100".into(),
        turn: Some(pb::TimelineTurn {
            speaker: "customer".into(),
            text: format!("my number is +{PHONE_DIGITS} and my mail {EMAIL}"),
            ..Default::default()
        }),
        summary: format!("gave {EMAIL}"),
        ..Default::default()
    })
    .await
    .unwrap();
    let export = crm
        .export_customer(pb::ExportCustomerRequest {
            customer_id: "C100".into(),
            requested_by: "dpo".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        export.json.contains(EMAIL),
        "the export itself carries the data"
    );
    crm.erase_customer(pb::EraseCustomerRequest {
        customer_id: "C100".into(),
        requested_by: "dpo".into(),
    })
    .await
    .unwrap();

    let log = String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned();
    assert!(log.contains("crm call"), "the capture works");
    assert!(log.contains("customer erased"), "the capture works");
    for needle in [
        PHONE_DIGITS,
        "5551 2345",
        "5551-2345",
        EMAIL,
        &EMAIL.to_uppercase(),
        "giulia.rossi",
    ] {
        assert!(!log.contains(needle), "{needle} reached the log:\n{log}");
    }
}
