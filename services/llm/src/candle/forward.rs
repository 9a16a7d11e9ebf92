//! The transformer forward pass for Llama- and Qwen2-family GGUF models, derived from candle's
//! `quantized_llama` with the changes measured in shared/LLM.md and in `llm-bench`:
//!
//! - prompt batches of 8 rows or more (`batch.rs`) multiply by dense f32 weights on the fast
//!   path (candle's fast int8 kernel needs widths that are multiples of 256, SmolLM2's 576 is
//!   not, so quantized prompt batches fall back to slow paths while dense gemm is fast), by the
//!   file's quantized weights otherwise (large models, whose dense copy would not fit);
//! - single tokens (and batches under 8 rows, token by token) run on plain slices with the
//!   kernels of [`super::kernels`]: on the fast path the file's Q4_1 blocks as they are (`q4.rs`)
//!   or Q8_0 for other types (`q8.rs`), the file's blocks otherwise, rows split over the
//!   engine's rayon pool;
//! - q/k/v and gate/up are fused into one matrix each on the fast path;
//! - grouped-query attention reads the shared key/value heads in place (no KV-head copies);
//! - the KV cache is a value ([`KvCache`], `kv.rs`) of plain vectors owned by the caller:
//!   appending a token writes only that token, and a clone is an independent snapshot.

use candle_core::quantized::{QMatMul, QTensor};
use candle_core::{Device, Tensor};

use super::gguf::{Hyper, ModelFile};
use super::kernels::{self, QRows};
pub(crate) use super::kv::KvCache;
use super::kv::LayerKv;
use super::simd::Simd;
use crate::LlmError;

/// Rows from which a prompt batch runs as tensors rather than token by token.
const BATCH_MIN_ROWS: usize = 8;

/// Weights for prompt batches.
pub(super) enum Batch {
    /// Dense f32 `[sum(parts), in]`, row-major (fast path). Stored transposed (`[in, out]`),
    /// gemm skips repacking them but the turn took 25% more CPU (`llm-bench`, 460 against
    /// 370 ms).
    Dense(Vec<f32>),
    /// The file's quantized matrices, one per part.
    Quant(Vec<QMatMul>),
}

/// One projection, possibly several fused into one matrix.
pub(super) struct Proj {
    /// Output widths of the logical parts (q, k, v or gate, up).
    pub(super) parts: Vec<usize>,
    pub(super) batch: Batch,
    /// Single-token weights: one fused matrix or one per part.
    rows: Vec<QRows>,
    /// Biases of the parts concatenated (zeros where a part has none; Qwen2 q/k/v).
    pub(super) bias_row: Option<Vec<f32>>,
}

impl Proj {
    /// One token: all parts concatenated.
    fn gemv(&self, x: &[f32]) -> Vec<f32> {
        let mut out = vec![0f32; self.parts.iter().sum()];
        let mut start = 0;
        for r in &self.rows {
            r.gemv(x, &mut out[start..start + r.rows()]);
            start += r.rows();
        }
        if let Some(b) = &self.bias_row {
            for (o, b) in out.iter_mut().zip(b) {
                *o += b;
            }
        }
        out
    }
}

/// A norm's weight.
fn norm_weight(tensor: Tensor) -> candle_core::Result<Vec<f32>> {
    tensor.to_vec1::<f32>()
}

pub(super) struct Layer {
    pub(super) attn_norm: Vec<f32>,
    pub(super) ffn_norm: Vec<f32>,
    pub(super) qkv: Proj,
    pub(super) out: Proj,
    pub(super) gate_up: Proj,
    pub(super) down: Proj,
}

/// The weights of a loaded model, shared by every conversation.
pub(crate) struct Transformer {
    pub(super) hyper: Hyper,
    pub(super) hidden: usize,
    /// Token embeddings in the file's own blocks (a row is dequantized per token).
    pub(super) embed: QRows,
    pub(super) layers: Vec<Layer>,
    norm: Vec<f32>,
    lm_head: QRows,
    /// Rotary angles per position, half a head each.
    pub(super) cos_rows: Vec<f32>,
    pub(super) sin_rows: Vec<f32>,
    /// Longest sequence the rotary tables cover.
    pub max_positions: usize,
}

impl Transformer {
    /// Loads the weights; `fast` builds the dense copies and the single-token rows (Q4_1 as in
    /// the file, else Q8_0).
    pub(crate) fn load(
        file: &mut ModelFile,
        fast: bool,
        max_positions: usize,
        simd: Simd,
    ) -> Result<Self, LlmError> {
        let dev = Device::Cpu;
        let h = file.hyper.clone();
        let mut get = |name: &str| -> Result<QTensor, LlmError> {
            file.content
                .tensor(&mut file.reader, name, &dev)
                .map_err(|e| LlmError::ModelLoad {
                    path: Default::default(),
                    reason: format!("tensor {name}: {e}"),
                })
        };
        let embed_q = get("token_embd.weight")?;
        let embed = QRows::from_qtensor(&embed_q, simd)?;
        let hidden = embed_q.shape().dims2()?.1;
        // Single-token weights on the fast path: the file's Q4_1 blocks as they are (the
        // default model; `q4.rs`), any other type as Q8_0.
        let decode_rows = |q: &QTensor| -> candle_core::Result<QRows> {
            match QRows::stacked_q4_1(std::slice::from_ref(q), simd)? {
                Some(rows) => Ok(rows),
                None => QRows::q8_0(&q.dequantize(&dev)?, simd),
            }
        };
        let lm_head = match get("output.weight") {
            Ok(q) if fast => decode_rows(&q)?,
            Ok(q) => QRows::from_qtensor(&q, simd)?,
            Err(_) if fast => decode_rows(&embed_q)?,
            Err(_) => QRows::from_qtensor(&embed_q, simd)?,
        };
        let norm = norm_weight(get("output_norm.weight")?.dequantize(&dev)?)?;
        let mut layers = Vec::with_capacity(h.n_layer);
        for i in 0..h.n_layer {
            let p = |s: &str| format!("blk.{i}.{s}");
            let mut proj = |names: &[&str], biases: bool| -> Result<Proj, LlmError> {
                let qs = names
                    .iter()
                    .map(|n| get(&p(&format!("{n}.weight"))))
                    .collect::<Result<Vec<_>, _>>()?;
                let parts: Vec<usize> = qs.iter().map(|q| q.shape().dims()[0]).collect();
                let bias = names
                    .iter()
                    .map(|n| match biases {
                        true => get(&p(&format!("{n}.bias")))
                            .ok()
                            .map(|b| b.dequantize(&dev))
                            .transpose(),
                        false => Ok(None),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let bias_row = if bias.iter().any(Option::is_some) {
                    let mut row = Vec::new();
                    for (b, &n) in bias.iter().zip(&parts) {
                        match b {
                            Some(b) => row.extend(b.to_vec1::<f32>()?),
                            None => row.extend(std::iter::repeat_n(0.0, n)),
                        }
                    }
                    Some(row)
                } else {
                    None
                };
                let (batch, rows) = if fast {
                    let dense = qs
                        .iter()
                        .map(|q| q.dequantize(&dev))
                        .collect::<Result<Vec<_>, _>>()?;
                    let dense = Tensor::cat(&dense, 0)?;
                    let rows = match QRows::stacked_q4_1(&qs, simd)? {
                        Some(rows) => vec![rows],
                        None => vec![QRows::q8_0(&dense, simd)?],
                    };
                    (Batch::Dense(dense.flatten_all()?.to_vec1::<f32>()?), rows)
                } else {
                    let rows = qs
                        .iter()
                        .map(|q| QRows::from_qtensor(q, simd))
                        .collect::<Result<Vec<_>, _>>()?;
                    let quant = qs
                        .into_iter()
                        .map(QMatMul::from_qtensor)
                        .collect::<Result<Vec<_>, _>>()?;
                    (Batch::Quant(quant), rows)
                };
                Ok(Proj {
                    parts,
                    batch,
                    rows,
                    bias_row,
                })
            };
            let qkv = proj(&["attn_q", "attn_k", "attn_v"], true)?;
            let out = proj(&["attn_output"], false)?;
            let gate_up = proj(&["ffn_gate", "ffn_up"], false)?;
            let down = proj(&["ffn_down"], false)?;
            let attn_norm = norm_weight(get(&p("attn_norm.weight"))?.dequantize(&dev)?)?;
            let ffn_norm = norm_weight(get(&p("ffn_norm.weight"))?.dequantize(&dev)?)?;
            layers.push(Layer {
                attn_norm,
                ffn_norm,
                qkv,
                out,
                gate_up,
                down,
            });
        }
        let (cos_rows, sin_rows) = rotary_tables(h.head_dim, h.rope_base, max_positions);
        Ok(Self {
            hyper: h,
            hidden,
            embed,
            layers,
            norm,
            lm_head,
            cos_rows,
            sin_rows,
            max_positions,
        })
    }

    /// Bytes of the single-token weights (for the load log).
    pub(crate) fn decode_weight_bytes(&self) -> usize {
        let proj = |p: &Proj| p.rows.iter().map(QRows::bytes).sum::<usize>();
        self.embed.bytes()
            + self.lm_head.bytes()
            + self
                .layers
                .iter()
                .map(|l| proj(&l.qkv) + proj(&l.out) + proj(&l.gate_up) + proj(&l.down))
                .sum::<usize>()
    }

    /// Runs `tokens` at positions `kv.len()..`, appends their keys and values to `kv`, and
    /// returns the logits of the last token.
    pub(crate) fn forward(&self, tokens: &[u32], kv: &mut KvCache) -> Result<Vec<f32>, LlmError> {
        let pos = kv.len;
        let rows = tokens.len();
        if rows == 0 {
            return Err(LlmError::Inference("forward called with no tokens".into()));
        }
        if pos + rows > self.max_positions {
            return Err(LlmError::Inference(format!(
                "position {} is past the context window of {}",
                pos + rows,
                self.max_positions
            )));
        }
        if let Some(&bad) = tokens.iter().find(|&&t| t as usize >= self.embed.rows()) {
            return Err(LlmError::Inference(format!(
                "token {bad} is outside the vocabulary"
            )));
        }
        if kv.layers.len() != self.layers.len() {
            kv.layers = vec![LayerKv::new(self.hyper.n_kv_head); self.layers.len()];
        }
        let last = if rows < BATCH_MIN_ROWS {
            let mut x = Vec::new();
            for &t in tokens {
                x = self.decode(t, kv);
            }
            x
        } else {
            self.batch(tokens, kv)?
        };
        let mut h = vec![0f32; self.hidden];
        kernels::rms_norm(&last, &self.norm, self.hyper.rms_eps as f32, &mut h);
        let mut logits = vec![0f32; self.lm_head.rows()];
        self.lm_head.gemv(&h, &mut logits);
        Ok(logits)
    }

    /// One token on plain slices; returns its hidden state (before the final norm).
    fn decode(&self, token: u32, kv: &mut KvCache) -> Vec<f32> {
        let hy = &self.hyper;
        let eps = hy.rms_eps as f32;
        let half = hy.head_dim / 2;
        let pos = kv.len;
        let (cos, sin) = (
            &self.cos_rows[pos * half..(pos + 1) * half],
            &self.sin_rows[pos * half..(pos + 1) * half],
        );
        let q_len = hy.n_head * hy.head_dim;
        let kv_len = hy.n_kv_head * hy.head_dim;
        let mut x = vec![0f32; self.hidden];
        self.embed.row(token as usize, &mut x);
        let mut h = vec![0f32; self.hidden];
        let mut att = vec![0f32; q_len];
        for (layer, cache) in self.layers.iter().zip(kv.layers.iter_mut()) {
            kernels::rms_norm(&x, &layer.attn_norm, eps, &mut h);
            let mut qkv = layer.qkv.gemv(&h);
            let (q, rest) = qkv.split_at_mut(q_len);
            let (k, v) = rest.split_at_mut(kv_len);
            kernels::rope(q, hy.head_dim, cos, sin, hy.rope_neox);
            kernels::rope(k, hy.head_dim, cos, sin, hy.rope_neox);
            cache.append(k, v);
            kernels::attend(q, &cache.k, &cache.v, hy.head_dim, &mut att);
            for (x, o) in x.iter_mut().zip(layer.out.gemv(&att)) {
                *x += o;
            }
            kernels::rms_norm(&x, &layer.ffn_norm, eps, &mut h);
            let mut gu = layer.gate_up.gemv(&h);
            let (gate, up) = gu.split_at_mut(layer.gate_up.parts[0]);
            kernels::silu_mul(gate, up);
            for (x, d) in x.iter_mut().zip(layer.down.gemv(gate)) {
                *x += d;
            }
        }
        kv.len = pos + 1;
        x
    }
}

/// Rotary angles' cosines and sines, `[position][head_dim / 2]`.
fn rotary_tables(head_dim: usize, base: f32, positions: usize) -> (Vec<f32>, Vec<f32>) {
    let inv: Vec<f32> = (0..head_dim)
        .step_by(2)
        .map(|i| 1.0 / base.powf(i as f32 / head_dim as f32))
        .collect();
    let mut cos = Vec::with_capacity(positions * inv.len());
    let mut sin = Vec::with_capacity(positions * inv.len());
    for p in 0..positions {
        for &f in &inv {
            let a = p as f32 * f;
            cos.push(a.cos());
            sin.push(a.sin());
        }
    }
    (cos, sin)
}
