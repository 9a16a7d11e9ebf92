//! Voice calls: `parla.v1.Conversation.Call` and the call pipeline that
//! SIP calls share. One task per call streams the caller's audio to
//! `Asr.StreamingRecognize`, sends each final transcript to
//! `Dialogue.Converse` and speaks each reply through `Tts.SynthesizeStream`
//! as sentences arrive; agent audio goes back in the caller's format in
//! 20 ms frames clocked by the caller's own stream. Barge-in, backchannels,
//! silences, time limits and hand-off are handled here; who speaks when is
//! decided by a pure state machine (`turns`).

mod audio;
mod backchannel;
pub mod client;
mod config;
pub mod metrics;
mod playout;
mod service;
mod session;
mod speech;
mod turns;

pub use audio::{Format, FRAME_MS};
pub use backchannel::Backchannels;
pub use config::CallConfig;
pub use metrics::{CallMetrics, Stage};
pub use service::{Backends, CallHandle, CallService};
pub use speech::strip_tags;

use parla_proto::v1 as pb;

/// What went wrong on a call.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The client broke the call protocol (no start, start twice, bad format).
    #[error("{0}")]
    Protocol(String),
    /// A chunk of caller audio is not in the call's format.
    #[error("{0}")]
    BadAudio(String),
    /// Too many calls at once.
    #[error("the gateway is serving its maximum of {0} calls; retry later")]
    Busy(usize),
    /// The client sent nothing for too long.
    #[error("no message from the client for {0} s; the call was dropped")]
    Vanished(u32),
    /// A service the call needs failed.
    #[error("{service} failed: {message}")]
    Upstream {
        /// Which service.
        service: &'static str,
        /// Its error.
        message: String,
        /// The service is loading or unreachable (retry later).
        unavailable: bool,
    },
}

impl CallError {
    /// The gRPC status for this error.
    pub fn into_status(self) -> tonic::Status {
        let message = self.to_string();
        match self {
            CallError::Protocol(_) | CallError::BadAudio(_) => {
                tonic::Status::invalid_argument(message)
            }
            CallError::Busy(_) => tonic::Status::resource_exhausted(message),
            CallError::Vanished(_) => tonic::Status::deadline_exceeded(message),
            CallError::Upstream {
                unavailable: true, ..
            } => tonic::Status::unavailable(message),
            CallError::Upstream { .. } => tonic::Status::internal(message),
        }
    }

    /// An upstream failure from a gRPC status.
    pub fn upstream(service: &'static str, status: &tonic::Status) -> Self {
        use tonic::Code;
        CallError::Upstream {
            service,
            message: status.message().to_owned(),
            unavailable: matches!(
                status.code(),
                Code::Unavailable | Code::ResourceExhausted | Code::Unknown
            ),
        }
    }
}

/// Something from the caller's side of a call.
#[derive(Debug)]
pub enum CallInput {
    /// Caller audio in the call's format.
    Audio(pb::AudioChunk),
    /// Keypad digits.
    Dtmf(String),
    /// The caller hung up.
    Hangup,
    /// The client broke the protocol; the call ends with this message.
    Invalid(String),
}

/// How a call starts.
#[derive(Debug, Clone)]
pub struct CallSetup {
    /// Caller id (phone number), may be empty.
    pub caller_id: String,
    /// BCP-47 language, or "auto".
    pub language: String,
    /// Audio format both ways.
    pub format: Format,
    /// Conversation to continue, or empty.
    pub conversation_id: String,
    /// Where a hand-off transfers the call (SIP), reported in `CallEnded`.
    pub transfer_to: String,
    /// "grpc" or "sip", for logs.
    pub edge: &'static str,
    /// What Parla says first.
    pub opening: Opening,
}

/// What Parla says when a call's pipeline starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Opening {
    /// The greeting (when `gateway.call.greet` is on).
    #[default]
    Greeting,
    /// The same conversation goes on after a transfer to a person did not
    /// connect: Parla says so, says a colleague will call back, and stays.
    TransferFailed,
}

impl CallSetup {
    /// A setup from a gRPC `CallStart`.
    pub fn from_start(start: &pb::CallStart) -> Result<Self, CallError> {
        let language = start.language.trim().to_ascii_lowercase();
        let language = if language.is_empty() {
            "auto".to_owned()
        } else {
            language
        };
        if language != "auto"
            && !language
                .chars()
                .all(|c| c.is_ascii_alphabetic() || c == '-')
        {
            return Err(CallError::Protocol(format!(
                "`start.language` is {:?}: give a BCP-47 tag such as \"en\" or \"it\", or \"auto\"",
                start.language
            )));
        }
        Ok(Self {
            caller_id: start.caller_id.trim().to_owned(),
            language,
            format: Format::from_pb(start.format.as_ref())?,
            conversation_id: start.conversation_id.trim().to_owned(),
            transfer_to: String::new(),
            edge: "grpc",
            opening: Opening::Greeting,
        })
    }
}
