//! Prompt batches (8 tokens or more): each projection is one matrix product (candle's gemm over
//! dense f32 weights on the fast path, its int8 kernels over the file's blocks otherwise), and
//! everything else runs on plain slices.
//!
//! Why slices rather than candle tensors for norms, rotary embedding, residuals, the causal
//! mask and softmax (the session-2 batch): candle runs element-wise tensor operations on its
//! spin-barrier pool, a third thread beside the two of the engine's rayon pool, and each of the
//! ~20 operations per layer allocates its output (page faults on every prompt) and waits at a
//! barrier. Here attention scores and weighted values are gemm products (one per kv head
//! group, query heads of a group folded into rows: no KV-head copies), and scale, mask and
//! softmax are one pass over the score rows, split over the engine's rayon pool.

use candle_core::{Device, Tensor};
use rayon::prelude::*;

use super::forward::{Proj, Transformer};
use super::kernels;
use super::kv::{KvCache, LayerKv};

impl Proj {
    /// A prompt batch `x` (`[rows, in]`) → `[rows, sum(parts)]`, parts side by side.
    pub(super) fn forward_rows(&self, x: &[f32], rows: usize) -> candle_core::Result<Vec<f32>> {
        let input = Tensor::from_slice(x, (rows, x.len() / rows.max(1)), &Device::Cpu)?;
        let y = match &self.batch {
            super::forward::Batch::Dense(w) => input.matmul(&w.t()?)?,
            super::forward::Batch::Quant(q) => {
                let outs = q
                    .iter()
                    .map(|q| candle_core::Module::forward(q, &input))
                    .collect::<candle_core::Result<Vec<_>>>()?;
                Tensor::cat(&outs, 1)?
            }
        };
        let mut y = y.flatten_all()?.to_vec1::<f32>()?;
        if let Some(b) = &self.bias_row {
            for row in y.chunks_exact_mut(b.len()) {
                for (o, b) in row.iter_mut().zip(b) {
                    *o += b;
                }
            }
        }
        Ok(y)
    }
}

impl Transformer {
    /// A prompt batch at positions `kv.len()..`; appends its keys and values to `kv` and
    /// returns the hidden state of its last token (before the final norm).
    pub(super) fn batch(&self, tokens: &[u32], kv: &mut KvCache) -> candle_core::Result<Vec<f32>> {
        let hy = &self.hyper;
        let (pos, rows, hidden) = (kv.len, tokens.len(), self.hidden);
        let eps = hy.rms_eps as f32;
        let (q_len, kv_len) = (hy.n_head * hy.head_dim, hy.n_kv_head * hy.head_dim);
        let width = q_len + 2 * kv_len;
        let half = hy.head_dim / 2;
        let mut x = vec![0f32; rows * hidden];
        for (&t, row) in tokens.iter().zip(x.chunks_exact_mut(hidden)) {
            self.embed.row(t as usize, row);
        }
        let mut h = vec![0f32; rows * hidden];
        for (layer, cache) in self.layers.iter().zip(kv.layers.iter_mut()) {
            norm_rows(&x, &layer.attn_norm, eps, &mut h);
            let mut qkv = layer.qkv.forward_rows(&h, rows)?;
            for (i, r) in qkv.chunks_exact_mut(width).enumerate() {
                let p = pos + i;
                let (cos, sin) = (
                    &self.cos_rows[p * half..(p + 1) * half],
                    &self.sin_rows[p * half..(p + 1) * half],
                );
                let (q, rest) = r.split_at_mut(q_len);
                let (k, v) = rest.split_at_mut(kv_len);
                kernels::rope(q, hy.head_dim, cos, sin, hy.rope_neox);
                kernels::rope(k, hy.head_dim, cos, sin, hy.rope_neox);
                cache.append(k, v);
            }
            let att = self.batch_attention(&qkv, rows, pos, cache)?;
            add(&mut x, &layer.out.forward_rows(&att, rows)?);
            norm_rows(&x, &layer.ffn_norm, eps, &mut h);
            let gu = layer.gate_up.forward_rows(&h, rows)?;
            let ff = layer.gate_up.parts[0];
            let mut m = vec![0f32; rows * ff];
            for (mr, g) in m.chunks_exact_mut(ff).zip(gu.chunks_exact(2 * ff)) {
                mr.copy_from_slice(&g[..ff]);
                kernels::silu_mul(mr, &g[ff..]);
            }
            add(&mut x, &layer.down.forward_rows(&m, rows)?);
        }
        kv.len = pos + rows;
        Ok(x[(rows - 1) * hidden..].to_vec())
    }

    /// Causal self-attention of `rows` new tokens (`qkv`: `[rows, q | k | v]`, rotated) over
    /// the cache, which already holds their keys and values; returns `[rows, n_head * head_dim]`.
    fn batch_attention(
        &self,
        qkv: &[f32],
        rows: usize,
        pos: usize,
        cache: &LayerKv,
    ) -> candle_core::Result<Vec<f32>> {
        let hy = &self.hyper;
        let (d, n_kv) = (hy.head_dim, hy.n_kv_head);
        let group = hy.n_head / n_kv;
        let width = (hy.n_head + 2 * n_kv) * d;
        let total = pos + rows;
        // Queries `[kv head][query head in group][row][d]`: a group's heads folded into rows.
        let mut q = vec![0f32; hy.n_head * rows * d];
        for (i, r) in qkv.chunks_exact(width).enumerate() {
            for head in 0..hy.n_head {
                let dst = (head * rows + i) * d;
                q[dst..dst + d].copy_from_slice(&r[head * d..(head + 1) * d]);
            }
        }
        let dev = Device::Cpu;
        let q = Tensor::from_vec(q, (n_kv, group * rows, d), &dev)?;
        let k = Tensor::from_vec(cache.k.concat(), (n_kv, total, d), &dev)?;
        let v = Tensor::from_vec(cache.v.concat(), (n_kv, total, d), &dev)?;
        let mut scores = q.matmul(&k.t()?)?.flatten_all()?.to_vec1::<f32>()?;
        let scale = 1.0 / (d as f32).sqrt();
        scores
            .par_chunks_mut(total)
            .enumerate()
            .for_each(|(r, s)| kernels::softmax_causal(s, scale, pos + r % rows + 1));
        let probs = Tensor::from_vec(scores, (n_kv, group * rows, total), &dev)?;
        let y = probs.matmul(&v)?.flatten_all()?.to_vec1::<f32>()?;
        // Back to `[row][head][d]`.
        let mut out = vec![0f32; rows * hy.n_head * d];
        for head in 0..hy.n_head {
            for i in 0..rows {
                let src = (head * rows + i) * d;
                let dst = (i * hy.n_head + head) * d;
                out[dst..dst + d].copy_from_slice(&y[src..src + d]);
            }
        }
        Ok(out)
    }
}

/// RMS norm of every row of `x` into `out`.
fn norm_rows(x: &[f32], weight: &[f32], eps: f32, out: &mut [f32]) {
    let n = weight.len();
    for (xr, or) in x.chunks_exact(n).zip(out.chunks_exact_mut(n)) {
        kernels::rms_norm(xr, weight, eps, or);
    }
}

fn add(x: &mut [f32], y: &[f32]) {
    for (a, b) in x.iter_mut().zip(y) {
        *a += b;
    }
}
