//! A multilingual sentence encoder for understanding: Universal Sentence Encoder multilingual v3
//! (16 languages, English and Italian among them) turns a turn's text into a 512-d unit vector, so
//! that intent and sentiment classifiers can sit on top of it and a sentence and its paraphrase,
//! in either language, land close together. Pure Rust: a SentencePiece unigram tokenizer and the
//! network on candle (CPU), from the files of the `use-multilingual` model
//! (`parla models fetch use-multilingual`), matching the numpy reference they ship with.
//!
//! Encoding is CPU work of about a millisecond a sentence, on the calling thread (its matrix
//! products on that thread alone; see `product.rs`): call it from `spawn_blocking` or a model
//! thread, never directly on the async runtime.
//!
//! ```no_run
//! # fn main() -> Result<(), parla_dialogue::encoder::EncoderError> {
//! use parla_dialogue::encoder::{cosine, Encoder};
//! let cache = parla_models::ModelCache::from_env()?;
//! let encoder = Encoder::load(&cache)?;
//! let en = encoder.embed("Where is my parcel?")?;
//! let it = encoder.embed("Dov'è il mio pacco?")?;
//! assert!(cosine(&en, &it) > 0.5);
//! # Ok(()) }
//! ```

mod memo;
mod network;
mod normalizer;
mod npz;
mod product;
mod spm_model;
mod unigram;

use std::fmt;
use std::path::{Path, PathBuf};

use parla_models::{ModelCache, ModelError};

use network::Network;
use unigram::Tokenizer;

/// Manifest name of the sentence encoder's files.
pub const USE_MODEL: &str = "use-multilingual";
/// Length of every sentence vector.
pub const DIMENSIONS: usize = network::EMB_DIM;
/// File of the network's weights in the model's directory.
pub const WEIGHTS_FILE: &str = "weights.npz";
/// File of the tokenizer in the model's directory.
pub const TOKENIZER_FILE: &str = "sp.model";

/// Tokens encoded in one pass. Each weight is read once a pass, so short sentences share one;
/// the cap keeps the widest activation (tokens × 1,280) under the size from which candle splits
/// element-wise operations over its own threads (64 Ki values), so a pass stays on the calling
/// thread like its products. Passes of 384 tokens (the reference's) gained little on one thread
/// (0.73 against 0.93 ms a sentence) and lost it whenever the other core was busy. A longer
/// sentence is a pass of its own.
const TOKEN_BUDGET: usize = 48;

/// Errors of loading or running the encoder.
#[derive(Debug, thiserror::Error)]
pub enum EncoderError {
    /// The model is not in the cache, or is damaged; the message names the fetch command.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// A file of the model is missing from the directory it was loaded from.
    #[error("sentence encoder file {path} is missing; run `parla models fetch {USE_MODEL}`")]
    Missing {
        /// The file.
        path: PathBuf,
    },
    /// `sp.model` could not be read as a SentencePiece unigram model.
    #[error("cannot read the sentence encoder's tokenizer {path}: {reason}; run `parla models fetch {USE_MODEL}` to fetch it again")]
    Tokenizer {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// `weights.npz` lacks an array or has one of the wrong shape.
    #[error("cannot read the sentence encoder's weights {path}: {reason}; run `parla models fetch {USE_MODEL}` to fetch it again")]
    Weights {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The forward pass failed (a bug: shapes are checked when the weights load).
    #[error("sentence encoder forward pass failed: {0}")]
    Compute(#[from] candle_core::Error),
}

/// Universal Sentence Encoder multilingual v3: text in, 512-d unit vector out. Cheap to share
/// (`Arc`) between threads; it holds about 80 MB of weights.
pub struct Encoder {
    tokenizer: Tokenizer,
    network: Network,
    /// The weights' directory and size: where example vectors are kept ([`Encoder::embed_examples`]).
    home: Option<(PathBuf, u64)>,
}

impl fmt::Debug for Encoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Encoder")
            .field("pieces", &self.tokenizer.vocab_size())
            .field("dimensions", &DIMENSIONS)
            .finish_non_exhaustive()
    }
}

impl Encoder {
    /// Loads the encoder from the model cache (`parla models fetch use-multilingual`).
    pub fn load(cache: &ModelCache) -> Result<Self, EncoderError> {
        let weights = cache.require(USE_MODEL)?;
        let dir = weights.parent().unwrap_or(Path::new("."));
        Self::from_files(&weights, &dir.join(TOKENIZER_FILE))
    }

    /// Loads `weights.npz` and `sp.model` from a directory.
    pub fn from_dir(dir: &Path) -> Result<Self, EncoderError> {
        Self::from_files(&dir.join(WEIGHTS_FILE), &dir.join(TOKENIZER_FILE))
    }

    /// Loads explicit files: the network's weights (`.npz`) and its SentencePiece model.
    pub fn from_files(weights: &Path, sp_model: &Path) -> Result<Self, EncoderError> {
        for path in [weights, sp_model] {
            if !path.is_file() {
                return Err(EncoderError::Missing {
                    path: path.to_path_buf(),
                });
            }
        }
        let tokenizer =
            Tokenizer::from_file(sp_model).map_err(|reason| EncoderError::Tokenizer {
                path: sp_model.to_path_buf(),
                reason,
            })?;
        let weights_error = |reason: String| EncoderError::Weights {
            path: weights.to_path_buf(),
            reason,
        };
        let network = npz::Npz::open(weights)
            .and_then(|mut npz| Network::load(&mut npz))
            .map_err(weights_error)?;
        if network.vocab_rows() < tokenizer.vocab_size() {
            return Err(weights_error(format!(
                "{} embedding rows for {} pieces in {}",
                network.vocab_rows(),
                tokenizer.vocab_size(),
                sp_model.display()
            )));
        }
        let home = weights
            .parent()
            .zip(std::fs::metadata(weights).ok())
            .map(|(dir, m)| (dir.to_path_buf(), m.len()));
        Ok(Encoder {
            tokenizer,
            network,
            home,
        })
    }

    /// The unit-length vector of one text.
    pub fn embed(&self, text: &str) -> Result<Vec<f32>, EncoderError> {
        let mut vectors = self.embed_batch(&[text])?;
        Ok(vectors.pop().unwrap_or_default())
    }

    /// The vectors of several texts, in order; each is encoded on its own (the result does not
    /// depend on the batch), several at a time for speed.
    pub fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EncoderError> {
        let mut out = Vec::with_capacity(texts.len());
        let mut ids = Vec::new();
        let mut lens = Vec::new();
        for text in texts {
            let before = ids.len();
            self.tokenizer.encode_into(text, &mut ids);
            let len = ids.len() - before;
            if !lens.is_empty() && ids.len() > TOKEN_BUDGET {
                // This text starts the next pass.
                let own: Vec<u32> = ids.drain(before..).collect();
                out.extend(self.network.forward(&ids, &lens)?);
                ids = own;
                lens.clear();
            }
            lens.push(len);
        }
        if !lens.is_empty() {
            out.extend(self.network.forward(&ids, &lens)?);
        }
        Ok(out)
    }

    /// The SentencePiece ids the network reads for `text`, `<s>` and `</s>` included.
    pub fn token_ids(&self, text: &str) -> Vec<u32> {
        let mut ids = Vec::new();
        self.tokenizer.encode_into(text, &mut ids);
        ids
    }
}

/// Cosine similarity of two vectors (their dot product when both have unit length, as
/// [`Encoder::embed`]'s do); 0 when either is all zeros.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    let denominator = norm(a) * norm(b);
    if denominator > 0.0 {
        dot / denominator
    } else {
        0.0
    }
}
