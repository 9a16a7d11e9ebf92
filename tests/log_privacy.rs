//! Logs hold no customer's or agent's words at any level below `trace`:
//! a chat runs through the real binary with `RUST_LOG=debug` (every crate,
//! ours and the libraries') — a customer gives a card number, an e-mail and
//! a marker word, asks for a person, an agent answers with a marker of
//! their own — and the whole log is searched for each of them.

mod chat_support;
mod common;

use chat_support::*;
use parla_proto::v1::chat_client::ChatClient;

/// Words only this test says.
const CUSTOMER_MARKER: &str = "QUOKKAZEBRA";
const AGENT_MARKER: &str = "PLATYPUSMANGO";
const CARD: &str = "4111 1111 1111 1111";
const EMAIL: &str = "wombat.quince@example.org";

#[tokio::test]
async fn a_chat_with_a_hand_off_leaves_no_words_in_a_debug_log() -> anyhow::Result<()> {
    let (server, _data) = chat_server_logged("", &[("RUST_LOG", "debug")]).await?;
    let channel = server.channel().await?;
    let mut chat = ChatClient::new(channel.clone());
    let token = shop_token("C100", 300, SHOP_KEY);

    let first = send(
        &mut chat,
        "",
        &token,
        &format!(
            "Hi, my card {CARD} was charged twice for order A1042, write to {EMAIL}, \
             reference {CUSTOMER_MARKER}."
        ),
    )
    .await?;
    let cid = first.conversation_id.clone();
    let seen = read_until(&mut chat, &cid, &token, 0, turn_done).await?;
    let after = seen.last().map(|e| e.id).unwrap_or(0);
    send(
        &mut chat,
        &cid,
        &token,
        &format!("I want to speak to a person about {CUSTOMER_MARKER}, please."),
    )
    .await?;
    let seen = read_until(&mut chat, &cid, &token, after, turn_done).await?;
    let ticket = handoff_ticket(&seen)?;
    let mut anna = Agent::login(channel, "anna").await?;
    anna.claim(&ticket).await?;
    anna.reply(
        &ticket,
        &format!("Hello, I am checking {AGENT_MARKER} now."),
    )
    .await?;
    let after = seen.last().map(|e| e.id).unwrap_or(after);
    read_until(&mut chat, &cid, &token, after, |s| {
        s.iter().any(|e| format!("{e:?}").contains(AGENT_MARKER))
    })
    .await?;

    let log = std::fs::read_to_string(server.log_path())?;
    let lines = log.lines().count();
    assert!(
        lines > 50 && log.contains("DEBUG"),
        "the log was written at debug level ({lines} lines)"
    );
    let card_digits = CARD.replace(' ', "");
    let leaks: Vec<&str> = log
        .lines()
        .filter(|l| {
            [
                CUSTOMER_MARKER,
                AGENT_MARKER,
                CARD,
                card_digits.as_str(),
                EMAIL,
            ]
            .iter()
            .any(|m| l.contains(m))
        })
        .collect();
    println!(
        "{lines} log lines at debug level, {} holding a customer's or agent's words",
        leaks.len()
    );
    assert!(leaks.is_empty(), "words in the log:\n{}", leaks.join("\n"));
    Ok(())
}
