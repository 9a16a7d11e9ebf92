//! The process-wide ONNX Runtime environment. `ort` allows one environment
//! per process, and a single `parla serve` runs several services whose
//! models are ONNX (voice activity, end of turn, the Piper voice): each
//! calls [`environment`] with the runtime library from the model cache and
//! gets the same environment back.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use ort::environment::Environment;

static ENVIRONMENT: OnceLock<Environment> = OnceLock::new();
static INIT: Mutex<()> = Mutex::new(());

/// Why ONNX Runtime could not start.
#[derive(Debug, thiserror::Error)]
#[error("could not start ONNX Runtime from {path}: {reason}")]
pub struct OnnxError {
    /// The shared library given.
    pub path: PathBuf,
    /// What went wrong.
    pub reason: String,
}

/// Loads ONNX Runtime from `library` (e.g. `libonnxruntime.so.1.32.0`) on
/// first use and returns the process-wide environment; later calls return
/// the same environment whatever path they pass.
pub fn environment(library: &Path) -> Result<Environment, OnnxError> {
    if let Some(env) = ENVIRONMENT.get() {
        return Ok(env.clone());
    }
    let _guard = INIT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(env) = ENVIRONMENT.get() {
        return Ok(env.clone());
    }
    let err = |reason: String| OnnxError {
        path: library.to_owned(),
        reason,
    };
    let env = ort::init_from(library)
        .map_err(|e| err(e.to_string()))?
        .with_name("parla")
        .build()
        .map_err(|e| err(e.to_string()))?;
    Ok(ENVIRONMENT.get_or_init(|| env).clone())
}
