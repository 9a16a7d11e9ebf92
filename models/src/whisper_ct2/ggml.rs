//! Writer of whisper.cpp's legacy ggml model file.
//!
//! Layout, little-endian `i32` unless noted: magic `0x67676d6c`; eleven hyperparameters; the mel
//! filterbank (`n_mels`, `n_fft`, then `f32` weights); the vocabulary (count, then length + bytes per
//! token); then each tensor: rank, name length, type (0 = f32, 1 = f16), dimensions innermost
//! first, the name, and the raw data.

use std::io::Write;

use half::f16;

use super::ct2::{DType, Tensor};
use super::ConvertError;

/// "ggml" in the byte order whisper.cpp checks.
pub const MAGIC: u32 = 0x6767_6d6c;

/// Whisper hyperparameters, in file order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HParams {
    /// Vocabulary size including special tokens (51864 English-only, 51865 multilingual).
    pub n_vocab: i32,
    /// Encoder positions (1500).
    pub n_audio_ctx: i32,
    /// Encoder width.
    pub n_audio_state: i32,
    /// Encoder attention heads.
    pub n_audio_head: i32,
    /// Encoder layers.
    pub n_audio_layer: i32,
    /// Decoder positions (448).
    pub n_text_ctx: i32,
    /// Decoder width.
    pub n_text_state: i32,
    /// Decoder attention heads.
    pub n_text_head: i32,
    /// Decoder layers.
    pub n_text_layer: i32,
    /// Mel bands (80).
    pub n_mels: i32,
    /// Weight type of the file: 1 = f16 matrices, f32 vectors.
    pub ftype: i32,
}

/// Element type of a written tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GgmlType {
    /// 32-bit float.
    F32 = 0,
    /// IEEE half.
    F16 = 1,
}

fn put(out: &mut impl Write, v: i32) -> Result<(), ConvertError> {
    Ok(out.write_all(&v.to_le_bytes())?)
}

fn int(v: usize, what: &str) -> Result<i32, ConvertError> {
    i32::try_from(v).map_err(|_| ConvertError::Format(format!("{what} {v} does not fit in i32")))
}

/// Writes magic and hyperparameters.
pub fn write_header(out: &mut impl Write, hp: &HParams) -> Result<(), ConvertError> {
    out.write_all(&MAGIC.to_le_bytes())?;
    for v in [
        hp.n_vocab,
        hp.n_audio_ctx,
        hp.n_audio_state,
        hp.n_audio_head,
        hp.n_audio_layer,
        hp.n_text_ctx,
        hp.n_text_state,
        hp.n_text_head,
        hp.n_text_layer,
        hp.n_mels,
        hp.ftype,
    ] {
        put(out, v)?;
    }
    Ok(())
}

/// Writes the mel filterbank (`n_mels` rows of `n_bins` weights).
pub fn write_mel_filters(
    out: &mut impl Write,
    n_mels: usize,
    n_bins: usize,
    weights: &[f32],
) -> Result<(), ConvertError> {
    if weights.len() != n_mels * n_bins {
        return Err(ConvertError::Format(
            "mel filterbank has the wrong size".into(),
        ));
    }
    put(out, int(n_mels, "n_mels")?)?;
    put(out, int(n_bins, "n_fft")?)?;
    for w in weights {
        out.write_all(&w.to_le_bytes())?;
    }
    Ok(())
}

/// Writes the vocabulary (raw token bytes).
pub fn write_vocab(out: &mut impl Write, tokens: &[Vec<u8>]) -> Result<(), ConvertError> {
    put(out, int(tokens.len(), "vocabulary size")?)?;
    for token in tokens {
        put(out, int(token.len(), "token length")?)?;
        out.write_all(token)?;
    }
    Ok(())
}

/// Writes one tensor named `name` with PyTorch-order `dims` (which must hold as many elements as
/// `tensor`), converting its elements to `ty`.
pub fn write_tensor(
    out: &mut impl Write,
    name: &str,
    dims: &[usize],
    ty: GgmlType,
    tensor: &Tensor<'_>,
) -> Result<(), ConvertError> {
    if dims.iter().product::<usize>() != tensor.len() {
        return Err(ConvertError::Format(format!(
            "`{name}`: dims {dims:?} do not match source shape {:?}",
            tensor.shape
        )));
    }
    put(out, int(dims.len(), "rank")?)?;
    put(out, int(name.len(), "name length")?)?;
    put(out, ty as i32)?;
    for &d in dims.iter().rev() {
        put(out, int(d, "dimension")?)?;
    }
    out.write_all(name.as_bytes())?;
    match (ty, tensor.dtype) {
        (GgmlType::F16, DType::F16) | (GgmlType::F32, DType::F32) => out.write_all(tensor.data)?,
        (GgmlType::F32, _) => {
            let bytes: Vec<u8> = tensor
                .to_f32()?
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect();
            out.write_all(&bytes)?;
        }
        (GgmlType::F16, _) => {
            let bytes: Vec<u8> = tensor
                .to_f32()?
                .iter()
                .flat_map(|&v| f16::from_f32(v).to_bits().to_le_bytes())
                .collect();
            out.write_all(&bytes)?;
        }
    }
    Ok(())
}
