//! Hand-off to human agents (`parla.v1.Handoff`): the escalation queue.
//! The dialogue manager escalates a conversation with its context package
//! (customer, summary, transcript, sentiment, intent, flow state, what was
//! tried); agents list, claim, answer and release tickets; consoles watch
//! the queue change live.
//!
//! Tickets are stored (SQLite by default, behind [`TicketStore`]) before a
//! call returns, so a restart loses no escalation. Routing by language and
//! skill is by filter; agents sign in with argon2-hashed passwords and get
//! expiring sessions; priority weighs sentiment, tier and waiting time;
//! customer and agent messages form a thread that the chat gateway and the
//! console both follow through `WatchQueue`.

mod agents;
mod callers;
mod convert;
mod priority;
mod queue;
mod service;
mod store;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use agents::{AgentAccount, AgentDirectory, AgentError};
pub use parla_seal::FieldCipher;
pub use priority::{complete_context, priority};
pub use queue::{HandoffQueue, QueueChange, QueueError};
pub use service::HandoffService;
pub use store::{
    SqliteTicketStore, StoreError, Ticket, TicketFilter, TicketMessage, TicketState, TicketStore,
    SEAL_DOMAIN,
};

/// Settings of the hand-off queue (`[handoff]` in `parla.toml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HandoffConfig {
    /// SIP URI or address where voice calls are transferred to agents.
    pub agent_uri: String,
    /// SQLite file of the queue; empty for `handoff.db` beside the CRM's
    /// default database (`crm.data_dir`).
    pub database_path: PathBuf,
    /// Agent accounts (`[[handoff.agents]]`), for the console at `/console`.
    pub agents: Vec<AgentAccount>,
    /// Agent calls need a console session (`AgentLogin`). Turn off only
    /// for tools on a trusted network that name agents by `agent_id`.
    pub require_agent_login: bool,
    /// How long a console session lasts, in seconds.
    pub session_ttl_secs: u64,
}

impl Default for HandoffConfig {
    fn default() -> Self {
        Self {
            agent_uri: String::new(),
            database_path: PathBuf::new(),
            agents: Vec::new(),
            require_agent_login: true,
            session_ttl_secs: 8 * 3600,
        }
    }
}
