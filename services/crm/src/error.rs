//! What can go wrong in the customer record, in domain terms. The gRPC
//! layer turns each variant into a status code once, at the edge.
//!
//! Messages never carry personal data (phone numbers, e-mails, names): they
//! reach logs and clients verbatim.

/// An error of the customer record.
#[derive(Debug, thiserror::Error)]
pub enum CrmError {
    /// The thing asked for does not exist (or was erased).
    #[error("{what} {id} not found")]
    NotFound {
        /// "customer", "order", "return", ...
        what: &'static str,
        /// Its id, or a description such as "with this phone number".
        id: String,
    },
    /// A request field is malformed.
    #[error("`{field}` {problem}")]
    InvalidArgument {
        /// The request field.
        field: &'static str,
        /// What is wrong and what is allowed.
        problem: String,
    },
    /// The request is well formed but the record's state forbids it.
    #[error("{0}")]
    FailedPrecondition(String),
    /// A unique value (phone number, e-mail) already belongs to someone else.
    #[error("{0}")]
    AlreadyExists(String),
    /// The database cannot be reached or is locked; retrying later may work.
    #[error("customer database unavailable: {0}; retry in a few seconds")]
    Unavailable(String),
    /// A bug or corrupt data.
    #[error("internal error in the customer record: {0}")]
    Internal(String),
    /// The configuration cannot be used.
    #[error("invalid configuration: `{key}` {problem}")]
    Config {
        /// Dotted key, e.g. `crm.database_url`.
        key: &'static str,
        /// What is wrong and what is allowed.
        problem: String,
    },
}

impl From<parla_seal::SealError> for CrmError {
    fn from(e: parla_seal::SealError) -> Self {
        match e {
            parla_seal::SealError::Key { setting, problem } => Self::Config {
                key: setting,
                problem,
            },
            other => Self::Internal(other.to_string()),
        }
    }
}

impl CrmError {
    /// A malformed field.
    pub fn invalid(field: &'static str, problem: impl Into<String>) -> Self {
        Self::InvalidArgument {
            field,
            problem: problem.into(),
        }
    }

    /// Something missing.
    pub fn not_found(what: &'static str, id: impl Into<String>) -> Self {
        Self::NotFound {
            what,
            id: id.into(),
        }
    }
}

/// Results of the customer record.
pub type Result<T, E = CrmError> = std::result::Result<T, E>;
