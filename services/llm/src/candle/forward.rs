//! The transformer forward pass for Llama- and Qwen2-family GGUF models, derived from candle's
//! `quantized_llama` with the changes measured in shared/LLM.md and in `llm-bench`:
//!
//! - prompt batches of 8 rows or more go through candle tensors: dense f32 weights on the fast
//!   path (candle's fast int8 kernel needs widths that are multiples of 256, SmolLM2's 576 is
//!   not, so quantized prompt batches fall back to slow paths while dense gemm is fast), the
//!   file's quantized weights otherwise (large models, whose dense copy would not fit);
//! - single tokens (and batches under 8 rows, token by token) run on plain slices with the
//!   kernels of [`super::kernels`]: Q8_0 weights on the fast path, the file's blocks otherwise,
//!   on the engine thread alone (no thread pool to wait for on a busy machine);
//! - q/k/v and gate/up are fused into one matrix each on the fast path;
//! - grouped-query attention reads the shared key/value heads in place (no KV-head copies);
//! - the KV cache is a value ([`KvCache`], `kv.rs`) of plain vectors owned by the caller:
//!   appending a token writes only that token, and a clone is an independent snapshot.

use candle_core::quantized::{QMatMul, QTensor};
use candle_core::{DType, Device, Module, Tensor, D};

use super::gguf::{Hyper, ModelFile};
use super::kernels::{self, QRows};
pub(crate) use super::kv::KvCache;
use super::kv::LayerKv;
use crate::LlmError;

/// Rows from which a prompt batch runs as tensors rather than token by token.
const BATCH_MIN_ROWS: usize = 8;

/// Weights for prompt batches.
enum Batch {
    /// Dense f32 `[sum(parts), in]` (fast path).
    Dense(Tensor),
    /// The file's quantized matrices, one per part.
    Quant(Vec<QMatMul>),
}

/// One projection, possibly several fused into one matrix.
struct Proj {
    /// Output widths of the logical parts (q, k, v or gate, up).
    parts: Vec<usize>,
    batch: Batch,
    /// Single-token weights: one fused matrix or one per part.
    rows: Vec<QRows>,
    /// Biases per part (Qwen2 q/k/v), as tensors for batches.
    bias: Vec<Option<Tensor>>,
    /// The same biases concatenated (zeros where a part has none), for single tokens.
    bias_row: Option<Vec<f32>>,
}

impl Proj {
    /// A prompt batch `[rows, in]` → one tensor per part.
    fn forward(&self, x: &Tensor) -> candle_core::Result<Vec<Tensor>> {
        let outs = match &self.batch {
            Batch::Dense(w) => split(&x.matmul(&w.t()?)?, &self.parts)?,
            Batch::Quant(q) => q
                .iter()
                .map(|q| q.forward(x))
                .collect::<candle_core::Result<_>>()?,
        };
        outs.into_iter()
            .zip(&self.bias)
            .map(|(o, b)| match b {
                Some(b) => o.broadcast_add(b),
                None => Ok(o),
            })
            .collect()
    }

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

fn split(y: &Tensor, parts: &[usize]) -> candle_core::Result<Vec<Tensor>> {
    if parts.len() == 1 {
        return Ok(vec![y.clone()]);
    }
    let mut start = 0;
    parts
        .iter()
        .map(|&n| {
            let t = y.narrow(D::Minus1, start, n)?.contiguous();
            start += n;
            t
        })
        .collect()
}

/// A norm's weight, as a tensor for batches and a vector for single tokens.
struct Norm {
    tensor: Tensor,
    row: Vec<f32>,
}

impl Norm {
    fn new(tensor: Tensor) -> candle_core::Result<Self> {
        let row = tensor.to_vec1::<f32>()?;
        Ok(Self { tensor, row })
    }
}

struct Layer {
    attn_norm: Norm,
    ffn_norm: Norm,
    qkv: Proj,
    out: Proj,
    gate_up: Proj,
    down: Proj,
}

/// The weights of a loaded model, shared by every conversation.
pub(crate) struct Transformer {
    hyper: Hyper,
    hidden: usize,
    /// Token embeddings in the file's own blocks (a row is dequantized per token).
    embed: QRows,
    layers: Vec<Layer>,
    norm: Norm,
    lm_head: QRows,
    cos: Tensor,
    sin: Tensor,
    cos_rows: Vec<f32>,
    sin_rows: Vec<f32>,
    /// Longest sequence the rotary tables cover.
    pub max_positions: usize,
}

impl Transformer {
    /// Loads the weights; `fast` builds the dense and Q8_0 copies.
    pub(crate) fn load(
        file: &mut ModelFile,
        fast: bool,
        max_positions: usize,
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
        let embed = QRows::from_qtensor(&embed_q)?;
        let hidden = embed_q.shape().dims2()?.1;
        let lm_head = match get("output.weight") {
            Ok(q) if fast => QRows::q8_0(&q.dequantize(&dev)?)?,
            Ok(q) => QRows::from_qtensor(&q)?,
            Err(_) if fast => QRows::q8_0(&embed_q.dequantize(&dev)?)?,
            Err(_) => QRows::from_qtensor(&embed_q)?,
        };
        let norm = Norm::new(get("output_norm.weight")?.dequantize(&dev)?)?;
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
                    let rows = vec![QRows::q8_0(&dense)?];
                    (Batch::Dense(dense), rows)
                } else {
                    let rows = qs
                        .iter()
                        .map(QRows::from_qtensor)
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
                    bias,
                    bias_row,
                })
            };
            let qkv = proj(&["attn_q", "attn_k", "attn_v"], true)?;
            let out = proj(&["attn_output"], false)?;
            let gate_up = proj(&["ffn_gate", "ffn_up"], false)?;
            let down = proj(&["ffn_down"], false)?;
            let attn_norm = Norm::new(get(&p("attn_norm.weight"))?.dequantize(&dev)?)?;
            let ffn_norm = Norm::new(get(&p("ffn_norm.weight"))?.dequantize(&dev)?)?;
            layers.push(Layer {
                attn_norm,
                ffn_norm,
                qkv,
                out,
                gate_up,
                down,
            });
        }
        let (cos, sin) = rotary_tables(h.head_dim, h.rope_base, max_positions)?;
        Ok(Self {
            hyper: h,
            hidden,
            embed,
            layers,
            norm,
            lm_head,
            cos_rows: cos.flatten_all()?.to_vec1()?,
            sin_rows: sin.flatten_all()?.to_vec1()?,
            cos,
            sin,
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
        kernels::rms_norm(&last, &self.norm.row, self.hyper.rms_eps as f32, &mut h);
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
            kernels::rms_norm(&x, &layer.attn_norm.row, eps, &mut h);
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
            kernels::rms_norm(&x, &layer.ffn_norm.row, eps, &mut h);
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

    /// A prompt batch as tensors; returns the hidden state of its last token.
    fn batch(&self, tokens: &[u32], kv: &mut KvCache) -> candle_core::Result<Vec<f32>> {
        let hy = &self.hyper;
        let (pos, rows) = (kv.len, tokens.len());
        let dev = Device::Cpu;
        let mut embedded = vec![0f32; rows * self.hidden];
        for (&t, row) in tokens.iter().zip(embedded.chunks_exact_mut(self.hidden)) {
            self.embed.row(t as usize, row);
        }
        let mut x = Tensor::from_vec(embedded, (rows, self.hidden), &dev)?;
        let mask = causal_mask(rows, pos)?;
        let cos = self.cos.narrow(0, pos, rows)?;
        let sin = self.sin.narrow(0, pos, rows)?;
        let eps = hy.rms_eps as f32;
        for (layer, cache) in self.layers.iter().zip(kv.layers.iter_mut()) {
            let h = candle_nn::ops::rms_norm(&x, &layer.attn_norm.tensor, eps)?;
            let qkv = layer.qkv.forward(&h)?;
            let attn = self.attention(&qkv, cache, &mask, &cos, &sin)?;
            let attn = layer.out.forward(&attn)?.remove(0);
            x = (x + attn)?;
            let h = candle_nn::ops::rms_norm(&x, &layer.ffn_norm.tensor, eps)?;
            let gu = layer.gate_up.forward(&h)?;
            let m = (candle_nn::ops::silu(&gu[0])? * &gu[1])?;
            x = (x + layer.down.forward(&m)?.remove(0))?;
        }
        kv.len = pos + rows;
        x.narrow(0, rows - 1, 1)?.flatten_all()?.to_vec1()
    }

    /// Self-attention of one layer over a batch: appends its keys and values to `cache` and
    /// returns the output `[rows, hidden]`.
    fn attention(
        &self,
        qkv: &[Tensor],
        cache: &mut LayerKv,
        mask: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
    ) -> candle_core::Result<Tensor> {
        let h = &self.hyper;
        let rows = qkv[0].dim(0)?;
        let heads = |t: &Tensor, n: usize| {
            t.reshape((1, rows, n, h.head_dim))?
                .transpose(1, 2)?
                .contiguous()
        };
        let rope = |t: &Tensor| {
            if h.rope_neox {
                candle_nn::rotary_emb::rope(t, cos, sin)
            } else {
                candle_nn::rotary_emb::rope_i(t, cos, sin)
            }
        };
        let q = rope(&heads(&qkv[0], h.n_head)?)?;
        let k = rope(&heads(&qkv[1], h.n_kv_head)?)?;
        let v = heads(&qkv[2], h.n_kv_head)?;
        cache.append(
            &k.flatten_all()?.to_vec1::<f32>()?,
            &v.flatten_all()?.to_vec1::<f32>()?,
        );
        let kv_len = cache.k.first().map_or(0, |k| k.len()) / h.head_dim;
        let head_major = |heads: &[Vec<f32>]| {
            Tensor::from_vec(
                heads.concat(),
                (1, h.n_kv_head, kv_len, h.head_dim),
                &Device::Cpu,
            )
        };
        let (k, v) = (head_major(&cache.k)?, head_major(&cache.v)?);
        let group = h.n_head / h.n_kv_head;
        // Query heads h*group..(h+1)*group share key/value head h: fold them into rows.
        let q = q.reshape((1, h.n_kv_head, group * rows, h.head_dim))?;
        let att = (q.matmul(&k.t()?)? * (1.0 / (h.head_dim as f64).sqrt()))?;
        let att = att.reshape((h.n_head, rows, kv_len))?.broadcast_add(mask)?;
        let att = candle_nn::ops::softmax_last_dim(&att.reshape((
            1,
            h.n_kv_head,
            group * rows,
            kv_len,
        ))?)?;
        let y = att.matmul(&v)?;
        y.reshape((1, h.n_head, rows, h.head_dim))?
            .transpose(1, 2)?
            .reshape((rows, h.n_head * h.head_dim))
    }
}

/// Additive mask `[rows, pos + rows]`: query `i` (at position `pos + i`) sees keys `0..=pos + i`.
fn causal_mask(rows: usize, pos: usize) -> candle_core::Result<Tensor> {
    let kv = pos + rows;
    let data: Vec<f32> = (0..rows)
        .flat_map(|i| (0..kv).map(move |j| if j > pos + i { f32::NEG_INFINITY } else { 0.0 }))
        .collect();
    Tensor::from_vec(data, (rows, kv), &Device::Cpu)
}

fn rotary_tables(
    head_dim: usize,
    base: f32,
    positions: usize,
) -> candle_core::Result<(Tensor, Tensor)> {
    let inv: Vec<f32> = (0..head_dim)
        .step_by(2)
        .map(|i| 1.0 / base.powf(i as f32 / head_dim as f32))
        .collect();
    let n = inv.len();
    let inv = Tensor::from_vec(inv, (1, n), &Device::Cpu)?;
    let t = Tensor::arange(0u32, positions as u32, &Device::Cpu)?
        .to_dtype(DType::F32)?
        .reshape((positions, 1))?;
    let freqs = t.matmul(&inv)?;
    Ok((freqs.cos()?, freqs.sin()?))
}
