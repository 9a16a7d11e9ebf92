//! The local model cache: one directory per model under a root (`PARLA_CACHE`, else
//! `~/.cache/parla`), holding only files that were verified and renamed into place.
//!
//! A file counts as present only with its `.verified` marker, so an interrupted fetch (which leaves
//! `.part` files or temporary directories) never looks complete.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::manifest::{self, ModelManifest};
use crate::marker::{self, check_marker, hash_file, remove_marker, write_marker};
use crate::ModelError;

/// Environment variable overriding the cache root.
pub const CACHE_ENV: &str = "PARLA_CACHE";

/// Name of the directory under the root where fetches keep their temporary files.
pub(crate) const TMP_DIR: &str = ".tmp";

/// Whether a model can be used right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelStatus {
    /// Every file is present and verified.
    Ready {
        /// The file to load (see [`ModelManifest::ready_file`]).
        path: PathBuf,
        /// Its size in bytes.
        size: u64,
    },
    /// At least one file is absent and none is damaged.
    Missing,
    /// A file is present but does not match what was verified or pinned.
    Corrupt {
        /// What does not match, naming the file.
        reason: String,
    },
}

/// A model cache rooted at a directory.
#[derive(Debug, Clone)]
pub struct ModelCache {
    root: PathBuf,
}

/// Per-file outcome of the cheap check.
enum FileState {
    Verified,
    Absent,
    Bad(String),
}

impl ModelCache {
    /// A cache rooted at `root` (created lazily by the first fetch).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        ModelCache { root: root.into() }
    }

    /// `PARLA_CACHE` if set and non-empty, else `$HOME/.cache/parla`.
    pub fn default_root() -> Result<PathBuf, ModelError> {
        if let Some(dir) = std::env::var_os(CACHE_ENV).filter(|v| !v.is_empty()) {
            return Ok(PathBuf::from(dir));
        }
        std::env::var_os("HOME")
            .filter(|v| !v.is_empty())
            .map(|home| PathBuf::from(home).join(".cache").join("parla"))
            .ok_or(ModelError::NoCacheDir)
    }

    /// The cache at [`ModelCache::default_root`].
    pub fn from_env() -> Result<Self, ModelError> {
        Ok(Self::new(Self::default_root()?))
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Directory holding the files of `manifest`.
    pub fn model_dir(&self, manifest: &ModelManifest) -> PathBuf {
        self.root.join(&manifest.name)
    }

    /// Path the ready file of `manifest` has (or will have) in this cache.
    pub fn ready_path(&self, manifest: &ModelManifest) -> PathBuf {
        self.model_dir(manifest).join(manifest.ready_file())
    }

    /// Cheap status: sizes, mtimes and markers only, no hashing.
    pub fn status(&self, manifest: &ModelManifest) -> ModelStatus {
        let dir = self.model_dir(manifest);
        let mut missing = false;
        for file in &manifest.files {
            match file_state(&dir.join(&file.name), Some((&file.sha256, file.size))) {
                FileState::Verified => {}
                FileState::Absent => missing = true,
                FileState::Bad(reason) => return corrupt(&file.name, reason),
            }
        }
        let ready = self.ready_path(manifest);
        if let Some(convert) = &manifest.convert {
            match file_state(&ready, None) {
                FileState::Verified => {}
                FileState::Absent => missing = true,
                FileState::Bad(reason) => return corrupt(&convert.output, reason),
            }
        }
        if missing {
            return ModelStatus::Missing;
        }
        match fs::metadata(&ready) {
            Ok(meta) => ModelStatus::Ready {
                path: ready,
                size: meta.len(),
            },
            Err(_) => ModelStatus::Missing,
        }
    }

    /// Full check: hashes every file. Source files must match the manifest; the converted file must
    /// match the digest recorded when it was written. A file that fails loses its marker, so the
    /// cheap [`status`](Self::status) reports it too and the next fetch replaces it.
    pub fn verify(&self, manifest: &ModelManifest) -> Result<ModelStatus, ModelError> {
        let dir = self.model_dir(manifest);
        let mut missing = false;
        for file in &manifest.files {
            let path = dir.join(&file.name);
            if !exists(&path)? {
                missing = true;
                continue;
            }
            let (size, sha) = hash_file(&path)?;
            if size != file.size || sha != file.sha256 {
                remove_marker(&path)?;
                return Ok(corrupt(
                    &file.name,
                    format!(
                        "expected {} bytes with sha256 {}, got {size} bytes with sha256 {sha}",
                        file.size, file.sha256
                    ),
                ));
            }
            write_marker(&path, &sha)?;
        }
        if let Some(convert) = &manifest.convert {
            let path = dir.join(&convert.output);
            if exists(&path)? {
                let Some(recorded) = marker::read_marker(&path) else {
                    return Ok(corrupt(
                        &convert.output,
                        "present but never verified".into(),
                    ));
                };
                let (size, sha) = hash_file(&path)?;
                if sha != recorded.sha256 {
                    remove_marker(&path)?;
                    return Ok(corrupt(
                        &convert.output,
                        format!(
                            "sha256 {sha} ({size} bytes), {} when converted",
                            recorded.sha256
                        ),
                    ));
                }
                write_marker(&path, &sha)?;
            } else {
                missing = true;
            }
        }
        Ok(if missing {
            ModelStatus::Missing
        } else {
            self.status(manifest)
        })
    }

    /// The path of the ready file of a default model, or an error naming the fetch command.
    pub fn require(&self, name: &str) -> Result<PathBuf, ModelError> {
        self.require_manifest(manifest::manifest(name)?)
    }

    /// Like [`require`](Self::require) for an explicit manifest.
    pub fn require_manifest(&self, manifest: &ModelManifest) -> Result<PathBuf, ModelError> {
        match self.status(manifest) {
            ModelStatus::Ready { path, .. } => Ok(path),
            ModelStatus::Missing => Err(ModelError::NotProvisioned {
                name: manifest.name.clone(),
                root: self.root.clone(),
            }),
            ModelStatus::Corrupt { reason } => Err(ModelError::Corrupt {
                name: manifest.name.clone(),
                root: self.root.clone(),
                reason,
            }),
        }
    }
}

fn corrupt(file: &str, reason: String) -> ModelStatus {
    ModelStatus::Corrupt {
        reason: format!("`{file}`: {reason}"),
    }
}

fn exists(path: &Path) -> Result<bool, ModelError> {
    match fs::metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(ModelError::io("stat", path, e)),
    }
}

/// The cheap check of one file; `pinned` is the manifest's (sha256, size) for source files.
fn file_state(path: &Path, pinned: Option<(&str, u64)>) -> FileState {
    let meta = match fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return FileState::Absent,
        Err(e) => return FileState::Bad(e.to_string()),
    };
    if let Some((_, size)) = pinned {
        if meta.len() != size {
            return FileState::Bad(format!("{} bytes, expected {size}", meta.len()));
        }
    }
    match check_marker(path, &meta) {
        Ok(marker) => match pinned {
            Some((sha, _)) if marker.sha256 != sha => FileState::Bad(format!(
                "verified as sha256 {}, manifest pins {sha}",
                marker.sha256
            )),
            _ => FileState::Verified,
        },
        Err(reason) => FileState::Bad(reason),
    }
}
