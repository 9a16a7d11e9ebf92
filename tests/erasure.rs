//! The right to erasure reaches every store: a customer who chatted and
//! was handed to a person is erased through `Crm.EraseCustomer`, and the
//! hand-off ticket (with its context package and thread) and the chat
//! conversation (with its events) are gone too, through the real binary;
//! and gone from the files: no database or write-ahead log in the data
//! directory still holds the customer's words.

mod chat_support;
mod common;

use chat_support::*;
use parla_proto::v1::chat_client::ChatClient;
use parla_proto::v1::crm_client::CrmClient;
use parla_proto::v1::{
    ChatEventsRequest, EraseCustomerRequest, ExportCustomerRequest, ForgetCustomerRequest,
    ListTicketsRequest,
};
use tonic::Code;

#[tokio::test]
async fn erasing_a_customer_deletes_their_tickets_and_chats() -> anyhow::Result<()> {
    let (server, data) = chat_server("").await?;
    let channel = server.channel().await?;
    let mut chat = ChatClient::new(channel.clone());
    let token = shop_token("C100", 300, SHOP_KEY);
    // Another customer's chat must survive the erasure.
    let other_token = shop_token("C200", 300, SHOP_KEY);
    let other = send(&mut chat, "", &other_token, "Hello, where is my order?").await?;
    read_until(
        &mut chat,
        &other.conversation_id,
        &other_token,
        0,
        turn_done,
    )
    .await?;

    let first = send(
        &mut chat,
        "",
        &token,
        &format!("I want to speak to a person, please. My reference is {MARKER}."),
    )
    .await?;
    let cid = first.conversation_id.clone();
    let seen = read_until(&mut chat, &cid, &token, 0, turn_done).await?;
    let ticket_id = handoff_ticket(&seen)?;

    let mut sara = Agent::login(channel.clone(), "sara").await?;
    let before = sara.ticket(&ticket_id).await?;
    assert_eq!(
        before.ticket.and_then(|t| t.context).map(|c| c.customer_id),
        Some("C100".to_owned())
    );

    let before = common::files_holding(data.path(), MARKER.as_bytes());
    assert!(
        !before.is_empty(),
        "the customer's words are stored before erasure (else this check proves nothing)"
    );

    let mut crm = CrmClient::new(channel.clone());
    let erased = crm
        .erase_customer(EraseCustomerRequest {
            customer_id: "C100".into(),
            requested_by: "privacy@shop.example".into(),
        })
        .await?
        .into_inner();
    assert!(!erased.audit_id.is_empty());
    assert_eq!(
        erased.also_erased,
        ["hand-off queue: 1 ticket", "chat log: 1 conversation"],
        "{erased:?}"
    );

    let gone = sara.ticket(&ticket_id).await;
    assert_eq!(gone.err().map(|s| s.code()), Some(Code::NotFound));
    let listed = sara
        .console
        .list_tickets(sara.request(ListTicketsRequest::default()))
        .await?
        .into_inner();
    assert!(
        listed
            .tickets
            .iter()
            .all(|t| t.context.as_ref().is_some_and(|c| c.customer_id != "C100")),
        "{listed:?}"
    );
    let events = chat
        .events(ChatEventsRequest {
            conversation_id: cid,
            after_event_id: 0,
            customer_token: token,
            conversation_token: String::new(),
        })
        .await;
    assert_eq!(events.err().map(|s| s.code()), Some(Code::NotFound));
    // The other customer's conversation is untouched.
    let theirs = read_until(&mut chat, &other.conversation_id, &other_token, 0, |s| {
        finals(s) >= 1
    })
    .await?;
    assert!(finals(&theirs) >= 1);
    // The CRM export holds nothing personal any more, and the stores
    // answer a repeated request with nothing left to delete.
    let export = crm
        .export_customer(ExportCustomerRequest {
            customer_id: "C100".into(),
            requested_by: "privacy@shop.example".into(),
        })
        .await?
        .into_inner();
    assert!(!export.json.contains("Giulia"), "{}", export.json);
    let again = ChatClient::new(channel)
        .forget_customer(ForgetCustomerRequest {
            customer_id: "C100".into(),
        })
        .await?
        .into_inner();
    assert_eq!(again.removed, 0);
    // Nothing left on disk either: not in free pages, not in a WAL.
    let after = common::files_holding(data.path(), MARKER.as_bytes());
    println!("files holding the customer's words: before erasure {before:?}, after {after:?}");
    assert!(after.is_empty(), "still on disk after erasure: {after:?}");
    Ok(())
}

/// A word only this customer said.
const MARKER: &str = "QUOKKA-7731-ZEBRA";

#[tokio::test]
async fn with_an_encryption_key_no_store_holds_a_customers_words_in_clear() -> anyhow::Result<()> {
    let key = "5f".repeat(32);
    let (server, data) = chat_server(&format!("[crm]\nencryption_key = \"{key}\"")).await?;
    let mut chat = ChatClient::new(server.channel().await?);
    let token = shop_token("C100", 300, SHOP_KEY);
    let card = "4111 1111 1111 1111";
    let first = send(
        &mut chat,
        "",
        &token,
        &format!("My card {card} was charged twice, reference {MARKER}. I want a person."),
    )
    .await?;
    let seen = read_until(&mut chat, &first.conversation_id, &token, 0, turn_done).await?;
    handoff_ticket(&seen)?;
    // The conversation reads back whole through the API...
    assert!(format!("{seen:?}").contains(MARKER));
    // ...and no file of the data directory holds it in clear.
    let clear = common::files_holding(data.path(), MARKER.as_bytes());
    let card_files = common::files_holding(data.path(), card.as_bytes());
    let stores: Vec<String> = std::fs::read_dir(data.path())?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".db") || n.ends_with(".db-wal"))
        .collect();
    println!("stores {stores:?}; holding the marker in clear: {clear:?}, the card: {card_files:?}");
    assert!(
        stores.iter().any(|n| n.starts_with("chat.db"))
            && stores.iter().any(|n| n.starts_with("handoff.db"))
    );
    assert!(
        clear.is_empty() && card_files.is_empty(),
        "in clear: {clear:?} {card_files:?}"
    );
    Ok(())
}
