//! The shared service token (`security.service_token`) through the real
//! binary: internal RPCs refuse calls without it or with a wrong one (and
//! log it without the value), the services still reach each other with it
//! set (dialogue → CRM and hand-off, chat gateway → dialogue and the queue
//! feed, hand-off → CRM), the chat widget's and the console's calls stay
//! public, and an open address without a token is warned about.

mod chat_support;
mod common;
mod talk;

use std::time::Duration;

use chat_support::*;
use common::{ParlaServer, SeededCrm};
use parla_proto::v1::chat_client::ChatClient;
use parla_proto::v1::chat_event::Event;
use parla_proto::v1::crm_client::CrmClient;
use parla_proto::v1::customer_hint::Hint;
use parla_proto::v1::handoff_client::HandoffClient;
use parla_proto::v1::{
    CustomerHint, ForgetCustomerRequest, GetInteractionRequest, IdentifyCustomerRequest,
    ListTicketsRequest, ReplyFinal, WatchQueueRequest,
};
use parla_proto::{PeerChannel, ServiceToken};
use tonic::Code;

const TOKEN: &str = "test-service-token-6f1c2a9e4b7d";
const WRONG: &str = "test-service-token-00000000wrong";

/// Starts `parla serve --listen LISTEN ARGS` with its log in a file; the
/// server and the log's path.
fn start_logged(
    listen: &str,
    args: &[&str],
    envs: &[(&str, &str)],
) -> anyhow::Result<(ParlaServer, std::path::PathBuf)> {
    let server = ParlaServer::start_at(listen, args, envs, true)?;
    let log = server.log_path();
    Ok((server, log))
}

/// Calls `path` as a browser does (gRPC-web over HTTP/1.1) and returns its
/// grpc-status, from the headers or the trailer frame.
async fn grpc_web_status(url: &str, path: &str, message: &[u8]) -> anyhow::Result<String> {
    use bytes::{Buf, Bytes};
    use http_body_util::{BodyExt, Full};
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    let mut frame = vec![0u8];
    frame.extend_from_slice(&(message.len() as u32).to_be_bytes());
    frame.extend_from_slice(message);
    let request = http::Request::post(format!("{url}{path}"))
        .version(http::Version::HTTP_11)
        .header("content-type", "application/grpc-web+proto")
        .header("x-grpc-web", "1")
        .body(Full::new(Bytes::from(frame)))?;
    let response = client.request(request).await?;
    if let Some(status) = response.headers().get("grpc-status") {
        return Ok(status.to_str()?.to_owned());
    }
    let mut body = response.into_body().collect().await?.to_bytes();
    while body.remaining() >= 5 {
        let flag = body.get_u8();
        let len = body.get_u32() as usize;
        let payload = body.split_to(len);
        if flag & 0x80 != 0 {
            let trailers = String::from_utf8(payload.to_vec())?;
            if let Some(line) = trailers.lines().find(|l| l.starts_with("grpc-status:")) {
                return Ok(line["grpc-status:".len()..].trim().to_owned());
            }
        }
    }
    anyhow::bail!("no grpc-status in the gRPC-web response")
}

fn token() -> ServiceToken {
    ServiceToken::new(TOKEN).expect("a valid token")
}

fn unauthenticated<T: std::fmt::Debug>(result: Result<T, tonic::Status>) -> tonic::Status {
    match result {
        Err(s) if s.code() == Code::Unauthenticated => s,
        other => panic!("expected UNAUTHENTICATED, got {other:?}"),
    }
}

fn identify() -> IdentifyCustomerRequest {
    IdentifyCustomerRequest {
        hint: Some(CustomerHint {
            hint: Some(Hint::PhoneNumber("+39 02 5551 2345".into())),
        }),
    }
}

#[tokio::test]
async fn internal_rpcs_need_the_service_token() -> anyhow::Result<()> {
    let crm = SeededCrm::new()?;
    let envs = [
        ("PARLA_CRM__DATA_DIR", crm.data_dir.as_str()),
        ("PARLA_SECURITY__SERVICE_TOKEN", TOKEN),
    ];
    // On every interface, but with a token: no warning about an open port.
    let (server, log) = start_logged("0.0.0.0:0", &["--only", "crm"], &envs)?;
    // Health is public: readiness works without the token.
    server.wait_ready(Duration::from_secs(30)).await?;
    let plain = server.channel().await?;

    let missing = unauthenticated(
        CrmClient::new(plain.clone())
            .identify_customer(identify())
            .await,
    );
    assert!(
        missing.message().contains("x-parla-service-token")
            && missing.message().contains("security.service_token"),
        "{missing:?}"
    );
    let wrong_token = ServiceToken::new(WRONG)?;
    let wrong = PeerChannel::new(plain.clone(), Some(&wrong_token));
    let refused = unauthenticated(
        CrmClient::new(wrong.clone())
            .identify_customer(identify())
            .await,
    );
    assert!(refused.message().contains("does not match"), "{refused:?}");
    let right = PeerChannel::new(plain.clone(), Some(&token()));
    let customer = CrmClient::new(right.clone())
        .identify_customer(identify())
        .await?
        .into_inner();
    assert_eq!(customer.id, "C100");

    // Browsers (gRPC-web) are refused too; health stays open to them.
    let request = prost::Message::encode_to_vec(&identify());
    let status = grpc_web_status(&server.url, "/parla.v1.Crm/IdentifyCustomer", &request).await?;
    assert_eq!(status, "16", "gRPC-web call to the CRM without the token");
    let status = grpc_web_status(&server.url, "/grpc.health.v1.Health/Check", &[]).await?;
    assert_eq!(status, "0", "gRPC-web health check");

    // Reflection tells what the server offers: internal too.
    unauthenticated(
        parla::demo::list_services(PeerChannel::new(plain.clone(), None))
            .await
            .map_err(|e| e.downcast::<tonic::Status>().expect("a status")),
    );
    let listed = parla::demo::list_services(right).await?;
    assert!(listed.iter().any(|s| s == "parla.v1.Crm"), "{listed:?}");

    // Each refusal is logged, without either token's value.
    let text = std::fs::read_to_string(&log)?;
    assert!(
        text.contains("internal rpc refused: no service token"),
        "{text}"
    );
    assert!(
        text.contains("internal rpc refused: wrong service token"),
        "{text}"
    );
    assert!(!text.contains(TOKEN) && !text.contains(WRONG), "{text}");
    assert!(!text.contains("without `security.service_token`"), "{text}");
    Ok(())
}

#[tokio::test]
async fn an_open_address_without_a_token_is_warned_about() -> anyhow::Result<()> {
    let warning = "without `security.service_token`";
    let (open, open_log) = start_logged("0.0.0.0:0", &["--only", "crm"], &[])?;
    let (local, local_log) = start_logged("127.0.0.1:0", &["--only", "crm"], &[])?;
    open.wait_ready(Duration::from_secs(30)).await?;
    local.wait_ready(Duration::from_secs(30)).await?;
    let open_text = std::fs::read_to_string(open_log)?;
    assert_eq!(open_text.matches(warning).count(), 1, "{open_text}");
    let local_text = std::fs::read_to_string(local_log)?;
    assert!(!local_text.contains(warning), "{local_text}");
    // Without a token nothing is checked: the CRM answers anyone, as before.
    CrmClient::new(local.channel().await?)
        .identify_customer(identify())
        .await
        .map(|_| ())
        .or_else(|s| match s.code() {
            Code::NotFound => Ok(()),
            _ => Err(s),
        })?;
    Ok(())
}
/// One turn of a new conversation over `channel`; its final event.
async fn converse_once(
    channel: &PeerChannel,
    id: &str,
    phone: Option<&str>,
    text: &str,
) -> anyhow::Result<ReplyFinal> {
    talk::Talk::open_peer(channel.clone(), id, phone, "")
        .await?
        .say(text)
        .await
}

#[tokio::test]
async fn the_services_reach_each_other_with_the_token_set() -> anyhow::Result<()> {
    let secrets = tempfile::tempdir()?;
    let token_file = secrets.path().join("service-token");
    std::fs::write(&token_file, format!("{TOKEN}\n"))?;
    let (server, _data) = chat_server(&format!(
        "[security]\nservice_token_file = {:?}\n",
        token_file.display().to_string()
    ))
    .await?;
    let plain = server.channel().await?;
    let service = PeerChannel::new(plain.clone(), Some(&token()));

    // Dialogue → CRM: the caller is identified and the reply uses her order.
    let f = converse_once(
        &service,
        "token-late-order",
        Some("+39 02 5551 2345"),
        "My order never arrived and nobody answers my emails, this is ridiculous!",
    )
    .await?;
    assert!(f.text.contains("A1042"), "no CRM order in: {f:?}");
    // Dialogue → hand-off: an explicit request reaches the queue.
    let f = converse_once(
        &service,
        "token-operatore",
        None,
        "voglio parlare con un operatore",
    )
    .await?;
    let ticket = f
        .handoff
        .clone()
        .filter(|h| h.handoff && !h.ticket_id.is_empty())
        .ok_or_else(|| anyhow::anyhow!("no hand-off ticket: {f:?}"))?
        .ticket_id;
    // A service lists the whole queue with the token.
    let tickets = HandoffClient::new(service.clone())
        .list_tickets(ListTicketsRequest::default())
        .await?
        .into_inner()
        .tickets;
    assert!(tickets.iter().any(|t| t.id == ticket), "{tickets:?}");
    // Without the token, the dialogue is closed.
    let outsider = PeerChannel::new(plain.clone(), None);
    let closed = converse_once(&outsider, "token-none", None, "hello").await;
    let status = closed
        .expect_err("converse without the token")
        .downcast::<tonic::Status>()?;
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");

    // The widget's calls need no service token; gateway → CRM (verify the
    // shop's customer) and → dialogue (the reply) carry it.
    let mut chat = ChatClient::new(plain.clone());
    let shopper = shop_token("C100", 300, SHOP_KEY);
    let sent = send(&mut chat, "", &shopper, "I want to speak to an agent").await?;
    let cid = sent.conversation_id;
    let seen = read_until(&mut chat, &cid, &shopper, 0, |s| {
        turn_done(s) && has(s, |e| matches!(e, Event::Handoff(_)))
    })
    .await?;
    assert!(finals(&seen) >= 1, "{seen:?}");
    let chat_ticket = handoff_ticket(&seen)?;
    // Erasing a chat log is internal.
    unauthenticated(
        ChatClient::new(plain.clone())
            .forget_customer(ForgetCustomerRequest {
                customer_id: "C100".into(),
            })
            .await,
    );

    // The console: sign-in is public; the queue needs a session (or the token).
    let mut console = HandoffClient::new(plain.clone());
    let anonymous = unauthenticated(console.list_tickets(ListTicketsRequest::default()).await);
    assert!(
        anonymous.message().contains("agent session")
            && anonymous.message().contains("x-parla-service-token"),
        "{anonymous:?}"
    );
    unauthenticated(console.watch_queue(WatchQueueRequest::default()).await);
    let mut anna = Agent::login(plain.clone(), "anna").await?;
    let listed = anna
        .console
        .list_tickets(anna.request(ListTicketsRequest::default()))
        .await?
        .into_inner()
        .tickets;
    assert!(listed.iter().any(|t| t.id == chat_ticket), "{listed:?}");
    anna.console
        .watch_queue(anna.request(WatchQueueRequest::default()))
        .await?;

    // The agent's claim and reply reach the chat through the gateway's queue
    // feed (WatchQueue with the token); the wrap-up reaches the CRM timeline.
    anna.claim(&chat_ticket).await?;
    anna.reply(&chat_ticket, "Hi, I'm Anna from the support team.")
        .await?;
    let last = seen.last().map(|e| e.id).unwrap_or(0);
    let reply = read_until(&mut chat, &cid, &shopper, last, |s| {
        has(s, |e| matches!(e, Event::AgentMessage(_)))
    })
    .await?;
    assert!(has(
        &reply,
        |e| matches!(e, Event::AgentMessage(m) if m.agent_name == "Anna")
    ));
    anna.release(&chat_ticket, "answered", "wrap-up through the token")
        .await?;
    let interaction = CrmClient::new(service)
        .get_interaction(GetInteractionRequest {
            conversation_id: cid,
        })
        .await?
        .into_inner();
    assert!(
        interaction
            .turns
            .iter()
            .any(|t| t.text.contains("wrap-up through the token")),
        "{interaction:?}"
    );
    Ok(())
}

#[test]
fn token_settings_are_checked_and_never_printed() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let config = |envs: &[(&str, &str)]| {
        common::parla(dir.path())
            .arg("config")
            .envs(envs.iter().copied())
            .output()
    };
    let shown = config(&[("PARLA_SECURITY__SERVICE_TOKEN", TOKEN)])?;
    assert!(shown.status.success());
    let text = String::from_utf8(shown.stdout)?;
    assert!(text.contains("[security]"), "{text}");
    assert!(text.contains("service_token = \"<redacted>\""), "{text}");
    assert!(!text.contains(TOKEN), "{text}");

    let short = config(&[("PARLA_SECURITY__SERVICE_TOKEN", "abc123def")])?;
    assert_eq!(short.status.code(), Some(2));
    let err = String::from_utf8(short.stderr)?;
    assert!(
        err.contains("security.service_token") && err.contains("at least 16"),
        "{err}"
    );
    assert!(!err.contains("abc123def"), "{err}");

    let numeric = config(&[("PARLA_SECURITY__SERVICE_TOKEN", "12345678901234567")])?;
    let err = String::from_utf8(numeric.stderr)?;
    assert!(
        err.contains("security.service_token") && !err.contains("12345678901234567"),
        "{err}"
    );

    let both = config(&[
        ("PARLA_SECURITY__SERVICE_TOKEN", TOKEN),
        ("PARLA_SECURITY__SERVICE_TOKEN_FILE", "/nonexistent"),
    ])?;
    let err = String::from_utf8(both.stderr)?;
    assert!(
        err.contains("security.service_token_file") && err.contains("one of them"),
        "{err}"
    );
    let missing = config(&[("PARLA_SECURITY__SERVICE_TOKEN_FILE", "/nonexistent/token")])?;
    let err = String::from_utf8(missing.stderr)?;
    assert!(err.contains("cannot be read"), "{err}");
    Ok(())
}
