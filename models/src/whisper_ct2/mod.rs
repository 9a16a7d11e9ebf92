//! Conversion of a CTranslate2 Whisper model (`model.bin` + `vocabulary.txt`) into the ggml file
//! whisper.cpp loads, done once at provisioning time so the runtime needs neither Python nor
//! CTranslate2.
//!
//! CTranslate2 fuses projections that whisper.cpp keeps apart: self-attention stores query, key and
//! value as one `[3d, d]` matrix, cross-attention stores key and value as one `[2d, d]` matrix. The
//! fused bias carries a zero block for the key, which Whisper does not have, so it is dropped.
//! Matrices stay f16 and vectors become f32, as in OpenAI's own `convert-pt-to-ggml.py`.

mod ct2;
mod ggml;
mod mel;
mod vocab;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

pub use ct2::{Ct2Model, DType, Tensor};
pub use ggml::HParams;
pub use mel::mel_filters;

use ggml::{write_tensor, GgmlType};

/// Why a conversion failed.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// An input file could not be read.
    #[error("read {path}: {source}")]
    Read {
        /// The input file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The output could not be written.
    #[error("write: {0}")]
    Write(#[from] std::io::Error),
    /// The input is not a well-formed CTranslate2 Whisper model.
    #[error("malformed model: {0}")]
    Format(String),
    /// The input uses something this converter does not handle.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// A variable the Whisper layout requires is absent.
    #[error("missing variable `{0}`")]
    MissingVariable(String),
    /// The vocabulary file does not fit the model.
    #[error("vocabulary: {0}")]
    Vocabulary(String),
}

/// What a conversion produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvertSummary {
    /// Hyperparameters written to the header.
    pub hparams: HParams,
    /// Ordinary tokens written (special tokens are implied).
    pub tokens: usize,
    /// Tensors written.
    pub tensors: usize,
}

/// Reads `model.bin` and `vocabulary.txt` and writes the ggml file to `out`.
pub fn convert_files(
    model: &Path,
    vocabulary: &Path,
    out: &mut impl Write,
) -> Result<ConvertSummary, ConvertError> {
    let read_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ConvertError::Read { path, source }
    };
    let bytes = fs::read(model).map_err(read_err(model))?;
    let vocab = fs::read_to_string(vocabulary).map_err(read_err(vocabulary))?;
    convert(&Ct2Model::parse(bytes)?, &vocab, out)
}

/// Converts a parsed model with its vocabulary text.
pub fn convert(
    model: &Ct2Model,
    vocabulary: &str,
    out: &mut impl Write,
) -> Result<ConvertSummary, ConvertError> {
    if model.spec != "WhisperSpec" {
        return Err(ConvertError::Unsupported(format!(
            "spec `{}` (expected WhisperSpec)",
            model.spec
        )));
    }
    let hparams = hparams(model)?;
    let (tokens, total) = vocab::ordinary_tokens(vocabulary)?;
    if i32::try_from(total).ok() != Some(hparams.n_vocab) {
        return Err(ConvertError::Vocabulary(format!(
            "{total} tokens, but the model's embedding has {} rows",
            hparams.n_vocab
        )));
    }
    ggml::write_header(out, &hparams)?;
    let n_mels = hparams.n_mels as usize;
    ggml::write_mel_filters(out, n_mels, mel::N_FFT / 2 + 1, &mel::mel_filters(n_mels))?;
    ggml::write_vocab(out, &tokens)?;
    let mut writer = TensorWriter {
        model,
        out,
        count: 0,
    };
    writer.encoder(hparams.n_audio_layer as usize)?;
    writer.decoder(hparams.n_text_layer as usize)?;
    Ok(ConvertSummary {
        hparams,
        tokens: tokens.len(),
        tensors: writer.count,
    })
}

fn dim(t: &Tensor<'_>, axis: usize, name: &str) -> Result<i32, ConvertError> {
    t.shape
        .get(axis)
        .and_then(|&d| i32::try_from(d).ok())
        .ok_or_else(|| ConvertError::Format(format!("`{name}` has shape {:?}", t.shape)))
}

fn count(n: usize) -> Result<i32, ConvertError> {
    i32::try_from(n).map_err(|_| ConvertError::Format(format!("{n} layers")))
}

/// Hyperparameters read from the tensors themselves (CTranslate2's config.json omits them).
fn hparams(model: &Ct2Model) -> Result<HParams, ConvertError> {
    let embed = model.get("decoder/embeddings/weight")?;
    let audio_pe = model.get("encoder/position_encodings/encodings")?;
    let text_pe = model.get("decoder/position_encodings/encodings")?;
    let conv1 = model.get("encoder/conv1/weight")?;
    let head = |name: &str| {
        model.scalar(name).and_then(|h| {
            i32::try_from(h).map_err(|_| ConvertError::Format(format!("{name} = {h}")))
        })
    };
    let hp = HParams {
        n_vocab: dim(&embed, 0, "decoder embeddings")?,
        n_audio_ctx: dim(&audio_pe, 0, "encoder positions")?,
        n_audio_state: dim(&audio_pe, 1, "encoder positions")?,
        n_audio_head: head("encoder/num_heads")?,
        n_audio_layer: count(model.count_layers("encoder/layer_"))?,
        n_text_ctx: dim(&text_pe, 0, "decoder positions")?,
        n_text_state: dim(&text_pe, 1, "decoder positions")?,
        n_text_head: head("decoder/num_heads")?,
        n_text_layer: count(model.count_layers("decoder/layer_"))?,
        n_mels: dim(&conv1, 1, "conv1")?,
        ftype: 1,
    };
    if hp.n_audio_layer == 0 || hp.n_text_layer == 0 || hp.n_audio_head <= 0 || hp.n_text_head <= 0
    {
        return Err(ConvertError::Format(format!(
            "implausible hyperparameters {hp:?}"
        )));
    }
    Ok(hp)
}

struct TensorWriter<'m, W> {
    model: &'m Ct2Model,
    out: W,
    count: usize,
}

impl<W: Write> TensorWriter<'_, W> {
    /// Writes `t` under `name`: f16 for matrices, f32 for vectors (and the listed exceptions).
    fn emit(&mut self, name: &str, t: &Tensor<'_>) -> Result<(), ConvertError> {
        let conv_bias = name == "encoder.conv1.bias" || name == "encoder.conv2.bias";
        // whisper.cpp declares conv biases as [n_state, 1] and positional embeddings as f32.
        let dims: Vec<usize> = if conv_bias {
            vec![t.len(), 1]
        } else {
            t.shape.clone()
        };
        let f32_wanted = t.shape.len() < 2 || conv_bias || name.ends_with("positional_embedding");
        let ty = if f32_wanted {
            GgmlType::F32
        } else {
            GgmlType::F16
        };
        write_tensor(&mut self.out, name, &dims, ty, t)?;
        self.count += 1;
        Ok(())
    }

    /// Copies `src` (a CTranslate2 name) to `dst` (a whisper.cpp name).
    fn copy(&mut self, src: &str, dst: &str) -> Result<(), ConvertError> {
        let t = self.model.get(src)?;
        self.emit(dst, &t)
    }

    fn layer_norm(&mut self, src: &str, dst: &str) -> Result<(), ConvertError> {
        self.copy(&format!("{src}/gamma"), &format!("{dst}.weight"))?;
        self.copy(&format!("{src}/beta"), &format!("{dst}.bias"))
    }

    fn linear(&mut self, src: &str, dst: &str) -> Result<(), ConvertError> {
        self.copy(&format!("{src}/weight"), &format!("{dst}.weight"))?;
        self.copy(&format!("{src}/bias"), &format!("{dst}.bias"))
    }

    /// Splits a fused projection into equal row blocks named `parts` (`"key"` gets no bias).
    fn split(&mut self, src: &str, dst: &str, parts: &[&str]) -> Result<(), ConvertError> {
        let weight = self.model.get(&format!("{src}/weight"))?;
        let bias = self.model.get(&format!("{src}/bias"))?;
        let rows = weight.shape.first().copied().unwrap_or(0);
        if rows == 0 || rows % parts.len() != 0 || bias.shape != [rows] {
            return Err(ConvertError::Format(format!(
                "`{src}`: cannot split weight {:?} / bias {:?} into {} parts",
                weight.shape,
                bias.shape,
                parts.len()
            )));
        }
        let d = rows / parts.len();
        for (i, part) in parts.iter().enumerate() {
            let range = i * d..(i + 1) * d;
            self.emit(
                &format!("{dst}.{part}.weight"),
                &weight.rows(range.clone())?,
            )?;
            let b = bias.rows(range)?;
            if *part == "key" {
                if b.to_f32()?.iter().any(|&v| v != 0.0) {
                    return Err(ConvertError::Unsupported(format!(
                        "`{src}` has a non-zero key bias, which whisper.cpp cannot represent"
                    )));
                }
            } else {
                self.emit(&format!("{dst}.{part}.bias"), &b)?;
            }
        }
        Ok(())
    }

    /// A layer's self-attention: its layer norm, the fused query/key/value
    /// projection split in three, and the output projection.
    fn self_attention(&mut self, src: &str, dst: &str) -> Result<(), ConvertError> {
        self.layer_norm(
            &format!("{src}/self_attention/layer_norm"),
            &format!("{dst}.attn_ln"),
        )?;
        self.split(
            &format!("{src}/self_attention/linear_0"),
            &format!("{dst}.attn"),
            &["query", "key", "value"],
        )?;
        self.linear(
            &format!("{src}/self_attention/linear_1"),
            &format!("{dst}.attn.out"),
        )
    }

    fn encoder(&mut self, layers: usize) -> Result<(), ConvertError> {
        self.copy(
            "encoder/position_encodings/encodings",
            "encoder.positional_embedding",
        )?;
        self.linear("encoder/conv1", "encoder.conv1")?;
        self.linear("encoder/conv2", "encoder.conv2")?;
        for i in 0..layers {
            let (src, dst) = (format!("encoder/layer_{i}"), format!("encoder.blocks.{i}"));
            self.self_attention(&src, &dst)?;
            self.ffn(&src, &dst)?;
        }
        self.layer_norm("encoder/layer_norm", "encoder.ln_post")
    }

    fn decoder(&mut self, layers: usize) -> Result<(), ConvertError> {
        self.copy(
            "decoder/position_encodings/encodings",
            "decoder.positional_embedding",
        )?;
        self.copy(
            "decoder/embeddings/weight",
            "decoder.token_embedding.weight",
        )?;
        for i in 0..layers {
            let (src, dst) = (format!("decoder/layer_{i}"), format!("decoder.blocks.{i}"));
            self.self_attention(&src, &dst)?;
            self.layer_norm(
                &format!("{src}/attention/layer_norm"),
                &format!("{dst}.cross_attn_ln"),
            )?;
            self.linear(
                &format!("{src}/attention/linear_0"),
                &format!("{dst}.cross_attn.query"),
            )?;
            self.split(
                &format!("{src}/attention/linear_1"),
                &format!("{dst}.cross_attn"),
                &["key", "value"],
            )?;
            self.linear(
                &format!("{src}/attention/linear_2"),
                &format!("{dst}.cross_attn.out"),
            )?;
            self.ffn(&src, &dst)?;
        }
        self.layer_norm("decoder/layer_norm", "decoder.ln")
    }

    fn ffn(&mut self, src: &str, dst: &str) -> Result<(), ConvertError> {
        self.layer_norm(&format!("{src}/ffn/layer_norm"), &format!("{dst}.mlp_ln"))?;
        self.linear(&format!("{src}/ffn/linear_0"), &format!("{dst}.mlp.0"))?;
        self.linear(&format!("{src}/ffn/linear_1"), &format!("{dst}.mlp.2"))
    }
}

/// Convenience for callers holding paths: converts `model` + `vocabulary` into the file `output`
/// (written directly; the fetch path uses a temporary name and renames).
pub fn convert_to_path(
    model: &Path,
    vocabulary: &Path,
    output: &Path,
) -> Result<ConvertSummary, ConvertError> {
    let file = fs::File::create(output)?;
    let mut out = std::io::BufWriter::new(file);
    let summary = convert_files(model, vocabulary, &mut out)?;
    out.flush()?;
    Ok(summary)
}
