//! Parla's flows (issue 5): what the agent may do, declared as data. A flow file (YAML under
//! `flows/`) lists the intents that start it, its policy values, the slots it collects, its steps
//! with the tools they call, and its messages in English and Italian. The [`FlowRunner`] is pure
//! logic; the [`Toolbox`] runs the tools (CRM, hand-off queue, weather, the developer's webhooks
//! and gRPC tools); [`EventBus`] streams conversation events to developers
//! (`parla.v1.Events.Subscribe`); [`cases`] holds conversation test cases for
//! `parla test-flows`.
//!
//! ```no_run
//! use parla_flows::{FlowRunner, FlowSet};
//! let runner = FlowRunner::new(FlowSet::shipped().expect("valid shipped flows"));
//! assert!(runner.flows().for_intent("return").is_some());
//! ```

pub mod cases;
mod check;
pub mod cond;
mod config;
mod engine;
pub mod events;
pub mod facts;
mod loader;
pub mod names;
pub mod places;
pub mod runner;
pub mod spec;
mod state;
pub mod tools;
pub mod weather;

pub use check::{Flow, BUILTIN_ACTIONS, BUILTIN_TOOLS};
pub use config::{FlowsConfig, WeatherConfig, WeatherProviderKind};
pub use engine::{weather_provider, ActionGate, FlowEngine, Gated, Open, Who};
pub use events::{EventBus, EventsService};
pub use loader::{FlowSet, SHIPPED};
pub use runner::{
    CallRecord, Directive, FlowReply, FlowRunner, FlowState, Said, ToolCall, ToolOutcome,
    ToolResult, TurnInput,
};
pub use tools::{ToolError, Toolbox};

/// The languages flows speak (the shared reading and writing rules of `parla-text`).
pub use parla_text::Lang;

/// Errors of the flows crate.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    /// A flow file is invalid.
    #[error("{file}:{line}: {reason}")]
    Invalid {
        /// File (path or built-in name).
        file: String,
        /// 1-based line (0 when unknown).
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// A setting is wrong.
    #[error("`{key}` {problem}")]
    Setting {
        /// Dotted key.
        key: String,
        /// What is wrong and what is allowed.
        problem: String,
    },
}
