//! The transformer forward pass for Llama- and Qwen2-family GGUF models, derived from candle's
//! `quantized_llama` with the changes measured in shared/LLM.md:
//!
//! - prompt batches of 8 rows or more multiply with dense f32 weights (candle's fast int8
//!   kernel needs widths that are multiples of 256, SmolLM2's 576 is not, so quantized prompt
//!   batches fall back to slow paths while dense gemm is fast);
//! - single-token decoding multiplies with Q8_0 weights (memory-bound, 4x less to read);
//! - q/k/v and gate/up are fused into one matrix each (one pass over the activations);
//! - grouped-query attention folds the query heads of a group into rows instead of copying
//!   the shared key/value heads;
//! - the KV cache is a value ([`KvCache`]) owned by the caller, grown with `Tensor::cat`, so a
//!   clone is an independent snapshot that shares storage until it grows.
//!
//! With the fast path off, the file's own quantized weights serve every matmul (for models
//! whose dense copy would not fit in memory).

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{DType, Device, Module, Tensor, D};

use super::gguf::{Hyper, ModelFile};
use crate::LlmError;

/// Rows from which a batch uses the dense weights.
const DENSE_MIN_ROWS: usize = 8;

/// One projection, possibly several fused into one matrix.
struct Proj {
    /// Output widths of the logical parts (q, k, v or gate, up).
    parts: Vec<usize>,
    /// Dense weights `[sum(parts), in]` (fast path only).
    dense: Option<Tensor>,
    /// Either one fused quantized matrix or one per part.
    quant: Vec<QMatMul>,
    /// Biases per part (Qwen2 q/k/v).
    bias: Vec<Option<Tensor>>,
}

impl Proj {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Vec<Tensor>> {
        let rows = x.dim(0)?;
        let outs = match (&self.dense, self.quant.len()) {
            (Some(w), _) if rows >= DENSE_MIN_ROWS => split(&x.matmul(&w.t()?)?, &self.parts)?,
            (_, 1) => split(&self.quant[0].forward(x)?, &self.parts)?,
            _ => self
                .quant
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

struct Layer {
    attn_norm: Tensor,
    ffn_norm: Tensor,
    qkv: Proj,
    out: Proj,
    gate_up: Proj,
    down: Proj,
}

/// Keys and values of the tokens a conversation has seen, per layer.
#[derive(Clone, Default)]
pub(crate) struct KvCache {
    layers: Vec<(Tensor, Tensor)>,
    len: usize,
}

impl KvCache {
    /// Tokens cached.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Keeps the first `n` tokens (a view; the next append copies).
    pub(crate) fn truncate(&mut self, n: usize) -> candle_core::Result<()> {
        if n >= self.len {
            return Ok(());
        }
        if n == 0 {
            *self = Self::default();
            return Ok(());
        }
        for (k, v) in self.layers.iter_mut() {
            *k = k.narrow(2, 0, n)?;
            *v = v.narrow(2, 0, n)?;
        }
        self.len = n;
        Ok(())
    }

    /// Bytes held (f32 keys and values).
    pub(crate) fn bytes(&self) -> usize {
        self.layers
            .iter()
            .map(|(k, v)| (k.elem_count() + v.elem_count()) * 4)
            .sum()
    }
}

/// The weights of a loaded model, shared by every conversation.
pub(crate) struct Transformer {
    hyper: Hyper,
    embed: Tensor,
    layers: Vec<Layer>,
    norm: Tensor,
    lm_head: QMatMul,
    cos: Tensor,
    sin: Tensor,
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
        let embed = embed_q.dequantize(&dev)?;
        let lm_head = match get("output.weight") {
            Ok(q) if fast => {
                QMatMul::from_qtensor(QTensor::quantize(&q.dequantize(&dev)?, GgmlDType::Q8_0)?)?
            }
            Ok(q) => QMatMul::from_qtensor(q)?,
            Err(_) if fast => QMatMul::from_qtensor(QTensor::quantize(&embed, GgmlDType::Q8_0)?)?,
            Err(_) => QMatMul::from_qtensor(embed_q)?,
        };
        let norm = get("output_norm.weight")?.dequantize(&dev)?;
        let mut layers = Vec::with_capacity(h.n_layer);
        for i in 0..h.n_layer {
            let p = |s: &str| format!("blk.{i}.{s}");
            let mut proj = |names: &[&str], biases: bool| -> Result<Proj, LlmError> {
                let qs = names
                    .iter()
                    .map(|n| get(&p(&format!("{n}.weight"))))
                    .collect::<Result<Vec<_>, _>>()?;
                let parts = qs.iter().map(|q| q.shape().dims()[0]).collect();
                let bias = names
                    .iter()
                    .map(|n| {
                        if biases {
                            get(&p(&format!("{n}.bias")))
                                .ok()
                                .map(|b| b.dequantize(&dev))
                                .transpose()
                        } else {
                            Ok(None)
                        }
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                if fast {
                    let dense = qs
                        .iter()
                        .map(|q| q.dequantize(&dev))
                        .collect::<Result<Vec<_>, _>>()?;
                    let dense = Tensor::cat(&dense, 0)?;
                    let q8 = QMatMul::from_qtensor(QTensor::quantize(&dense, GgmlDType::Q8_0)?)?;
                    Ok(Proj {
                        parts,
                        dense: Some(dense),
                        quant: vec![q8],
                        bias,
                    })
                } else {
                    let quant = qs
                        .into_iter()
                        .map(QMatMul::from_qtensor)
                        .collect::<Result<Vec<_>, _>>()?;
                    Ok(Proj {
                        parts,
                        dense: None,
                        quant,
                        bias,
                    })
                }
            };
            let qkv = proj(&["attn_q", "attn_k", "attn_v"], true)?;
            let out = proj(&["attn_output"], false)?;
            let gate_up = proj(&["ffn_gate", "ffn_up"], false)?;
            let down = proj(&["ffn_down"], false)?;
            let attn_norm = get(&p("attn_norm.weight"))?.dequantize(&dev)?;
            let ffn_norm = get(&p("ffn_norm.weight"))?.dequantize(&dev)?;
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
            embed,
            layers,
            norm,
            lm_head,
            cos,
            sin,
            max_positions,
        })
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
        let dev = Device::Cpu;
        let ids = Tensor::new(tokens, &dev)?;
        let mut x = self.embed.index_select(&ids, 0)?;
        let mask = if rows > 1 {
            Some(causal_mask(rows, pos)?)
        } else {
            None
        };
        let cos = self.cos.narrow(0, pos, rows)?;
        let sin = self.sin.narrow(0, pos, rows)?;
        let eps = self.hyper.rms_eps as f32;
        let fresh = kv.layers.is_empty();
        for (i, layer) in self.layers.iter().enumerate() {
            let h = candle_nn::ops::rms_norm(&x, &layer.attn_norm, eps)?;
            let qkv = layer.qkv.forward(&h)?;
            let cache = if fresh { None } else { kv.layers.get(i) };
            let (attn, k, v) = self.attention(&qkv, cache, mask.as_ref(), &cos, &sin)?;
            if fresh {
                kv.layers.push((k, v));
            } else {
                kv.layers[i] = (k, v);
            }
            let attn = layer.out.forward(&attn)?.remove(0);
            x = (x + attn)?;
            let h = candle_nn::ops::rms_norm(&x, &layer.ffn_norm, eps)?;
            let gu = layer.gate_up.forward(&h)?;
            let m = (candle_nn::ops::silu(&gu[0])? * &gu[1])?;
            x = (x + layer.down.forward(&m)?.remove(0))?;
        }
        kv.len = pos + rows;
        let last = x.narrow(0, rows - 1, 1)?;
        let last = candle_nn::ops::rms_norm(&last, &self.norm, eps)?;
        let logits = self
            .lm_head
            .forward(&last)?
            .squeeze(0)?
            .to_dtype(DType::F32)?;
        Ok(logits.to_vec1::<f32>()?)
    }

    /// Self-attention of one layer; returns the output `[rows, hidden]` and the grown cache.
    fn attention(
        &self,
        qkv: &[Tensor],
        cache: Option<&(Tensor, Tensor)>,
        mask: Option<&Tensor>,
        cos: &Tensor,
        sin: &Tensor,
    ) -> candle_core::Result<(Tensor, Tensor, Tensor)> {
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
        let (k, v) = match cache {
            Some((ck, cv)) => (Tensor::cat(&[ck, &k], 2)?, Tensor::cat(&[cv, &v], 2)?),
            None => (k, v),
        };
        let kv_len = k.dim(2)?;
        let group = h.n_head / h.n_kv_head;
        // Query heads h*group..(h+1)*group share key/value head h: fold them into rows.
        let q = q.reshape((1, h.n_kv_head, group * rows, h.head_dim))?;
        let att = (q.matmul(&k.t()?)? * (1.0 / (h.head_dim as f64).sqrt()))?;
        let att = match mask {
            Some(m) => att.reshape((h.n_head, rows, kv_len))?.broadcast_add(m)?,
            None => att,
        };
        let att = candle_nn::ops::softmax_last_dim(&att.reshape((
            1,
            h.n_kv_head,
            group * rows,
            kv_len,
        ))?)?;
        let y = att.matmul(&v)?;
        let y = y
            .reshape((1, h.n_head, rows, h.head_dim))?
            .transpose(1, 2)?
            .reshape((rows, h.n_head * h.head_dim))?;
        Ok((y, k, v))
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
