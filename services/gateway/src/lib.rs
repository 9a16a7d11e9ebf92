//! The gateway: the edges where customers reach Parla. Voice calls from
//! apps (`parla.v1.Conversation`, a bidirectional audio stream) and from the
//! telephone network (SIP/RTP, G.711), and chats from web widgets
//! (`parla.v1.Chat`, over gRPC-web), with authentication, rate limits and
//! input limits. `call` runs a call's pipeline (ASR → dialogue → TTS, with
//! barge-in), `sip` answers the telephone network, `chat` serves the widget
//! and the agent console's customer side.

pub mod call;
pub mod chat;
pub mod sip;

use serde::{Deserialize, Serialize};

/// Settings of the gateway (`[gateway]` in `parla.toml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewayConfig {
    /// Largest chat message accepted, in bytes.
    pub max_message_bytes: usize,
    /// Voice calls (`[gateway.call]`).
    pub call: call::CallConfig,
    /// Phone calls over SIP/RTP (`[gateway.sip]`).
    pub sip: sip::SipConfig,
    /// Web chats (`[gateway.chat]`).
    pub chat: chat::ChatConfig,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            max_message_bytes: 4096,
            call: call::CallConfig::default(),
            sip: sip::SipConfig::default(),
            chat: chat::ChatConfig::default(),
        }
    }
}
