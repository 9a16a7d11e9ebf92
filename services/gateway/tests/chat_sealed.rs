//! The chat store with an encryption key: nothing the customer or an agent
//! wrote reaches `chat.db` or its write-ahead log in clear, everything reads
//! back, events stored before the key still read, and a wrong or missing key
//! is refused naming the setting.

use parla_gateway::chat::{ChatStore, Conversation, FieldCipher, SEAL_DOMAIN};
use parla_proto::v1::chat_event::Event;
use parla_proto::v1::reply_event::Event as Reply;
use parla_proto::v1::{AgentMessage, ChatEvent, ReplyEvent, ReplyFinal};

const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

/// Words that must never reach the disk in clear once a key is set.
const SECRETS: [&str; 5] = [
    "4111 1111 1111 1111",
    "IT60X0542811101000000123456",
    "giulia.rossi@example.com",
    "Anna Bianchi",
    "my jacket never arrived",
];

fn sealing(key: &str) -> FieldCipher {
    parla_seal::SealKey::from_hex(key, "crm.encryption_key")
        .unwrap()
        .cipher(SEAL_DOMAIN)
}

/// Which of `markers` the database file or its write-ahead log holds.
fn in_files(db: &std::path::Path, markers: &[&str]) -> Vec<String> {
    let wal = db.with_extension("db-wal");
    let bytes: Vec<u8> = [db, wal.as_path()]
        .iter()
        .flat_map(|p| std::fs::read(p).unwrap_or_default())
        .collect();
    markers
        .iter()
        .filter(|m| bytes.windows(m.len()).any(|w| w == m.as_bytes()))
        .map(|m| m.to_string())
        .collect()
}

fn conversation(id: &str) -> Conversation {
    Conversation {
        id: id.into(),
        owner: "C100".into(),
        customer_id: "C100".into(),
        language: "en".into(),
        ticket_id: String::new(),
        mode: "bot".into(),
    }
}

fn event(e: Event) -> ChatEvent {
    ChatEvent {
        event: Some(e),
        ..ChatEvent::default()
    }
}

#[test]
fn a_key_seals_every_event_on_disk_and_old_events_still_read() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("chat.db");
    {
        let store = ChatStore::open(&path, FieldCipher::plain())?;
        store.create(&conversation("before"))?;
        let said = event(Event::CustomerMessage("written in clear".into()));
        store.append("before", said, Some("client-old"))?;
    }
    let store = ChatStore::open(&path, sealing(KEY))?;
    store.create(&conversation("c1"))?;
    let customer = format!("{} card {} iban {}", SECRETS[4], SECRETS[0], SECRETS[1]);
    store.append(
        "c1",
        event(Event::CustomerMessage(customer.clone())),
        Some("m-1"),
    )?;
    let reply = ReplyEvent {
        event: Some(Reply::Final(ReplyFinal {
            text: format!("I will write to {}", SECRETS[2]),
            turn_index: 3,
            ..ReplyFinal::default()
        })),
    };
    store.append("c1", event(Event::Reply(reply)), None)?;
    let agent = AgentMessage {
        agent_name: SECRETS[3].into(),
        text: format!("checking card {}", SECRETS[0]),
    };
    store.append("c1", event(Event::AgentMessage(agent.clone())), None)?;

    assert_eq!(in_files(&path, &SECRETS), Vec::<String>::new());
    assert_eq!(
        in_files(&path, &["written in clear"]),
        ["written in clear"],
        "the search sees clear text (else it proves nothing)"
    );
    let read: Vec<Option<Event>> = store
        .after("c1", 0, 10)?
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert_eq!(read.len(), 3);
    assert_eq!(read[0], Some(Event::CustomerMessage(customer)));
    assert_eq!(read[2], Some(Event::AgentMessage(agent)));
    assert_eq!(store.last_reply_turn("c1")?, Some(3));
    assert_eq!(store.client_message("c1", "m-1")?, Some(1));
    assert_eq!(
        store.after("before", 0, 10)?[0].event,
        Some(Event::CustomerMessage("written in clear".into()))
    );
    assert_eq!(store.client_message("before", "client-old")?, Some(1));
    assert_eq!(store.forget_customer("C100")?, 2);
    Ok(())
}

#[test]
fn a_wrong_or_missing_key_is_refused_naming_the_setting() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("chat.db");
    ChatStore::open(&path, sealing(KEY))?.create(&conversation("c1"))?;
    let wrong = ChatStore::open(&path, sealing(&KEY.replace("00", "ff")))
        .err()
        .expect("a wrong key is refused")
        .to_string();
    assert!(
        wrong.contains("`crm.encryption_key`") && wrong.contains("not the key"),
        "{wrong}"
    );
    let missing = ChatStore::open(&path, FieldCipher::plain())
        .err()
        .expect("no key is refused")
        .to_string();
    assert!(
        missing.contains("`crm.encryption_key` is not set"),
        "{missing}"
    );
    Ok(())
}
