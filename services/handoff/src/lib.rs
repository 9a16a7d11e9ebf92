//! Hand-off to human agents (`parla.v1.Handoff`): the escalation queue.
//! The dialogue manager escalates a conversation with its context package
//! (customer, summary, transcript, sentiment, intent, flow state, what was
//! tried); agents list, claim, answer and release tickets; consoles watch
//! the queue change live.
//!
//! Tickets are stored (SQLite by default, behind [`TicketStore`]) before a
//! call returns, so a restart loses no escalation. Routing by language and
//! skill is by filter; the agent console and transfer of voice calls are
//! built on top of this queue.

mod queue;
mod service;
mod store;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use queue::{HandoffQueue, QueueError};
pub use service::HandoffService;
pub use store::{SqliteTicketStore, StoreError, Ticket, TicketFilter, TicketState, TicketStore};

/// Settings of the hand-off queue (`[handoff]` in `parla.toml`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HandoffConfig {
    /// SIP URI or address where voice calls are transferred to agents.
    pub agent_uri: String,
    /// SQLite file of the queue; empty for `handoff.db` beside the CRM's
    /// default database (`crm.data_dir`).
    pub database_path: PathBuf,
}
