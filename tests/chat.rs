//! Web chats end to end through the real binary (`parla serve --only
//! crm,handoff,dialogue,gateway`, seeded CRM, real understanding models),
//! spoken to as the widget does but over native gRPC: the resumable event
//! stream, identity and ownership, limits, hand-off to a signed-in agent
//! whose reply reaches the chat, the honest no-agent notice, verification,
//! and a chat that starts with yesterday's call.

mod chat_support;
mod common;

use std::time::{Duration, Instant};

use chat_support::*;
use parla_proto::v1::chat_client::ChatClient;
use parla_proto::v1::chat_event::Event;
use parla_proto::v1::crm_client::CrmClient;
use parla_proto::v1::handoff_client::HandoffClient;
use parla_proto::v1::reply_event::Event as Reply;
use parla_proto::v1::{
    AgentLoginRequest, AppendInteractionRequest, Channel, ChatEvent, ChatEventsRequest,
    ChatSendRequest, ChatVerifyRequest, ClaimRequest, GetInteractionRequest, TimelineTurn,
};
use prost::Message;
use tonic::Code;

#[tokio::test]
async fn a_forced_reconnect_loses_and_repeats_nothing() -> anyhow::Result<()> {
    let (server, _data) = chat_server("").await?;
    let mut chat = ChatClient::new(server.channel().await?);
    let first = send(&mut chat, "", "", "Hello, where is my order?").await?;
    let (cid, token) = (
        first.conversation_id.clone(),
        first.conversation_token.clone(),
    );
    // Read two events, then drop the stream in the middle of the reply.
    let early = read_until(&mut chat, &cid, &token, 0, |s| s.len() >= 2).await?;
    let last = early.last().map(|e| e.id).unwrap_or(0);
    // A second message while disconnected; a retried send is idempotent.
    let mut again = ChatSendRequest {
        conversation_id: cid.clone(),
        text: "Thank you, goodbye".into(),
        language: "en".into(),
        customer_token: token.clone(),
        conversation_token: String::new(),
        client_message_id: "m-2".into(),
    };
    let a = chat.send(again.clone()).await?.into_inner();
    again.text = "Thank you, goodbye (retried)".into();
    let b = chat.send(again).await?.into_inner();
    assert_eq!(
        a.event_id, b.event_id,
        "a retried send must not store the message twice"
    );
    let resumed = read_until(&mut chat, &cid, &token, last, |s| {
        finals(&early) + finals(s) >= 2 && has(s, |e| matches!(e, Event::Typing(false)))
    })
    .await?;
    let mut all: Vec<ChatEvent> = early.into_iter().chain(resumed).collect();
    let ids: Vec<u64> = all.iter().map(|e| e.id).collect();
    assert_eq!(
        ids,
        (1..=ids.len() as u64).collect::<Vec<_>>(),
        "ids must be 1..n with no gap or repeat"
    );
    // The same history read afresh from the start is identical.
    let n = all.len();
    let fresh = read_until(&mut chat, &cid, &token, 0, |s| s.len() >= n).await?;
    assert_eq!(
        fresh[..n],
        all[..],
        "a fresh read differs from the resumed one"
    );
    let customer: Vec<_> = all
        .iter()
        .filter_map(|e| match &e.event {
            Some(Event::CustomerMessage(t)) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        customer,
        ["Hello, where is my order?", "Thank you, goodbye"]
    );
    // Each reply's deltas add up to its final text.
    all.retain(|e| matches!(e.event, Some(Event::Reply(_))));
    let mut text = String::new();
    for e in &all {
        if let Some(Event::Reply(r)) = &e.event {
            match &r.event {
                Some(Reply::Delta(d)) => text.push_str(&d.text),
                Some(Reply::Final(f)) => assert_eq!(std::mem::take(&mut text), f.text),
                None => {}
            }
        }
    }
    Ok(())
}

#[tokio::test]
async fn tokens_ownership_and_limits_are_enforced() -> anyhow::Result<()> {
    let (server, _data) = chat_server("").await?;
    let mut chat = ChatClient::new(server.channel().await?);
    let giulia = shop_token("C100", 300, SHOP_KEY);
    let mine = send(&mut chat, "", &giulia, "Hello").await?;
    let cid = mine.conversation_id.clone();
    // Another customer, a forged token, an expired one, none at all.
    let marco = shop_token("C200", 300, SHOP_KEY);
    let code = |r: Result<_, tonic::Status>| r.err().map(|s| s.code());
    let events = |token: &str| ChatEventsRequest {
        conversation_id: cid.clone(),
        after_event_id: 0,
        customer_token: token.into(),
        conversation_token: String::new(),
    };
    assert_eq!(
        code(chat.events(events(&marco)).await.map(|_| ())),
        Some(Code::PermissionDenied)
    );
    assert_eq!(
        code(send(&mut chat, &cid, &marco, "let me in").await.map(|_| ())),
        Some(Code::PermissionDenied)
    );
    assert_eq!(
        code(
            chat.events(events(&shop_token("C100", 300, "not-the-key")))
                .await
                .map(|_| ())
        ),
        Some(Code::Unauthenticated)
    );
    assert_eq!(
        code(
            chat.events(events(&shop_token("C100", -600, SHOP_KEY)))
                .await
                .map(|_| ())
        ),
        Some(Code::Unauthenticated)
    );
    assert_eq!(
        code(
            chat.events(events(&shop_token("C100", 86_400, SHOP_KEY)))
                .await
                .map(|_| ())
        ),
        Some(Code::Unauthenticated),
        "a day-long shop token is not short-lived"
    );
    assert_eq!(
        code(chat.events(events("")).await.map(|_| ())),
        Some(Code::Unauthenticated)
    );
    // A signed-in customer's conversation token opens it only beside their shop token: a
    // signed-out page (the token alone) or another customer's page (with their shop token)
    // is refused, and starting afresh there shows none of it.
    assert_eq!(
        code(
            chat.events(events(&mine.conversation_token))
                .await
                .map(|_| ())
        ),
        Some(Code::PermissionDenied),
        "a signed-out page must not open a signed-in customer's conversation"
    );
    let both = |shop: &str| ChatEventsRequest {
        conversation_id: cid.clone(),
        after_event_id: 0,
        customer_token: shop.into(),
        conversation_token: mine.conversation_token.clone(),
    };
    assert!(chat.events(both(&giulia)).await.is_ok());
    assert_eq!(
        code(chat.events(both(&marco)).await.map(|_| ())),
        Some(Code::PermissionDenied)
    );
    assert_eq!(
        code(
            chat.send(ChatSendRequest {
                conversation_id: cid.clone(),
                text: "Where is my order?".into(),
                language: "en".into(),
                customer_token: marco.clone(),
                conversation_token: mine.conversation_token.clone(),
                client_message_id: String::new(),
            })
            .await
            .map(|_| ())
        ),
        Some(Code::PermissionDenied)
    );
    // Marco's page, Giulia's conversation token still in the browser, no conversation id: a
    // new conversation of his own, in which nothing of hers appears.
    let his = chat
        .send(ChatSendRequest {
            conversation_id: String::new(),
            text: "Where is my order?".into(),
            language: "en".into(),
            customer_token: marco.clone(),
            conversation_token: mine.conversation_token.clone(),
            client_message_id: String::new(),
        })
        .await?
        .into_inner();
    assert_ne!(his.conversation_id, cid);
    let seen = read_until(&mut chat, &his.conversation_id, &marco, 0, |s| {
        finals(s) >= 1
    })
    .await?;
    let shown = format!("{seen:?}");
    assert!(
        !shown.contains("A1042") && !shown.contains("Giulia"),
        "Marco's conversation shows Giulia's data: {shown}"
    );
    let other = send(&mut chat, "", "", "Hi").await?;
    let wrong = ChatEventsRequest {
        conversation_id: cid.clone(),
        after_event_id: 0,
        customer_token: other.conversation_token.clone(),
        conversation_token: String::new(),
    };
    assert_eq!(
        code(chat.events(wrong).await.map(|_| ())),
        Some(Code::PermissionDenied)
    );
    // Oversized and empty messages.
    assert_eq!(
        code(
            send(&mut chat, &cid, &giulia, &"x".repeat(5000))
                .await
                .map(|_| ())
        ),
        Some(Code::InvalidArgument)
    );
    assert_eq!(
        code(send(&mut chat, &cid, &giulia, "   ").await.map(|_| ())),
        Some(Code::InvalidArgument)
    );
    // Under the byte limit but over what one turn takes: refused at Send, in words a
    // customer can act on (no setting names), instead of stored and left unanswered.
    let long = send(&mut chat, &cid, &giulia, &"word ".repeat(500))
        .await
        .expect_err("2,500 characters are more than one message takes");
    assert_eq!(long.code(), Code::InvalidArgument);
    assert!(
        long.message().contains("2000") && !long.message().contains('`'),
        "{}",
        long.message()
    );
    // A text that is not UTF-8 (bytes no client library sends) is the client's error, and
    // says which field.
    let garbled = common::raw::not_utf8(
        ChatSendRequest {
            conversation_id: cid.clone(),
            text: "XXXX".into(),
            language: "en".into(),
            customer_token: giulia.clone(),
            conversation_token: String::new(),
            client_message_id: String::new(),
        }
        .encode_to_vec(),
    );
    let status = common::raw::unary(server.channel().await?, "/parla.v1.Chat/Send", garbled).await;
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(
        status.message().contains("ChatSendRequest.text"),
        "{status:?}"
    );
    // An anonymous flood is cut at 6 a minute.
    let mut refused = None;
    for i in 0..10 {
        if let Err(s) = send(
            &mut chat,
            &other.conversation_id,
            &other.conversation_token,
            &format!("spam {i}"),
        )
        .await
        {
            refused = Some((i, s.code()));
            break;
        }
    }
    assert_eq!(
        refused.map(|r| r.1),
        Some(Code::ResourceExhausted),
        "flood not limited"
    );
    assert!(refused.is_some_and(|r| r.0 <= 5), "{refused:?}");
    // Verification by order id and e-mail.
    let anon = send(&mut chat, "", "", "Hi there").await?;
    let verify = |email: &str| ChatVerifyRequest {
        conversation_id: anon.conversation_id.clone(),
        customer_token: anon.conversation_token.clone(),
        conversation_token: String::new(),
        order_id: "A1042".into(),
        email: email.into(),
    };
    assert_eq!(
        code(chat.verify(verify("someone@example.com")).await.map(|_| ())),
        Some(Code::PermissionDenied)
    );
    let ok = chat
        .verify(verify("giulia.rossi@example.com"))
        .await?
        .into_inner();
    assert_eq!(ok.customer_name, "Giulia Rossi");
    assert_eq!(
        code(
            send(
                &mut chat,
                &anon.conversation_id,
                &anon.conversation_token,
                "old token"
            )
            .await
            .map(|_| ())
        ),
        Some(Code::PermissionDenied)
    );
    send(
        &mut chat,
        &anon.conversation_id,
        &ok.conversation_token,
        "new token",
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn an_angry_chat_reaches_an_agent_whose_reply_appears_in_the_thread() -> anyhow::Result<()> {
    let (server, _data) = chat_server("").await?;
    let channel = server.channel().await?;
    let mut chat = ChatClient::new(channel.clone());
    let token = shop_token("C100", 300, SHOP_KEY);
    let first = send(
        &mut chat,
        "",
        &token,
        "My order never arrived and nobody answers my emails, this is ridiculous!",
    )
    .await?;
    let cid = first.conversation_id.clone();
    let mut seen = read_until(&mut chat, &cid, &token, 0, turn_done).await?;
    for text in [
        "This is unacceptable, I am furious, your service is useless and terrible!",
        "I'm so angry, this is the worst experience ever, absolutely disgusting!",
    ] {
        if has(&seen, |e| matches!(e, Event::Handoff(_))) {
            break;
        }
        send(&mut chat, &cid, &token, text).await?;
        let last = seen.last().map(|e| e.id).unwrap_or(0);
        seen.extend(read_until(&mut chat, &cid, &token, last, turn_done).await?);
    }
    let ticket_id = handoff_ticket(&seen)?;
    // Nobody picks it up within 2 s: the customer is told honestly.
    let last = seen.last().map(|e| e.id).unwrap_or(0);
    let waited = read_until(&mut chat, &cid, &token, last, |s| {
        has(
            s,
            |e| matches!(e, Event::Notice(n) if n.kind == "no_agent_available"),
        )
    })
    .await?;
    seen.extend(waited);
    // The customer takes the notice's offer: the call-back request is acknowledged at once.
    let last = seen.last().map(|e| e.id).unwrap_or(0);
    send(
        &mut chat,
        &cid,
        &token,
        "Please call me back on +44 20 7946 0000",
    )
    .await?;
    let acked = read_until(&mut chat, &cid, &token, last, |s| {
        has(
            s,
            |e| matches!(e, Event::Notice(n) if n.kind == "callback_noted"),
        )
    })
    .await?;
    seen.extend(acked);

    let mut handoff = HandoffClient::new(channel.clone());
    let bad = handoff
        .agent_login(AgentLoginRequest {
            username: "anna".into(),
            password: "wrong".into(),
        })
        .await;
    assert_eq!(bad.err().map(|s| s.code()), Some(Code::Unauthenticated));
    assert_eq!(
        handoff
            .claim(ClaimRequest {
                ticket_id: ticket_id.clone(),
                agent_id: "anna".into()
            })
            .await
            .err()
            .map(|s| s.code()),
        Some(Code::Unauthenticated),
        "claim without a session"
    );
    let mut anna = Agent::login(channel.clone(), "anna").await?;
    let detail = anna.ticket(&ticket_id).await?;
    let context = detail.ticket.and_then(|t| t.context).expect("context");
    assert_eq!(context.customer_id, "C100");
    assert!(
        context.sentiment_history.len() >= 2 && context.sentiment_history.iter().all(|s| *s < 0.0),
        "{:?}",
        context.sentiment_history
    );
    assert!(!context.suggested_next_step.is_empty() && !context.summary.is_empty());
    // Replying before holding the ticket is refused.
    let early = anna.reply(&ticket_id, "hi").await;
    assert_eq!(
        early.err().map(|s| s.code()),
        Some(Code::FailedPrecondition)
    );
    anna.claim(&ticket_id).await?;
    let last = seen.last().map(|e| e.id).unwrap_or(0);
    let joined = read_until(&mut chat, &cid, &token, last, |s| {
        has(s, |e| matches!(e, Event::AgentJoined(_)))
    })
    .await?;
    assert!(has(
        &joined,
        |e| matches!(e, Event::AgentJoined(a) if a.agent_name == "Anna")
    ));
    seen.extend(joined);
    // The customer writes to the person; the agent sees it and answers.
    send(
        &mut chat,
        &cid,
        &token,
        "Finally a human. Where is my jacket?",
    )
    .await?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let d = anna.ticket(&ticket_id).await?;
        if d.messages
            .iter()
            .any(|m| m.speaker == "customer" && m.text.contains("jacket"))
        {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "customer message not in the agent's thread: {:?}",
            d.messages
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anna.reply(
        &ticket_id,
        "Hi Giulia, I'm Anna. I'm checking with the courier now.",
    )
    .await?;
    let last = seen.last().map(|e| e.id).unwrap_or(0);
    let reply = read_until(&mut chat, &cid, &token, last, |s| {
        has(s, |e| matches!(e, Event::AgentMessage(_)))
    })
    .await?;
    assert!(has(
        &reply,
        |e| matches!(e, Event::AgentMessage(m) if m.agent_name == "Anna" && m.text.contains("courier"))
    ));
    // Wrap-up goes to the CRM timeline; the chat is told it was closed.
    anna.release(&ticket_id, "replacement_sent", "courier lost the parcel")
        .await?;
    let interaction = CrmClient::new(channel.clone())
        .get_interaction(GetInteractionRequest {
            conversation_id: cid.clone(),
        })
        .await?
        .into_inner();
    assert!(
        interaction
            .turns
            .iter()
            .any(|t| t.speaker == "agent" && t.text.contains("courier lost the parcel")),
        "{interaction:?}"
    );
    assert_eq!(interaction.outcome, "replacement_sent");
    let last = reply.last().map(|e| e.id).unwrap_or(0);
    read_until(&mut chat, &cid, &token, last, |s| {
        has(s, |e| matches!(e, Event::Notice(n) if n.kind == "closed"))
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn a_chat_starts_with_yesterdays_call() -> anyhow::Result<()> {
    let (server, _data) = chat_server("").await?;
    let channel = server.channel().await?;
    CrmClient::new(channel.clone())
        .append_interaction(AppendInteractionRequest {
            conversation_id: "call-yesterday".into(),
            customer_id: "C100".into(),
            channel: Channel::Voice as i32,
            turn: Some(TimelineTurn { speaker: "customer".into(), text: "The jacket from order A1042 arrived with a torn sleeve.".into(), ..Default::default() }),
            summary: "Called about order A1042: the Breeze jacket arrived with a torn sleeve; a replacement was offered.".into(),
            outcome: String::new(),
        })
        .await?;
    let mut chat = ChatClient::new(channel);
    let token = shop_token("C100", 300, SHOP_KEY);
    let first = send(&mut chat, "", &token, "Hi again").await?;
    let events = read_until(&mut chat, &first.conversation_id, &token, 0, |s| {
        has(s, |e| matches!(e, Event::Notice(_)))
    })
    .await?;
    let notice = events
        .iter()
        .find_map(|e| match &e.event {
            Some(Event::Notice(n)) => Some(n.clone()),
            _ => None,
        })
        .expect("notice");
    assert_eq!(notice.kind, "previous_contact");
    assert!(notice.text.contains("torn sleeve"), "{notice:?}");
    // It comes before anything else of the chat.
    assert!(
        matches!(events[0].event, Some(Event::Notice(_))),
        "{events:?}"
    );
    Ok(())
}
