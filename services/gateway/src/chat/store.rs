//! Where chats live: conversations (owner, customer, language, hand-off
//! ticket) and each conversation's events, numbered 1, 2, 3… so a client
//! resumes after the last id it saw. SQLite, WAL; every append commits and
//! is then announced to live streams under the same lock, so live order is
//! id order.
//!
//! With an encryption key, every event body (the customer's and agents'
//! words, replies, notices) is sealed by [`FieldCipher`] under the chat
//! store's own subkeys ([`SEAL_DOMAIN`]), and client message ids are kept
//! as keyed hashes. Ids, owners, modes, languages and times stay in clear:
//! the store selects by them. Rows written before the key was set still
//! read.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use parla_proto::v1::ChatEvent;
use parla_seal::FieldCipher;
use prost::Message;
use rusqlite::{params, Connection, OptionalExtension};
use tokio::sync::broadcast;

/// The name the chat store's subkeys are derived under. Changing it would
/// make every sealed event unreadable.
pub const SEAL_DOMAIN: &str = "parla-chat";

/// What can go wrong in the chat store.
#[derive(Debug, thiserror::Error)]
pub enum ChatStoreError {
    /// The database failed.
    #[error("chat database error: {0}")]
    Database(#[from] rusqlite::Error),
    /// A stored event cannot be decoded.
    #[error("chat database holds an unreadable event: {0}")]
    Corrupt(String),
    /// The directory cannot be created.
    #[error("cannot create {0}")]
    Io(String),
    /// A sealed event cannot be opened (missing or wrong key) or sealed.
    #[error("chat database: {0}")]
    Sealed(#[from] parla_seal::SealError),
}

/// A chat conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct Conversation {
    /// Conversation id.
    pub id: String,
    /// Who may read and write it: a customer id, or `anon:…`.
    pub owner: String,
    /// The verified CRM customer id (empty while anonymous).
    pub customer_id: String,
    /// Language of the chat.
    pub language: String,
    /// Hand-off ticket, once handed off.
    pub ticket_id: String,
    /// "bot", "waiting", "agent" or "closed".
    pub mode: String,
}

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS conversations (
        id TEXT PRIMARY KEY, owner TEXT NOT NULL, customer_id TEXT NOT NULL,
        language TEXT NOT NULL, ticket_id TEXT NOT NULL DEFAULT '',
        mode TEXT NOT NULL DEFAULT 'bot', created_at_ms INTEGER NOT NULL);
    CREATE INDEX IF NOT EXISTS conversations_ticket ON conversations(ticket_id);
    CREATE TABLE IF NOT EXISTS events (
        conversation_id TEXT NOT NULL, id INTEGER NOT NULL, body BLOB NOT NULL,
        PRIMARY KEY (conversation_id, id)) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS client_messages (
        conversation_id TEXT NOT NULL, client_message_id TEXT NOT NULL,
        event_id INTEGER NOT NULL, PRIMARY KEY (conversation_id, client_message_id)) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS key_check (id INTEGER PRIMARY KEY CHECK (id = 1), value TEXT NOT NULL);";

/// Conversations and their events in a SQLite file, with live fan-out.
pub struct ChatStore {
    conn: Mutex<Connection>,
    cipher: FieldCipher,
    live: Mutex<HashMap<String, broadcast::Sender<ChatEvent>>>,
}

impl ChatStore {
    /// Opens (creating if needed) the file; new events are sealed with
    /// `cipher` (a cipher for [`SEAL_DOMAIN`], or a plain one). Fails,
    /// naming the key setting, when the file was sealed with another key or
    /// holds sealed events and no key is given.
    pub fn open(path: &Path, cipher: FieldCipher) -> Result<Self, ChatStoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| ChatStoreError::Io(format!("{}: {e}", dir.display())))?;
        }
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        // Deleted messages are zeroed in the file, not left in free pages.
        conn.pragma_update(None, "secure_delete", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        let check: Option<String> = conn
            .query_row("SELECT value FROM key_check WHERE id = 1", [], |r| r.get(0))
            .optional()?;
        if let Some(new) = cipher.check_key(check.as_deref())? {
            conn.execute("INSERT INTO key_check (id, value) VALUES (1, ?1)", [new])?;
        }
        Ok(Self {
            conn: Mutex::new(conn),
            cipher,
            live: Mutex::new(HashMap::new()),
        })
    }

    /// An event as stored (sealed or, from before a key, plain).
    fn decode(&self, body: Vec<u8>) -> Result<ChatEvent, ChatStoreError> {
        ChatEvent::decode(self.cipher.open_bytes(body)?.as_slice())
            .map_err(|e| ChatStoreError::Corrupt(e.to_string()))
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Live events of a conversation from now on.
    pub fn subscribe(&self, conversation_id: &str) -> broadcast::Receiver<ChatEvent> {
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        live.entry(conversation_id.to_owned())
            .or_insert_with(|| broadcast::channel(512).0)
            .subscribe()
    }

    /// Creates a conversation.
    pub fn create(&self, c: &Conversation) -> Result<(), ChatStoreError> {
        self.conn().execute(
            "INSERT INTO conversations (id, owner, customer_id, language, ticket_id, mode, created_at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![c.id, c.owner, c.customer_id, c.language, c.ticket_id, c.mode, now_ms()],
        )?;
        Ok(())
    }

    /// The conversation with this id.
    pub fn get(&self, id: &str) -> Result<Option<Conversation>, ChatStoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT id, owner, customer_id, language, ticket_id, mode FROM conversations WHERE id = ?1",
                [id],
                row,
            )
            .optional()?)
    }

    /// The conversation handed off with this ticket.
    pub fn by_ticket(&self, ticket_id: &str) -> Result<Option<Conversation>, ChatStoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT id, owner, customer_id, language, ticket_id, mode FROM conversations WHERE ticket_id = ?1",
                [ticket_id],
                row,
            )
            .optional()?)
    }

    /// Updates owner, customer, ticket and mode.
    pub fn update(&self, c: &Conversation) -> Result<(), ChatStoreError> {
        self.conn().execute(
            "UPDATE conversations SET owner = ?2, customer_id = ?3, ticket_id = ?4, mode = ?5, language = ?6 WHERE id = ?1",
            params![c.id, c.owner, c.customer_id, c.ticket_id, c.mode, c.language],
        )?;
        Ok(())
    }

    /// The event id already stored for a client message id (kept as its
    /// keyed hash with a key, as itself in rows from before one).
    pub fn client_message(
        &self,
        cid: &str,
        client_id: &str,
    ) -> Result<Option<u64>, ChatStoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT event_id FROM client_messages WHERE conversation_id = ?1
                 AND client_message_id IN (?2, ?3) LIMIT 1",
                [cid, &self.cipher.index(client_id), client_id],
                |r| r.get::<_, i64>(0),
            )
            .optional()?
            .map(|v| v as u64))
    }

    /// Appends an event (its id and time are set here), records the client
    /// message id if given, commits, then announces it.
    pub fn append(
        &self,
        conversation_id: &str,
        mut event: ChatEvent,
        client_message_id: Option<&str>,
    ) -> Result<ChatEvent, ChatStoreError> {
        let conn = self.conn();
        let tx = conn.unchecked_transaction()?;
        let id: i64 = tx.query_row(
            "SELECT COALESCE(MAX(id), 0) + 1 FROM events WHERE conversation_id = ?1",
            [conversation_id],
            |r| r.get(0),
        )?;
        let ms = now_ms();
        event.id = id as u64;
        event.at = Some(prost_types::Timestamp {
            seconds: ms.div_euclid(1000),
            nanos: (ms.rem_euclid(1000) * 1_000_000) as i32,
        });
        tx.execute(
            "INSERT INTO events (conversation_id, id, body) VALUES (?1, ?2, ?3)",
            params![
                conversation_id,
                id,
                self.cipher.seal_bytes(&event.encode_to_vec())?
            ],
        )?;
        if let Some(client_id) = client_message_id.filter(|c| !c.is_empty()) {
            tx.execute(
                "INSERT INTO client_messages (conversation_id, client_message_id, event_id) VALUES (?1, ?2, ?3)",
                params![conversation_id, self.cipher.index(client_id), id],
            )?;
        }
        tx.commit()?;
        // Announced while the connection lock is held: live order = id order.
        let live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = live.get(conversation_id) {
            let _ = tx.send(event.clone());
        }
        Ok(event)
    }

    /// Events after `after`, in order (at most `limit`).
    pub fn after(
        &self,
        conversation_id: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<ChatEvent>, ChatStoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT body FROM events WHERE conversation_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![conversation_id, after as i64, limit as i64], |r| {
            r.get::<_, Vec<u8>>(0)
        })?;
        rows.map(|b| self.decode(b?)).collect()
    }

    /// Deletes every conversation of `customer_id` (theirs by token or by
    /// verification) with all its events; how many.
    pub fn forget_customer(&self, customer_id: &str) -> Result<u32, ChatStoreError> {
        if customer_id.is_empty() {
            return Ok(0);
        }
        let conn = self.conn();
        let tx = conn.unchecked_transaction()?;
        let ids: Vec<String> = tx
            .prepare("SELECT id FROM conversations WHERE customer_id = ?1 OR owner = ?1")?
            .query_map([customer_id], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        for id in &ids {
            tx.execute("DELETE FROM events WHERE conversation_id = ?1", [id])?;
            tx.execute(
                "DELETE FROM client_messages WHERE conversation_id = ?1",
                [id],
            )?;
            tx.execute("DELETE FROM conversations WHERE id = ?1", [id])?;
        }
        tx.commit()?;
        // The write-ahead log still holds the deleted pages: empty it.
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        for id in &ids {
            live.remove(id);
        }
        Ok(ids.len() as u32)
    }

    /// Conversations with Parla whose last customer message, sent since `since_ms`, has no
    /// complete reply after it (the server stopped while the turn was on its way), each with
    /// that message's text. Conversations created more than a week before `since_ms` are not
    /// looked at.
    pub fn unanswered(&self, since_ms: i64) -> Result<Vec<(Conversation, String)>, ChatStoreError> {
        use parla_proto::v1::chat_event::Event;
        use parla_proto::v1::reply_event::Event as Reply;
        const WEEK_MS: i64 = 7 * 24 * 3600 * 1000;
        let conn = self.conn();
        let bots: Vec<Conversation> = conn
            .prepare(
                "SELECT id, owner, customer_id, language, ticket_id, mode FROM conversations \
                 WHERE mode = 'bot' AND created_at_ms >= ?1",
            )?
            .query_map([since_ms - WEEK_MS], row)?
            .collect::<Result<_, _>>()?;
        let mut latest = conn.prepare_cached(
            "SELECT body FROM events WHERE conversation_id = ?1 ORDER BY id DESC LIMIT 50",
        )?;
        let mut out = Vec::new();
        for c in bots {
            let bodies: Vec<Vec<u8>> = latest
                .query_map([&c.id], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            for body in bodies {
                let e = self.decode(body)?;
                match e.event {
                    Some(Event::CustomerMessage(text)) => {
                        let at = e.at.map_or(0, |t| t.seconds * 1000);
                        if at >= since_ms {
                            out.push((c.clone(), text));
                        }
                        break;
                    }
                    // Answered, or told honestly that it failed (the customer sends again).
                    Some(Event::Reply(r)) if matches!(r.event, Some(Reply::Final(_))) => break,
                    Some(Event::Notice(_)) | Some(Event::Handoff(_)) => break,
                    _ => {}
                }
            }
        }
        Ok(out)
    }

    /// The turn number of the last reply stored in a conversation (its last final).
    pub fn last_reply_turn(&self, conversation_id: &str) -> Result<Option<u32>, ChatStoreError> {
        use parla_proto::v1::chat_event::Event;
        use parla_proto::v1::reply_event::Event as Reply;
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT body FROM events WHERE conversation_id = ?1 ORDER BY id DESC",
        )?;
        let mut rows = stmt.query([conversation_id])?;
        while let Some(row) = rows.next()? {
            let body: Vec<u8> = row.get(0)?;
            let e = self.decode(body)?;
            if let Some(Event::Reply(r)) = e.event {
                if let Some(Reply::Final(f)) = r.event {
                    return Ok(Some(f.turn_index));
                }
            }
        }
        Ok(None)
    }

    /// Drops live channels nobody listens to.
    pub fn prune_live(&self) {
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        live.retain(|_, tx| tx.receiver_count() > 0);
    }
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Conversation> {
    Ok(Conversation {
        id: r.get(0)?,
        owner: r.get(1)?,
        customer_id: r.get(2)?,
        language: r.get(3)?,
        ticket_id: r.get(4)?,
        mode: r.get(5)?,
    })
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use parla_proto::v1::chat_event::Event;
    use parla_proto::v1::reply_event::Event as Reply;
    use parla_proto::v1::{ReplyEvent, ReplyFinal};

    fn conv(id: &str, mode: &str) -> Conversation {
        Conversation {
            id: id.into(),
            owner: "anon:x".into(),
            customer_id: String::new(),
            language: "en".into(),
            ticket_id: String::new(),
            mode: mode.into(),
        }
    }

    fn ev(e: Event) -> ChatEvent {
        ChatEvent {
            event: Some(e),
            ..ChatEvent::default()
        }
    }

    #[test]
    fn a_message_without_a_complete_reply_is_found_again() {
        let dir = std::env::temp_dir().join(format!(
            "parla-chat-store-{}-{}",
            std::process::id(),
            now_ms()
        ));
        let store = ChatStore::open(&dir.join("chat.db"), FieldCipher::plain()).unwrap();
        let said = |id: &str, text: &str| {
            store
                .append(id, ev(Event::CustomerMessage(text.into())), None)
                .unwrap();
        };
        for (id, mode) in [
            ("answered", "bot"),
            ("cut", "bot"),
            ("waiting", "bot"),
            ("agent", "agent"),
        ] {
            store.create(&conv(id, mode)).unwrap();
        }
        said("answered", "hello");
        let fin = ReplyEvent {
            event: Some(Reply::Final(ReplyFinal::default())),
        };
        store
            .append("answered", ev(Event::Reply(fin)), None)
            .unwrap();
        said("cut", "where is my order?");
        store.append("cut", ev(Event::Typing(true)), None).unwrap();
        let delta = ReplyEvent {
            event: Some(Reply::Delta(Default::default())),
        };
        store.append("cut", ev(Event::Reply(delta)), None).unwrap();
        said("waiting", "hi");
        said("agent", "are you there?");
        let found = store.unanswered(now_ms() - 60_000).unwrap();
        let mut ids: Vec<(&str, &str)> = found
            .iter()
            .map(|(c, t)| (c.id.as_str(), t.as_str()))
            .collect();
        ids.sort();
        assert_eq!(ids, [("cut", "where is my order?"), ("waiting", "hi")]);
        // Older than the window: left alone.
        assert!(store.unanswered(now_ms() + 60_000).unwrap().is_empty());
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
