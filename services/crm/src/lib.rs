//! The customer record (`parla.v1.Crm`): profiles, consent, catalogue,
//! orders, returns and the timeline of every interaction on every channel,
//! so a call today continues yesterday's chat.
//!
//! Storage sits behind a `Store` trait with SQLite (the embedded default)
//! and PostgreSQL implementations. This crate is still a shell: it owns its
//! configuration; the store and the gRPC service come next.

use serde::{Deserialize, Serialize};

/// Settings of the customer record (`[crm]` in `parla.toml`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CrmConfig {
    /// Where the data lives: `sqlite://PATH` or `postgres://...`. Empty for
    /// `crm.db` in the data directory.
    pub database_url: String,
}
