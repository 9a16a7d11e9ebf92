//! Chats under load through a server restart: 50 signed-in chats send 10 messages each, as the
//! widget does (a message id per message, sent again with the same id while the server is away,
//! the event stream resumed from the last event id), and the server is stopped with SIGTERM and
//! started again on the same data halfway through. Every message must be stored once, in order,
//! and answered below it; reply turn numbers keep increasing across the restart, so no reply
//! could take the place of an earlier one. Prints reply latency percentiles.

mod chat_support;
mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chat_support::{shop_token, SHOP_KEY};
use common::{agents_toml, SeededCrm};
use parla_proto::v1::chat_client::ChatClient;
use parla_proto::v1::chat_event::Event;
use parla_proto::v1::reply_event::Event as Reply;
use parla_proto::v1::{ChatEvent, ChatEventsRequest, ChatSendRequest};
use tonic::transport::Channel;
use tonic::Code;

const CHATS: usize = 50;
const MESSAGES: usize = 10;

// What Parla answers for a signed-in customer without handing off (her delivered order), so
// every message has a reply of Parla's to wait for.
const QUESTIONS: [&str; MESSAGES] = [
    "Hello!",
    "Where is my order A1042?",
    "Thanks. Has order A1042 been delivered?",
    "Hi again",
    "Where is my order?",
    "Thank you!",
    "Hello, is my order A1042 delivered?",
    "Great, thanks.",
    "Where is my parcel A1042?",
    "Thank you, goodbye.",
];

async fn connect(url: &str) -> ChatClient<Channel> {
    loop {
        match Channel::from_shared(url.to_owned())
            .expect("url")
            .connect()
            .await
        {
            Ok(c) => return ChatClient::new(c),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// Whether a failed call is worth sending again with the same message id: the server away,
/// or its connection closing under the call (an HTTP/2 GOAWAY during a graceful stop reaches a
/// native client as INTERNAL "h2 protocol error").
fn transient(status: &tonic::Status) -> bool {
    matches!(
        status.code(),
        Code::Unavailable | Code::Unknown | Code::Cancelled | Code::DeadlineExceeded
    ) || (status.code() == Code::Internal && status.message().starts_with("h2 protocol error"))
}

/// One customer: sends each question (again with the same id while the server is away) and
/// waits for a reply after it; the latency of each reply.
async fn customer(
    url: String,
    n: usize,
    shop: String,
    sent: Arc<AtomicUsize>,
) -> anyhow::Result<(String, String, Vec<Duration>)> {
    let mut chat = connect(&url).await;
    let (mut cid, mut token) = (String::new(), String::new());
    let mut last_seen = 0u64;
    let mut latencies = Vec::new();
    for (m, question) in QUESTIONS.iter().enumerate() {
        let started = Instant::now();
        let request = ChatSendRequest {
            conversation_id: cid.clone(),
            text: (*question).into(),
            language: "en".into(),
            customer_token: shop.clone(),
            conversation_token: token.clone(),
            client_message_id: format!("load-{n}-{m}"),
        };
        let stored = loop {
            match chat.send(request.clone()).await {
                Ok(r) => break r.into_inner(),
                Err(s) if transient(&s) && started.elapsed() < Duration::from_secs(90) => {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    chat = connect(&url).await;
                }
                Err(s) => anyhow::bail!("chat {n} message {m}: {s:?}"),
            }
        };
        sent.fetch_add(1, Ordering::Relaxed);
        cid = stored.conversation_id.clone();
        token = stored.conversation_token.clone();
        // The reply: a final after the stored message, read from the last event seen.
        'reply: loop {
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(90),
                "chat {n} message {m} ({question:?}): no reply after 90 s"
            );
            let events = chat
                .events(ChatEventsRequest {
                    conversation_id: cid.clone(),
                    after_event_id: last_seen,
                    customer_token: shop.clone(),
                    conversation_token: token.clone(),
                })
                .await;
            let mut stream = match events {
                Ok(s) => s.into_inner(),
                Err(s) if transient(&s) => {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    chat = connect(&url).await;
                    continue;
                }
                Err(s) => anyhow::bail!("chat {n} events: {s:?}"),
            };
            loop {
                match tokio::time::timeout(Duration::from_secs(5), stream.message()).await {
                    Ok(Ok(Some(e))) => {
                        last_seen = e.id;
                        let is_final = matches!(&e.event, Some(Event::Reply(r)) if matches!(r.event, Some(Reply::Final(_))));
                        if is_final && e.id > stored.event_id {
                            latencies.push(started.elapsed());
                            break 'reply;
                        }
                    }
                    // The stream ended or broke (a restart) or went quiet: resume it.
                    _ => continue 'reply,
                }
            }
        }
    }
    Ok((cid, token, latencies))
}

/// Every event of a conversation, in order, read as its customer reads it.
async fn history(url: &str, cid: &str, shop: &str, token: &str) -> anyhow::Result<Vec<ChatEvent>> {
    let mut chat = connect(url).await;
    let mut stream = chat
        .events(ChatEventsRequest {
            conversation_id: cid.into(),
            after_event_id: 0,
            customer_token: shop.into(),
            conversation_token: token.into(),
        })
        .await?
        .into_inner();
    let mut out = Vec::new();
    // The backlog comes at once; a quiet second means it is all here.
    while let Ok(Ok(Some(e))) = tokio::time::timeout(Duration::from_secs(1), stream.message()).await
    {
        out.push(e);
    }
    Ok(out)
}

#[tokio::test]
async fn fifty_chats_through_a_restart_lose_duplicate_and_overwrite_nothing() -> anyhow::Result<()>
{
    let config = format!(
        r#"shutdown_grace_secs = 3
[remote]
asr = "http://127.0.0.1:9"
tts = "http://127.0.0.1:9"
[gateway.chat]
token_key = "{SHOP_KEY}"
customer_messages_per_minute = 10000
anonymous_messages_per_minute = 10000
agent_wait_secs = 600
ip_messages_per_minute = 100000
{agents}"#,
        agents = agents_toml()
    );
    let (server, _crm) = SeededCrm::new()?
        .serve_only("crm,handoff,dialogue,gateway", &config, &[])
        .await?;
    let url = server.url.clone();
    let sent = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    // Shop tokens live at most an hour; one for the whole run.
    let shop = shop_token("C100", 900, SHOP_KEY);
    let customers: Vec<_> = (0..CHATS)
        .map(|n| tokio::spawn(customer(url.clone(), n, shop.clone(), Arc::clone(&sent))))
        .collect();
    // Halfway through, the operator restarts the server.
    let mut server = server;
    while sent.load(Ordering::Relaxed) < CHATS * MESSAGES / 2 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stopped = Instant::now();
    server.restart(Duration::from_secs(60)).await?;
    println!(
        "figure: restart after {} messages, serving again in {} ms",
        sent.load(Ordering::Relaxed),
        stopped.elapsed().as_millis()
    );
    let mut conversations = Vec::new();
    let mut latencies = Vec::new();
    for c in customers {
        let (cid, token, l) = c.await??;
        conversations.push((cid, token));
        latencies.extend(l);
    }
    let elapsed = started.elapsed();

    let (mut lost, mut duplicated, mut unanswered, mut out_of_order) = (0, 0, 0, 0);
    let histories = futures::future::join_all(
        conversations
            .iter()
            .map(|(cid, token)| history(&url, cid, &shop, token)),
    )
    .await;
    for ((cid, _), events) in conversations.iter().zip(histories) {
        let events = events?;
        let ids: Vec<u64> = events.iter().map(|e| e.id).collect();
        let expected_ids: Vec<u64> = (1..=events.len() as u64).collect();
        if ids != expected_ids {
            out_of_order += 1;
        }
        let said: Vec<&str> = events
            .iter()
            .filter_map(|e| match &e.event {
                Some(Event::CustomerMessage(t)) => Some(t.as_str()),
                _ => None,
            })
            .collect();
        for q in QUESTIONS {
            match said.iter().filter(|s| **s == q).count() {
                0 => lost += 1,
                1 => {}
                _ => duplicated += 1,
            }
        }
        if said.len() == QUESTIONS.len() && said != QUESTIONS {
            out_of_order += 1;
        }
        // Each message is followed by a final before the next one; reply turn numbers rise.
        let mut waiting = false;
        let mut turns = Vec::new();
        for e in &events {
            match &e.event {
                Some(Event::CustomerMessage(_)) => {
                    unanswered += usize::from(waiting);
                    waiting = true;
                }
                Some(Event::Reply(r)) => {
                    if let Some(Reply::Final(f)) = &r.event {
                        waiting = false;
                        turns.push(f.turn_index);
                    }
                }
                _ => {}
            }
        }
        unanswered += usize::from(waiting);
        if turns.windows(2).any(|w| w[1] <= w[0]) {
            out_of_order += 1;
            println!("conversation {cid}: reply turn numbers {turns:?}");
        }
    }
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize].as_millis();
    println!(
        "figure: {CHATS} chats x {MESSAGES} messages with a restart: {} replies in {:.1} s; reply latency p50 {} ms, p95 {} ms, max {} ms (the restart's wait included)",
        latencies.len(),
        elapsed.as_secs_f64(),
        pct(0.5),
        pct(0.95),
        pct(1.0)
    );
    println!(
        "figure: lost {lost}, duplicated {duplicated}, unanswered {unanswered}, out of order {out_of_order}"
    );
    assert_eq!(
        (lost, duplicated, unanswered, out_of_order),
        (0, 0, 0, 0),
        "lost, duplicated, unanswered, out of order"
    );
    Ok(())
}
