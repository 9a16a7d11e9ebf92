//! The SQLite ticket store on its own: the right to erasure removes exactly
//! one customer's tickets and threads, and a database written by the
//! previous schema is migrated so that its tickets can be erased too.

use parla_handoff::{SqliteTicketStore, TicketFilter, TicketState, TicketStore};
use parla_proto::v1::ContextPackage;
use prost::Message;

fn context(conversation_id: &str, customer_id: &str) -> ContextPackage {
    ContextPackage {
        conversation_id: conversation_id.to_owned(),
        language: "en".to_owned(),
        customer_id: customer_id.to_owned(),
        ..ContextPackage::default()
    }
}

fn conversations(store: &SqliteTicketStore) -> anyhow::Result<Vec<String>> {
    Ok(store
        .list(&TicketFilter::default())?
        .into_iter()
        .map(|t| t.context.conversation_id)
        .collect())
}

#[test]
fn forgetting_a_customer_removes_their_tickets_and_threads_only() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let store = SqliteTicketStore::open(&dir.path().join("handoff.db"))?;
    let first = store.insert(&context("c1", "C100"), "")?;
    store.insert(&context("c2", "C200"), "")?;
    let second = store.insert(&context("c3", "C100"), "")?;
    store.insert(&context("c4", ""), "")?;
    store.add_message(&first.id, "customer", ("", ""), "where is my jacket")?;
    store.add_message(&second.id, "agent", ("anna", "Anna"), "checking now")?;

    assert_eq!(
        store.forget_customer("")?,
        0,
        "anonymous tickets are nobody's"
    );
    assert_eq!(store.forget_customer("C100")?, 2);
    assert_eq!(conversations(&store)?, ["c2", "c4"]);
    assert!(store.get(&first.id)?.is_none());
    assert!(store.messages(&first.id)?.is_empty());
    assert!(store.messages(&second.id)?.is_empty());
    assert_eq!(store.forget_customer("C100")?, 0);
    Ok(())
}

#[test]
fn tickets_stored_before_the_customer_column_can_be_forgotten() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("handoff.db");
    {
        // The schema as version 2 left it, with one ticket and its thread.
        let conn = rusqlite::Connection::open(&path)?;
        conn.execute_batch(
            "CREATE TABLE tickets (
                seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
                state TEXT NOT NULL, conversation_id TEXT NOT NULL, language TEXT NOT NULL,
                skill TEXT NOT NULL, agent_id TEXT, context BLOB NOT NULL,
                created_at_ms INTEGER NOT NULL);
             CREATE TABLE agent_messages (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                ticket_id TEXT NOT NULL REFERENCES tickets(id), agent_id TEXT NOT NULL,
                text TEXT NOT NULL, at_ms INTEGER NOT NULL,
                speaker TEXT NOT NULL DEFAULT 'agent', agent_name TEXT NOT NULL DEFAULT '');
             PRAGMA user_version = 2;",
        )?;
        for (id, conversation, customer) in
            [("T000001", "old1", "C100"), ("T000002", "old2", "C200")]
        {
            conn.execute(
                "INSERT INTO tickets (id, state, conversation_id, language, skill, context,
                                      created_at_ms)
                 VALUES (?1, 'waiting', ?2, 'en', '', ?3, 0)",
                rusqlite::params![
                    id,
                    conversation,
                    context(conversation, customer).encode_to_vec()
                ],
            )?;
        }
        conn.execute(
            "INSERT INTO agent_messages (ticket_id, agent_id, text, at_ms, speaker)
             VALUES ('T000001', '', 'hello', 0, 'customer')",
            [],
        )?;
    }
    let store = SqliteTicketStore::open(&path)?;
    let new = store.insert(&context("new", "C100"), "")?;
    assert_eq!(new.id, "T000003");
    assert_eq!(store.forget_customer("C100")?, 2);
    assert_eq!(conversations(&store)?, ["old2"]);
    assert!(store.messages("T000001")?.is_empty());
    Ok(())
}

#[test]
fn escalating_a_conversation_twice_gives_its_open_ticket() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let store = std::sync::Arc::new(SqliteTicketStore::open(&dir.path().join("handoff.db"))?);
    let (first, new) = store.open_or_insert(&context("c1", "C100"), "")?;
    assert!(new);
    // Again, and from eight threads at once: still the one ticket.
    let again: Vec<(String, bool)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let store = store.clone();
                scope.spawn(move || {
                    let (t, new) = store.open_or_insert(&context("c1", "C100"), "").unwrap();
                    (t.id, new)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(
        again.iter().all(|(id, new)| *id == first.id && !new),
        "{again:?}"
    );
    assert_eq!(conversations(&store)?, ["c1"]);
    // Claimed is still open.
    store.transition(
        &first.id,
        &[TicketState::Waiting],
        TicketState::Claimed,
        Some("anna"),
    )?;
    assert_eq!(
        store.open_or_insert(&context("c1", "C100"), "")?.0.id,
        first.id
    );
    // Once handed back, the conversation may be escalated anew.
    store.transition(
        &first.id,
        &[TicketState::Claimed],
        TicketState::Returned,
        Some("anna"),
    )?;
    let (later, new) = store.open_or_insert(&context("c1", "C100"), "")?;
    assert!(new && later.id != first.id);
    // Concurrent escalations of different conversations all get tickets.
    let ids: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let store = store.clone();
                scope.spawn(move || {
                    store
                        .open_or_insert(&context(&format!("d{i}"), ""), "")
                        .unwrap()
                        .0
                        .id
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let distinct: std::collections::BTreeSet<_> = ids.iter().collect();
    assert_eq!(distinct.len(), 4);
    Ok(())
}

/// Words that must never reach the disk in clear once a key is set.
const SECRETS: [&str; 4] = [
    "4111 1111 1111 1111",
    "giulia.rossi@example.com",
    "Giulia Rossi",
    "my jacket never arrived",
];

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

fn sealing(key: &str) -> parla_handoff::FieldCipher {
    parla_seal::SealKey::from_hex(key, "crm.encryption_key")
        .unwrap()
        .cipher(parla_handoff::SEAL_DOMAIN)
}

const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

#[test]
fn a_key_seals_context_and_thread_on_disk_and_old_rows_still_read() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("handoff.db");
    // Written before the key was configured.
    let old = {
        let store = SqliteTicketStore::open(&path)?;
        let t = store.insert(&context("before", "C100"), "")?;
        store.add_message(&t.id, "customer", ("", ""), "written in clear")?;
        t
    };
    let store = SqliteTicketStore::open_sealed(&path, sealing(KEY))?;
    let mut ctx = context("c1", "C100");
    ctx.customer_name = SECRETS[2].into();
    ctx.summary = format!("card {} e-mail {}", SECRETS[0], SECRETS[1]);
    ctx.transcript = vec![format!("customer: {}", SECRETS[3])];
    let t = store.insert(&ctx, "")?;
    store.add_message(&t.id, "customer", ("", ""), SECRETS[3])?;
    store.add_message(&t.id, "agent", ("anna", SECRETS[2]), SECRETS[0])?;

    assert_eq!(in_files(&path, &SECRETS), Vec::<String>::new());
    assert_eq!(
        in_files(&path, &["written in clear"]),
        ["written in clear"],
        "the search sees clear text (else it proves nothing)"
    );
    assert_eq!(store.get(&t.id)?.unwrap().context, ctx);
    let thread = store.messages(&t.id)?;
    assert_eq!(thread[0].text, SECRETS[3]);
    assert_eq!(
        (thread[1].agent_name.as_str(), thread[1].text.as_str()),
        (SECRETS[2], SECRETS[0])
    );
    assert_eq!(
        store.get(&old.id)?.unwrap().context,
        context("before", "C100")
    );
    assert_eq!(store.messages(&old.id)?[0].text, "written in clear");
    assert_eq!(
        store.forget_customer("C100")?,
        2,
        "erasure still finds sealed tickets"
    );
    Ok(())
}

#[test]
fn a_wrong_or_missing_key_is_refused_naming_the_setting() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("handoff.db");
    SqliteTicketStore::open_sealed(&path, sealing(KEY))?.insert(&context("c1", "C1"), "")?;
    let wrong = SqliteTicketStore::open_sealed(&path, sealing(&KEY.replace("00", "ff")))
        .err()
        .expect("a wrong key is refused")
        .to_string();
    assert!(
        wrong.contains("`crm.encryption_key`") && wrong.contains("not the key"),
        "{wrong}"
    );
    let missing = SqliteTicketStore::open(&path)
        .err()
        .expect("no key is refused")
        .to_string();
    assert!(
        missing.contains("`crm.encryption_key` is not set"),
        "{missing}"
    );
    Ok(())
}
