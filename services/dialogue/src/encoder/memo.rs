//! Sentence vectors of the shipped training examples, kept on disk beside the encoder's weights
//! so that a service does not spend seconds encoding the same few thousand lines at every
//! start. The file is named by a hash of the texts (and the weights' size), checked by its
//! length, written atomically, and simply recomputed when missing, stale or unwritable.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{Encoder, EncoderError, DIMENSIONS};

/// FNV-1a over every text (with separators) and the weights' size: a cache key, not a checksum.
fn key(texts: &[&str], weights_len: u64) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325_u64;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            h = (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
        }
    };
    eat(&weights_len.to_le_bytes());
    for t in texts {
        eat(t.as_bytes());
        eat(&[0]);
    }
    h
}

fn path(dir: &Path, texts: &[&str], weights_len: u64) -> PathBuf {
    dir.join(format!(
        "examples-{:016x}-{}.f32",
        key(texts, weights_len),
        texts.len()
    ))
}

fn read(file: &Path, n: usize) -> Option<Vec<Vec<f32>>> {
    let bytes = std::fs::read(file).ok()?;
    if bytes.len() != n * DIMENSIONS * 4 {
        return None;
    }
    let values: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    Some(values.chunks(DIMENSIONS).map(<[f32]>::to_vec).collect())
}

fn write(file: &Path, vectors: &[Vec<f32>]) -> std::io::Result<()> {
    let dir = file.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile_in(dir)?;
    let mut bytes = Vec::with_capacity(vectors.len() * DIMENSIONS * 4);
    for v in vectors {
        for x in v {
            bytes.extend_from_slice(&x.to_le_bytes());
        }
    }
    tmp.1.write_all(&bytes)?;
    tmp.1.sync_all()?;
    std::fs::rename(&tmp.0, file)
}

fn tempfile_in(dir: &Path) -> std::io::Result<(PathBuf, std::fs::File)> {
    let name = dir.join(format!(".examples-{}.tmp", std::process::id()));
    let f = std::fs::File::create(&name)?;
    Ok((name, f))
}

impl Encoder {
    /// The vectors of fixed texts (training examples), read from the file kept beside the
    /// weights when there is one for exactly these texts, else encoded and kept for next time.
    pub fn embed_examples(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EncoderError> {
        let Some((dir, weights_len)) = self.home.as_ref() else {
            return self.embed_batch(texts);
        };
        let file = path(dir, texts, *weights_len);
        if let Some(v) = read(&file, texts.len()) {
            return Ok(v);
        }
        let vectors = self.embed_batch(texts)?;
        if let Err(e) = write(&file, &vectors) {
            tracing::warn!(path = %file.display(), error = %e, "example vectors not kept; they will be encoded again at the next start");
        }
        Ok(vectors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_changes_with_any_text_and_the_weights() {
        let a = key(&["hello", "world"], 10);
        assert_ne!(a, key(&["hello", "world!"], 10));
        assert_ne!(a, key(&["helloworld"], 10));
        assert_ne!(a, key(&["hello", "world"], 11));
        assert_eq!(a, key(&["hello", "world"], 10));
    }

    #[test]
    fn vectors_round_trip_through_the_file() {
        let dir = std::env::temp_dir().join(format!("parla-memo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("v.f32");
        let vectors = vec![vec![0.5_f32; DIMENSIONS], vec![-0.25_f32; DIMENSIONS]];
        write(&file, &vectors).expect("written");
        assert_eq!(read(&file, 2), Some(vectors));
        assert_eq!(read(&file, 3), None, "a file of another length is not used");
        std::fs::remove_dir_all(&dir).ok();
    }
}
