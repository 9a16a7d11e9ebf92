//! Parla's gRPC contract, `parla.v1`, generated from `proto/parla/v1`.
//!
//! Every service and client in the workspace uses these types; the encoded
//! file descriptor set serves gRPC reflection. [`PeerChannel`], the channel
//! one Parla service calls another through, presents the shared service
//! token ([`service_token`]).

/// Messages, clients and servers of the `parla.v1` package.
pub mod v1 {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("parla.v1");
}

pub mod service_token;

pub use service_token::{PeerChannel, ServiceToken};

/// What every `ForgetCustomer` handler shares (the hand-off queue, the chat
/// log): the request's check and the response's summary.
pub mod forget {
    use crate::v1::{ForgetCustomerRequest, ForgetCustomerResponse};

    /// The customer to forget; INVALID_ARGUMENT when the id is empty.
    pub fn customer_id(request: ForgetCustomerRequest) -> Result<String, tonic::Status> {
        if request.customer_id.trim().is_empty() {
            return Err(tonic::Status::invalid_argument("customer_id is empty"));
        }
        Ok(request.customer_id)
    }

    /// The response for `removed` records called `noun` ("ticket",
    /// "conversation"): "1 ticket", "2 tickets".
    pub fn response(removed: u32, noun: &str) -> ForgetCustomerResponse {
        let plural = if removed == 1 { "" } else { "s" };
        ForgetCustomerResponse {
            removed,
            summary: format!("{removed} {noun}{plural}"),
        }
    }
}

/// A request message the server could not decode (a string that is not
/// UTF-8, a truncated field) is the client's error, but tonic's codec reports
/// it as INTERNAL. This is the INVALID_ARGUMENT that names the cause, or
/// `None` when `status` is anything else.
pub fn undecodable(status: &tonic::Status) -> Option<tonic::Status> {
    (status.code() == tonic::Code::Internal && status.message().starts_with(DECODE_ERROR_PREFIX))
        .then(|| {
            tonic::Status::invalid_argument(format!(
                "unreadable request message (strings must be UTF-8): {}",
                status.message()
            ))
        })
}

/// How prost's decode errors begin, as tonic's codec passes them on.
const DECODE_ERROR_PREFIX: &str = "failed to decode Protobuf message";

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
