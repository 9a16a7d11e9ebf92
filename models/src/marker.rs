//! Verified markers: a sidecar `<file>.verified` written after a file's sha256 has been checked,
//! holding the digest together with the size and mtime the file had then.
//!
//! Comparing size and mtime against the marker makes `status` cheap (no re-hashing of 150 MB), while
//! any rewrite of the file after verification shows up as a mismatch.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ModelError;

/// What was true of a file when its checksum was last verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifiedMarker {
    /// Lower-case hex sha256 of the file.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the Unix epoch.
    pub mtime_ns: u128,
}

/// Path of the marker that belongs to `file`.
pub fn marker_path(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_os_string();
    name.push(".verified");
    PathBuf::from(name)
}

/// Modification time of `meta` in nanoseconds since the epoch (0 if the platform has none).
pub fn mtime_ns(meta: &fs::Metadata) -> u128 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos())
}

/// Reads the marker of `file`; `None` when it is absent or unreadable.
pub fn read_marker(file: &Path) -> Option<VerifiedMarker> {
    let text = fs::read_to_string(marker_path(file)).ok()?;
    serde_json::from_str(&text).ok()
}

/// Checks `file` against its marker without hashing. `Ok(marker)` when size and mtime still match;
/// `Err(reason)` otherwise. A missing file is reported by the caller, not here.
pub fn check_marker(file: &Path, meta: &fs::Metadata) -> Result<VerifiedMarker, String> {
    let marker = read_marker(file).ok_or_else(|| "present but never verified".to_string())?;
    if marker.size != meta.len() {
        return Err(format!(
            "{} bytes, {} when verified",
            meta.len(),
            marker.size
        ));
    }
    if marker.mtime_ns != mtime_ns(meta) {
        return Err("modified since it was verified".to_string());
    }
    Ok(marker)
}

/// Records that `file` (as it is now) has digest `sha256`; written to a temporary name and renamed
/// so a reader never sees half a marker.
pub fn write_marker(file: &Path, sha256: &str) -> Result<VerifiedMarker, ModelError> {
    let meta = fs::metadata(file).map_err(|e| ModelError::io("stat", file, e))?;
    let marker = VerifiedMarker {
        sha256: sha256.to_string(),
        size: meta.len(),
        mtime_ns: mtime_ns(&meta),
    };
    let path = marker_path(file);
    let dir = path.parent().unwrap_or(Path::new("."));
    // A uniquely named temporary, so concurrent fetches never interleave their writes.
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .map_err(|e| ModelError::io("create temporary file in", dir, e))?;
    let json = serde_json::to_string(&marker).unwrap_or_default();
    tmp.write_all(json.as_bytes())
        .map_err(|e| ModelError::io("write", tmp.path(), e))?;
    tmp.persist(&path)
        .map_err(|e| ModelError::io("rename into", &path, e.error))?;
    Ok(marker)
}

/// Removes the marker of `file`, if any, so the file no longer counts as verified.
pub fn remove_marker(file: &Path) -> Result<(), ModelError> {
    let path = marker_path(file);
    match fs::remove_file(&path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(ModelError::io("remove", &path, e)),
        _ => Ok(()),
    }
}

/// Hashes a whole file, returning (size, lower-case hex sha256).
pub fn hash_file(path: &Path) -> Result<(u64, String), ModelError> {
    let mut file = File::open(path).map_err(|e| ModelError::io("open", path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| ModelError::io("read", path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((size, hex::encode(hasher.finalize())))
}

/// A writer that hashes and counts what passes through it.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    written: u64,
}

impl<W: Write> HashingWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            written: 0,
        }
    }

    /// Returns the inner writer, the byte count and the hex sha256.
    pub fn finish(self) -> (W, u64, String) {
        (
            self.inner,
            self.written,
            hex::encode(self.hasher.finalize()),
        )
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
