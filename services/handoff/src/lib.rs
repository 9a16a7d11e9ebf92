//! Hand-off to human agents (`parla.v1.Handoff`): the escalation queue,
//! routing by language and skill, warm transfer with the conversation's
//! context package, agent replies, and return to Parla.
//!
//! This crate is still a shell: it owns its configuration; the queue and
//! the agent console come next.

use serde::{Deserialize, Serialize};

/// Settings of the hand-off queue (`[handoff]` in `parla.toml`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HandoffConfig {
    /// SIP URI or address where voice calls are transferred to agents.
    pub agent_uri: String,
}
