//! Where tickets live: the [`TicketStore`] trait and its SQLite
//! implementation (one file, WAL mode, versioned schema). Store calls are
//! blocking; the queue runs them off the async runtime.
//!
//! With an encryption key, what holds the customer's and the agents' words
//! (the context package, message texts, agent display names) is sealed by
//! [`FieldCipher`] under the queue's own subkeys ([`SEAL_DOMAIN`]); ids, states,
//! languages, skills and times stay in clear because the queue selects by
//! them. Rows written before the key was set still read.

use std::path::Path;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use parla_proto::v1::ContextPackage;
use parla_seal::FieldCipher;
use prost::Message;
use rusqlite::{params, Connection, OptionalExtension};

/// The name the hand-off queue's subkeys are derived under. Changing it
/// would make every sealed ticket unreadable.
pub const SEAL_DOMAIN: &str = "parla-handoff";

/// Where a ticket stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketState {
    /// Waiting for an agent.
    Waiting,
    /// An agent holds it.
    Claimed,
    /// Handed back to Parla.
    Returned,
    /// Closed by the agent.
    Closed,
}

impl TicketState {
    fn as_str(self) -> &'static str {
        match self {
            TicketState::Waiting => "waiting",
            TicketState::Claimed => "claimed",
            TicketState::Returned => "returned",
            TicketState::Closed => "closed",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        Ok(match s {
            "waiting" => TicketState::Waiting,
            "claimed" => TicketState::Claimed,
            "returned" => TicketState::Returned,
            "closed" => TicketState::Closed,
            other => {
                return Err(StoreError::Corrupt(format!(
                    "unknown ticket state {other:?}"
                )))
            }
        })
    }
}

/// A conversation in the queue.
#[derive(Debug, Clone, PartialEq)]
pub struct Ticket {
    /// Ticket id (`T` and a number).
    pub id: String,
    /// Where it stands.
    pub state: TicketState,
    /// The context handed over with the conversation.
    pub context: ContextPackage,
    /// Agent holding it, when claimed.
    pub agent_id: Option<String>,
    /// Skill needed, empty for any agent.
    pub skill: String,
    /// When it entered the queue, in milliseconds since the Unix epoch.
    pub created_at_ms: i64,
}

/// A message in a handed-off conversation's thread.
#[derive(Debug, Clone, PartialEq)]
pub struct TicketMessage {
    /// Message id (`M` and a number).
    pub id: String,
    /// Ticket id.
    pub ticket_id: String,
    /// "customer", "agent", or "parla" (a call-back note).
    pub speaker: String,
    /// Agent id, for agent messages.
    pub agent_id: String,
    /// Agent's display name, for agent messages.
    pub agent_name: String,
    /// Text.
    pub text: String,
    /// When, in milliseconds since the Unix epoch.
    pub at_ms: i64,
}

/// Which tickets to list.
#[derive(Debug, Clone, Default)]
pub struct TicketFilter {
    /// Only tickets in this state.
    pub state: Option<TicketState>,
    /// Only tickets in this language.
    pub language: Option<String>,
    /// Only tickets needing this skill.
    pub skill: Option<String>,
}

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed (locked, unreachable, full).
    #[error("hand-off database error: {0}")]
    Database(#[from] rusqlite::Error),
    /// A stored row cannot be read back.
    #[error("hand-off database holds an unreadable row: {0}")]
    Corrupt(String),
    /// A sealed field cannot be opened (missing or wrong key) or sealed.
    #[error("hand-off database: {0}")]
    Sealed(#[from] parla_seal::SealError),
}

/// Durable storage of tickets and agent messages.
pub trait TicketStore: Send + Sync + 'static {
    /// Stores a new waiting ticket and returns it.
    fn insert(&self, context: &ContextPackage, skill: &str) -> Result<Ticket, StoreError>;
    /// The conversation's open (waiting or claimed) ticket, or a new one:
    /// escalating a conversation twice never makes two tickets. True when
    /// the ticket is new.
    fn open_or_insert(
        &self,
        context: &ContextPackage,
        skill: &str,
    ) -> Result<(Ticket, bool), StoreError>;
    /// The ticket with this id.
    fn get(&self, id: &str) -> Result<Option<Ticket>, StoreError>;
    /// Tickets matching the filter, oldest first.
    fn list(&self, filter: &TicketFilter) -> Result<Vec<Ticket>, StoreError>;
    /// Sets state and agent of a ticket, if its current state is one of
    /// `from`; returns the updated ticket, or `None` when it was not.
    fn transition(
        &self,
        id: &str,
        from: &[TicketState],
        to: TicketState,
        agent_id: Option<&str>,
    ) -> Result<Option<Ticket>, StoreError>;
    /// Stores a message of the ticket's thread (`speaker` "agent" or
    /// "customer").
    fn add_message(
        &self,
        ticket_id: &str,
        speaker: &str,
        agent: (&str, &str),
        text: &str,
    ) -> Result<TicketMessage, StoreError>;
    /// The ticket's thread, oldest first.
    fn messages(&self, ticket_id: &str) -> Result<Vec<TicketMessage>, StoreError>;
    /// How many tickets `agent_id` holds now.
    fn held_count(&self, agent_id: &str) -> Result<u32, StoreError>;
    /// Deletes every ticket about `customer_id` with its thread; how many.
    fn forget_customer(&self, customer_id: &str) -> Result<u32, StoreError>;
}

/// Schema versions, applied in order; the `user_version` pragma records
/// how many have run. A version may end with a step in code, for what SQL
/// cannot do (reading the context packages).
const MIGRATIONS: [(&str, Option<Backfill>); 4] = [
    (
        "CREATE TABLE tickets (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        state TEXT NOT NULL,
        conversation_id TEXT NOT NULL,
        language TEXT NOT NULL,
        skill TEXT NOT NULL,
        agent_id TEXT,
        context BLOB NOT NULL,
        created_at_ms INTEGER NOT NULL
    );
    CREATE INDEX tickets_state ON tickets(state);
    CREATE TABLE agent_messages (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        ticket_id TEXT NOT NULL REFERENCES tickets(id),
        agent_id TEXT NOT NULL,
        text TEXT NOT NULL,
        at_ms INTEGER NOT NULL
    );",
        None,
    ),
    // Session 2: customer messages in the thread, agent display names.
    (
        "ALTER TABLE agent_messages ADD COLUMN speaker TEXT NOT NULL DEFAULT 'agent';
     ALTER TABLE agent_messages ADD COLUMN agent_name TEXT NOT NULL DEFAULT '';
     CREATE INDEX agent_messages_ticket ON agent_messages(ticket_id);
     CREATE INDEX tickets_agent ON tickets(agent_id, state);",
        None,
    ),
    // The customer beside the context package, so that an erasure finds
    // their tickets by index instead of decoding every ticket.
    (
        "ALTER TABLE tickets ADD COLUMN customer_id TEXT;
     CREATE INDEX tickets_customer ON tickets(customer_id);",
        Some(fill_customer_ids),
    ),
    // The encryption key's check (see `FieldCipher::check_key`): one row
    // once a key has been used.
    (
        "CREATE TABLE key_check (id INTEGER PRIMARY KEY CHECK (id = 1), value TEXT NOT NULL);",
        None,
    ),
];

/// A migration's step in code, run in its transaction.
type Backfill = fn(&Connection) -> Result<(), StoreError>;

/// Copies each older ticket's customer id out of its context package.
fn fill_customer_ids(conn: &Connection) -> Result<(), StoreError> {
    // Read first, then write: SQLite does not promise what a scan sees of
    // rows the same connection changes under it.
    let mut owners = Vec::new();
    let mut stmt = conn.prepare("SELECT id, context FROM tickets WHERE customer_id IS NULL")?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let id: String = row.get(0)?;
        let customer_id = decode_context(&id, &row.get::<_, Vec<u8>>(1)?)?.customer_id;
        owners.push((id, customer_id));
    }
    let mut update = conn.prepare("UPDATE tickets SET customer_id = ?2 WHERE id = ?1")?;
    for (id, customer_id) in owners {
        update.execute(params![id, customer_id])?;
    }
    Ok(())
}

/// Tickets in a SQLite file.
pub struct SqliteTicketStore {
    conn: Mutex<Connection>,
    cipher: FieldCipher,
    /// Held across an escalation's look-up and insert, so two escalations
    /// of one conversation cannot both insert.
    escalating: Mutex<()>,
}

impl SqliteTicketStore {
    /// Opens (creating if needed) the file and brings its schema up to
    /// date; new rows are stored unencrypted.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_sealed(path, FieldCipher::plain())
    }

    /// Opens the file as [`SqliteTicketStore::open`] does, sealing new rows
    /// with `cipher` (a cipher for [`SEAL_DOMAIN`]). Fails, naming the key
    /// setting, when the file was sealed with another key or holds sealed
    /// rows and no key is given.
    pub fn open_sealed(path: &Path, cipher: FieldCipher) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Corrupt(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        // Deleted tickets are zeroed in the file, not left in free pages.
        conn.pragma_update(None, "secure_delete", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let version: usize = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        for (i, (migration, backfill)) in MIGRATIONS.iter().enumerate().skip(version) {
            let tx = conn.unchecked_transaction()?;
            tx.execute_batch(migration)?;
            if let Some(backfill) = backfill {
                backfill(&tx)?;
            }
            tx.pragma_update(None, "user_version", i + 1)?;
            tx.commit()?;
            tracing::info!(version = i + 1, "hand-off schema migrated");
        }
        let check: Option<String> = conn
            .query_row("SELECT value FROM key_check WHERE id = 1", [], |r| r.get(0))
            .optional()?;
        if let Some(new) = cipher.check_key(check.as_deref())? {
            conn.execute("INSERT INTO key_check (id, value) VALUES (1, ?1)", [new])?;
        }
        Ok(Self {
            conn: Mutex::new(conn),
            cipher,
            escalating: Mutex::new(()),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite half-written
        // (statements are atomic), so a poisoned lock is still usable.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}

const COLUMNS: &str = "id, state, agent_id, skill, context, created_at_ms";

/// A ticket row as stored, in `COLUMNS` order.
type TicketRow = (String, String, Option<String>, String, Vec<u8>, i64);

fn row_to_ticket(row: &rusqlite::Row<'_>) -> rusqlite::Result<TicketRow> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
    ))
}

fn ticket(cipher: &FieldCipher, row: TicketRow) -> Result<Ticket, StoreError> {
    let (id, state, agent_id, skill, context, created_at_ms) = row;
    Ok(Ticket {
        state: TicketState::parse(&state)?,
        context: decode_context(&id, &cipher.open_bytes(context)?)?,
        id,
        agent_id,
        skill,
        created_at_ms,
    })
}

fn decode_context(ticket_id: &str, context: &[u8]) -> Result<ContextPackage, StoreError> {
    ContextPackage::decode(context)
        .map_err(|e| StoreError::Corrupt(format!("ticket {ticket_id}: {e}")))
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl TicketStore for SqliteTicketStore {
    fn open_or_insert(
        &self,
        context: &ContextPackage,
        skill: &str,
    ) -> Result<(Ticket, bool), StoreError> {
        let _one_at_a_time = self.escalating.lock().unwrap_or_else(|p| p.into_inner());
        let open: Option<String> = {
            let conn = self.conn();
            conn.query_row(
                "SELECT id FROM tickets WHERE conversation_id = ?1
                 AND state IN ('waiting', 'claimed') ORDER BY seq LIMIT 1",
                [&context.conversation_id],
                |r| r.get(0),
            )
            .optional()?
        };
        if let Some(ticket) = open.map(|id| self.get(&id)).transpose()?.flatten() {
            return Ok((ticket, false));
        }
        Ok((self.insert(context, skill)?, true))
    }

    fn insert(&self, context: &ContextPackage, skill: &str) -> Result<Ticket, StoreError> {
        let conn = self.conn();
        let tx = conn.unchecked_transaction()?;
        // The sequence, not MAX(seq): ids of deleted tickets are never reused.
        let seq: i64 = tx.query_row(
            "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'tickets'), 0) + 1",
            [],
            |r| r.get(0),
        )?;
        let id = format!("T{seq:06}");
        let created_at_ms = now_ms();
        tx.execute(
            "INSERT INTO tickets (id, state, conversation_id, language, skill, context, created_at_ms,
                                  customer_id)
             VALUES (?1, 'waiting', ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                id,
                context.conversation_id,
                context.language,
                skill,
                self.cipher.seal_bytes(&context.encode_to_vec())?,
                created_at_ms,
                context.customer_id
            ],
        )?;
        tx.commit()?;
        Ok(Ticket {
            id,
            state: TicketState::Waiting,
            context: context.clone(),
            agent_id: None,
            skill: skill.to_owned(),
            created_at_ms,
        })
    }

    fn get(&self, id: &str) -> Result<Option<Ticket>, StoreError> {
        let conn = self.conn();
        let row = conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM tickets WHERE id = ?1"),
                [id],
                row_to_ticket,
            )
            .optional()?;
        row.map(|r| ticket(&self.cipher, r)).transpose()
    }

    fn list(&self, filter: &TicketFilter) -> Result<Vec<Ticket>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM tickets
             WHERE (?1 IS NULL OR state = ?1) AND (?2 IS NULL OR language = ?2)
               AND (?3 IS NULL OR skill = ?3)
             ORDER BY seq"
        ))?;
        let rows = stmt.query_map(
            params![
                filter.state.map(TicketState::as_str),
                filter.language,
                filter.skill
            ],
            row_to_ticket,
        )?;
        rows.map(|r| ticket(&self.cipher, r?)).collect()
    }

    fn transition(
        &self,
        id: &str,
        from: &[TicketState],
        to: TicketState,
        agent_id: Option<&str>,
    ) -> Result<Option<Ticket>, StoreError> {
        let conn = self.conn();
        let tx = conn.unchecked_transaction()?;
        let current: Option<String> = tx
            .query_row("SELECT state FROM tickets WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()?;
        let Some(current) = current else {
            return Ok(None);
        };
        if !from.contains(&TicketState::parse(&current)?) {
            return Ok(None);
        }
        tx.execute(
            "UPDATE tickets SET state = ?2, agent_id = COALESCE(?3, agent_id) WHERE id = ?1",
            params![id, to.as_str(), agent_id],
        )?;
        let row = tx.query_row(
            &format!("SELECT {COLUMNS} FROM tickets WHERE id = ?1"),
            [id],
            row_to_ticket,
        )?;
        tx.commit()?;
        ticket(&self.cipher, row).map(Some)
    }

    fn add_message(
        &self,
        ticket_id: &str,
        speaker: &str,
        agent: (&str, &str),
        text: &str,
    ) -> Result<TicketMessage, StoreError> {
        let conn = self.conn();
        let at_ms = now_ms();
        conn.execute(
            "INSERT INTO agent_messages (ticket_id, agent_id, text, at_ms, speaker, agent_name)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                ticket_id,
                agent.0,
                self.cipher.seal(text)?,
                at_ms,
                speaker,
                self.cipher.seal(agent.1)?
            ],
        )?;
        Ok(TicketMessage {
            id: format!("M{:06}", conn.last_insert_rowid()),
            ticket_id: ticket_id.to_owned(),
            speaker: speaker.to_owned(),
            agent_id: agent.0.to_owned(),
            agent_name: agent.1.to_owned(),
            text: text.to_owned(),
            at_ms,
        })
    }

    fn messages(&self, ticket_id: &str) -> Result<Vec<TicketMessage>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT seq, speaker, agent_id, agent_name, text, at_ms FROM agent_messages
             WHERE ticket_id = ?1 ORDER BY seq",
        )?;
        let rows = stmt.query_map([ticket_id], |r| {
            Ok(TicketMessage {
                id: format!("M{:06}", r.get::<_, i64>(0)?),
                ticket_id: ticket_id.to_owned(),
                speaker: r.get(1)?,
                agent_id: r.get(2)?,
                agent_name: r.get(3)?,
                text: r.get(4)?,
                at_ms: r.get(5)?,
            })
        })?;
        rows.map(|m| {
            let mut m = m?;
            m.agent_name = self.cipher.open(&m.agent_name)?;
            m.text = self.cipher.open(&m.text)?;
            Ok(m)
        })
        .collect()
    }

    fn held_count(&self, agent_id: &str) -> Result<u32, StoreError> {
        Ok(self.conn().query_row(
            "SELECT COUNT(*) FROM tickets WHERE agent_id = ?1 AND state = 'claimed'",
            [agent_id],
            |r| r.get(0),
        )?)
    }

    fn forget_customer(&self, customer_id: &str) -> Result<u32, StoreError> {
        if customer_id.is_empty() {
            return Ok(0);
        }
        let conn = self.conn();
        let tx = conn.unchecked_transaction()?;
        tx.execute(
            "DELETE FROM agent_messages
             WHERE ticket_id IN (SELECT id FROM tickets WHERE customer_id = ?1)",
            [customer_id],
        )?;
        let removed = tx.execute("DELETE FROM tickets WHERE customer_id = ?1", [customer_id])?;
        tx.commit()?;
        // The write-ahead log still holds the deleted pages: empty it.
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(removed as u32)
    }
}
