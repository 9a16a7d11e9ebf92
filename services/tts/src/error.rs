//! Errors of the synthesis service, and their gRPC status at the edge.

/// What can go wrong while synthesizing.
#[derive(Debug, thiserror::Error)]
pub enum TtsError {
    /// Nothing to say.
    #[error("the text is empty: send at least one word to speak")]
    EmptyText,
    /// Over the configured limit.
    #[error("the text has {chars} characters, over the limit of {limit} (`tts.max_text_chars`); split it into several requests")]
    TextTooLong {
        /// Characters received.
        chars: usize,
        /// The limit.
        limit: usize,
    },
    /// Numbers, dates and say-as read out to more than the limit allows.
    #[error("the text reads out as {chars} characters once numbers, dates and say-as are spoken, over the limit of {limit} ({factor} × `tts.max_text_chars`); send fewer digits or split the text into several requests")]
    ExpandsTooFar {
        /// Characters to speak.
        chars: usize,
        /// The limit.
        limit: usize,
        /// Its factor over `tts.max_text_chars`.
        factor: usize,
    },
    /// The audio would be longer than allowed.
    #[error("the audio would be longer than {limit_secs} s (`tts.max_audio_secs`); split the text into several requests")]
    AudioTooLong {
        /// The limit in seconds.
        limit_secs: u32,
    },
    /// SSML this service cannot read.
    #[error("malformed SSML at line {line}, column {column}: {reason}")]
    Ssml {
        /// 1-based line.
        line: usize,
        /// 1-based column (in characters).
        column: usize,
        /// What is wrong.
        reason: String,
    },
    /// No such voice.
    #[error("unknown voice `{name}`; available voices: {available}")]
    UnknownVoice {
        /// The name asked for.
        name: String,
        /// Names that exist.
        available: String,
    },
    /// No voice for the language.
    #[error("no voice speaks language `{language}`; available languages: {available}")]
    UnknownLanguage {
        /// The language asked for.
        language: String,
        /// Languages that have voices.
        available: String,
    },
    /// An output format this service cannot produce.
    #[error("unsupported output format: {0}")]
    Format(String),
    /// A stream used out of order.
    #[error("{0}")]
    Protocol(String),
    /// The engine failed.
    #[error("speech engine {engine} failed: {reason}")]
    Engine {
        /// Which engine.
        engine: &'static str,
        /// What it said.
        reason: String,
    },
    /// The engine could not be started.
    #[error("could not start {engine}: {reason}")]
    Startup {
        /// Which engine.
        engine: &'static str,
        /// Why.
        reason: String,
    },
    /// The service is still loading its voices.
    #[error("speech synthesis is still loading its voices; retry shortly")]
    NotReady,
}

impl From<TtsError> for tonic::Status {
    fn from(e: TtsError) -> Self {
        use tonic::Status;
        let msg = e.to_string();
        match e {
            TtsError::EmptyText
            | TtsError::Ssml { .. }
            | TtsError::Format(_)
            | TtsError::Protocol(_) => Status::invalid_argument(msg),
            TtsError::TextTooLong { .. }
            | TtsError::ExpandsTooFar { .. }
            | TtsError::AudioTooLong { .. } => Status::invalid_argument(msg),
            TtsError::UnknownVoice { .. } | TtsError::UnknownLanguage { .. } => {
                Status::not_found(msg)
            }
            TtsError::Engine { .. } => Status::internal(msg),
            TtsError::Startup { .. } | TtsError::NotReady => Status::unavailable(msg),
        }
    }
}
