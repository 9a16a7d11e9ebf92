//! `parla.v1.Chat`: chats from web widgets over gRPC-web. `Send` stores a
//! customer message and returns at once; `Events` streams the
//! conversation's stored events (echo, typing, Parla's reply deltas,
//! hand-off, the agent joining, agent messages, notices) from any event id,
//! so a widget that reconnects loses and repeats nothing. Turns go to
//! `Dialogue.Converse` (one stream per conversation); after a hand-off,
//! messages go to the agent through the hand-off queue, whose changes come
//! back over `Handoff.WatchQueue`.

mod access;
pub mod assets;
mod auth;
mod limits;
mod service;
mod session;
mod store;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use parla_proto::PeerChannel;
use serde::{Deserialize, Serialize};

pub use auth::{now_secs, Claims, TokenError, TokenKeys, ANONYMOUS_PREFIX, PARLA_ISSUER};
pub use limits::RateLimiter;
pub use parla_seal::FieldCipher;
pub use store::{ChatStore, ChatStoreError, Conversation, SEAL_DOMAIN};

/// The longest chat message, in characters: a dialogue turn's limit (`parla_dialogue::MAX_CHARS`),
/// refused at `Send` so a longer message is never stored and then left unanswered.
pub const MAX_MESSAGE_CHARS: usize = 2000;

/// Settings of web chats (`[gateway.chat]` in `parla.toml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChatConfig {
    /// HS256 key the shop's backend signs customer tokens with. Empty: only
    /// anonymous chats (and their conversation tokens last until restart).
    #[serde(serialize_with = "parla_seal::redacted")]
    pub token_key: String,
    /// Longest lifetime accepted for a shop token, in seconds.
    pub max_token_ttl_secs: i64,
    /// Lifetime of the conversation tokens Parla hands the widget, in seconds.
    pub conversation_token_ttl_secs: i64,
    /// Messages per minute for a signed-in or verified customer.
    pub customer_messages_per_minute: u32,
    /// Messages per minute for an anonymous chat.
    pub anonymous_messages_per_minute: u32,
    /// Messages per minute from one client IP address (all its chats).
    pub ip_messages_per_minute: u32,
    /// Seconds a handed-off customer waits for an agent before Parla says
    /// honestly that nobody is free and offers a callback or a ticket.
    pub agent_wait_secs: u64,
    /// SQLite file of the chats; empty for `chat.db` in `crm.data_dir`.
    pub database_path: PathBuf,
    /// Directory to serve `widget.js`, `console.js` and `console.html` from
    /// instead of the copies built into the binary (for widget development).
    pub web_dir: PathBuf,
}

impl Default for ChatConfig {
    fn default() -> Self {
        Self {
            token_key: String::new(),
            max_token_ttl_secs: 3600,
            conversation_token_ttl_secs: 30 * 24 * 3600,
            customer_messages_per_minute: 30,
            anonymous_messages_per_minute: 10,
            ip_messages_per_minute: 60,
            agent_wait_secs: 120,
            database_path: PathBuf::new(),
            web_dir: PathBuf::new(),
        }
    }
}

/// Where the chat service reaches the others (lazy channels; `None` when
/// not configured).
#[derive(Clone, Default)]
pub struct Peers {
    /// `Dialogue.Converse`.
    pub dialogue: Option<PeerChannel>,
    /// `Crm` (verification, memory of other channels).
    pub crm: Option<PeerChannel>,
    /// `Handoff` (customer messages to agents, queue changes).
    pub handoff: Option<PeerChannel>,
}

/// The chat service state, shared by the handlers and background tasks.
pub struct ChatHub {
    store: OnceLock<Arc<ChatStore>>,
    keys: TokenKeys,
    limits: RateLimiter,
    config: ChatConfig,
    max_message_bytes: usize,
    peers: Peers,
    sessions: Mutex<HashMap<String, tokio::sync::mpsc::Sender<parla_proto::v1::ConverseRequest>>>,
    agents: Mutex<HashMap<String, String>>,
    /// Anonymous conversations already offered the order verification.
    verify_offered: Mutex<std::collections::HashSet<String>>,
}

/// The `Chat` gRPC service.
#[derive(Clone)]
pub struct ChatService {
    hub: Arc<ChatHub>,
}

impl ChatService {
    /// A service whose store [`ChatService::open`] sets later; calls until
    /// then get UNAVAILABLE.
    pub fn new(config: ChatConfig, max_message_bytes: usize, peers: Peers) -> Self {
        let keys = TokenKeys::new(&config.token_key, config.max_token_ttl_secs);
        Self {
            hub: Arc::new(ChatHub {
                store: OnceLock::new(),
                keys,
                limits: RateLimiter::new(),
                config,
                max_message_bytes,
                peers,
                sessions: Mutex::new(HashMap::new()),
                agents: Mutex::new(HashMap::new()),
                verify_offered: Mutex::new(Default::default()),
            }),
        }
    }

    /// Opens the database, sealing new events with `cipher` (a cipher for
    /// [`SEAL_DOMAIN`], or a plain one). Blocking: call from a load thread.
    pub fn open(&self, path: &std::path::Path, cipher: FieldCipher) -> Result<(), ChatStoreError> {
        let store = ChatStore::open(path, cipher)?;
        let _ = self.hub.store.set(Arc::new(store));
        Ok(())
    }

    /// Answers the messages a stopped server left unanswered (sent in the last 10 minutes,
    /// stored, but their turn never finished): each goes to Parla again, which continues the
    /// conversation from the CRM timeline. Call inside a tokio runtime after `open`.
    pub fn recover_unanswered(&self) {
        let hub = Arc::clone(&self.hub);
        tokio::spawn(async move {
            let Ok(store) = hub.store() else { return };
            let since = now_secs() * 1000 - 10 * 60 * 1000;
            let found = match service::blocking(store, move |s| s.unanswered(since)).await {
                Ok(found) => found,
                Err(status) => {
                    tracing::warn!(error = %status.message(), "unanswered chat messages not looked up");
                    return;
                }
            };
            if !found.is_empty() {
                tracing::info!(
                    conversations = found.len(),
                    "answering chat messages left unanswered by a stop"
                );
            }
            for (conv, text) in found {
                let language = conv.language.clone();
                session::route_message(Arc::clone(&hub), conv, text, language).await;
            }
        });
    }

    /// Starts following the hand-off queue (agents joining and replying);
    /// call inside a tokio runtime once the service is registered.
    pub fn follow_handoff(&self) {
        let hub = Arc::clone(&self.hub);
        tokio::spawn(session::follow_queue(hub));
    }

    /// The tonic server (also reachable over gRPC-web).
    pub fn into_server(self) -> parla_proto::v1::chat_server::ChatServer<Self> {
        parla_proto::v1::chat_server::ChatServer::new(self)
    }
}
