//! Parla's gRPC contract, `parla.v1`, generated from `proto/parla/v1`.
//!
//! Every service and client in the workspace uses these types; the encoded
//! file descriptor set serves gRPC reflection.

/// Messages, clients and servers of the `parla.v1` package.
pub mod v1 {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("parla.v1");
}

/// The encoded `FileDescriptorSet` of `parla.v1`, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/parla_descriptor.bin"));

/// Fully qualified names of Parla's gRPC services, as health and
/// reflection report them.
pub mod service_names {
    /// Speech recognition.
    pub const ASR: &str = "parla.v1.Asr";
    /// Speech synthesis.
    pub const TTS: &str = "parla.v1.Tts";
    /// Dialogue manager.
    pub const DIALOGUE: &str = "parla.v1.Dialogue";
    /// Customer record.
    pub const CRM: &str = "parla.v1.Crm";
    /// Hand-off queue.
    pub const HANDOFF: &str = "parla.v1.Handoff";
    /// Voice calls (gateway).
    pub const CONVERSATION: &str = "parla.v1.Conversation";
    /// Chats (gateway).
    pub const CHAT: &str = "parla.v1.Chat";
    /// Conversation events for developers (served with the dialogue).
    pub const EVENTS: &str = "parla.v1.Events";
    /// A developer's tool (implemented by the developer, called by flows).
    pub const TOOL_SERVICE: &str = "parla.v1.ToolService";
}
