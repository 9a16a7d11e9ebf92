//! Sparse TF-IDF features: hashed word unigrams, word bigrams and character n-grams of the
//! accent-folded text. Character n-grams make the models robust to typos ("recieved", "ordne")
//! and to Italian inflection; words and bigrams carry phrases ("send back", "non è arrivato").

use crate::text;

/// A sparse vector: (feature index, value), indices unique.
pub type SparseVec = Vec<(u32, f32)>;

/// Hashes text into a fixed number of features and weights them by inverse document frequency.
#[derive(Debug, Clone)]
pub struct FeatureHasher {
    dim: u32,
    idf: Vec<f32>,
}

impl FeatureHasher {
    /// A hasher with `2^bits` features and IDF fitted on `texts`.
    pub fn fit<'a>(bits: u32, texts: impl IntoIterator<Item = &'a str>) -> Self {
        let dim = 1u32 << bits;
        let mut df = vec![0u32; dim as usize];
        let mut docs = 0u32;
        for t in texts {
            docs += 1;
            let mut seen = raw_features(t, dim);
            seen.sort_unstable();
            seen.dedup();
            for i in seen {
                df[i as usize] += 1;
            }
        }
        let n = docs.max(1) as f32;
        let idf = df
            .iter()
            .map(|&d| ((1.0 + n) / (1.0 + d as f32)).ln() + 1.0)
            .collect();
        FeatureHasher { dim, idf }
    }

    /// Number of features.
    pub fn dim(&self) -> usize {
        self.dim as usize
    }

    /// The L2-normalised TF-IDF vector of `text`.
    pub fn transform(&self, text: &str) -> SparseVec {
        let mut raw = raw_features(text, self.dim);
        raw.sort_unstable();
        let mut out: SparseVec = Vec::with_capacity(raw.len());
        for i in raw {
            match out.last_mut() {
                Some((j, v)) if *j == i => *v += 1.0,
                _ => out.push((i, 1.0)),
            }
        }
        let mut norm = 0.0f32;
        for (i, v) in out.iter_mut() {
            *v = (1.0 + v.ln()) * self.idf[*i as usize];
            norm += *v * *v;
        }
        let norm = norm.sqrt().max(1e-6);
        for (_, v) in out.iter_mut() {
            *v /= norm;
        }
        out
    }

    /// Appends a dense vector (a sentence encoder's) after the hashed features, scaled by
    /// `weight`: `x` keeps its n-grams in `0..dim()` and gets the vector from `dim()` on.
    pub fn append_dense(&self, x: &mut SparseVec, dense: &[f32], weight: f32) {
        let base = self.dim;
        x.extend(
            dense
                .iter()
                .enumerate()
                .map(|(i, e)| (base + i as u32, weight * e)),
        );
    }
}

fn raw_features(text: &str, dim: u32) -> Vec<u32> {
    let folded = text::fold(text);
    let words = text::words(&folded);
    let mut out = Vec::with_capacity(folded.len() * 4);
    let mut push = |kind: u8, s: &str| out.push((fnv(kind, s.as_bytes()) % dim as u64) as u32);
    for w in &words {
        push(b'w', w);
        let padded: Vec<char> = format!("<{w}>").chars().collect();
        for n in 3..=5 {
            if padded.len() < n {
                break;
            }
            for win in padded.windows(n) {
                let g: String = win.iter().collect();
                push(b'c', &g);
            }
        }
    }
    for pair in words.windows(2) {
        push(b'b', &format!("{} {}", pair[0], pair[1]));
    }
    out
}

/// FNV-1a, seeded with a feature-kind byte: stable across runs and platforms.
fn fnv(kind: u8, bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in std::iter::once(&kind).chain(bytes) {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}
