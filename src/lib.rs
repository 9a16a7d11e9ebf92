//! Parla, a customer-support agent that talks on the phone and chats on the
//! web. This crate is the `parla` command: configuration, the server that
//! runs the services in one process (or a subset of them), model
//! provisioning, and a demo client.

pub mod access;
pub mod cli;
pub mod config;
pub mod demo;
pub mod demo_call;
pub mod erasure;
pub mod eval;
pub mod models_cmd;
pub mod serve;
pub mod services;
pub mod telemetry;
pub mod test_flows;
pub mod unreadable;
