//! Single-token kernels on plain slices: matrix-vector products over quantized blocks, RMS
//! norm, rotary embedding and attention against the cached keys and values.
//!
//! Why not candle's ops for decoding: a token is about 400 small operations, and candle runs
//! each quantized matmul on its spin-barrier thread pool. On a shared machine a descheduled
//! worker makes every operation wait for the scheduler: at load average 7 on 2 cores
//! generation fell to 4 tokens/s with two threads against 30 with one (`llm-bench`). These
//! kernels run on the engine thread alone, allocate little and never wait for another thread;
//! the dot products themselves are candle's SIMD `vec_dot` over GGML blocks.

use candle_core::quantized::k_quants::{
    BlockQ2K, BlockQ3K, BlockQ4K, BlockQ4_0, BlockQ5K, BlockQ5_0, BlockQ5_1, BlockQ6K, BlockQ8_0,
    GgmlType,
};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use rayon::prelude::*;

use super::q4::Q4Matrix;
use super::q8::Q8Matrix;
use super::simd::Simd;

/// A weight matrix `[rows, cols]` as GGML blocks, row after row.
pub(crate) struct QRows {
    rows: usize,
    cols: usize,
    blocks: Blocks,
}

enum Blocks {
    Q4_0(Vec<BlockQ4_0>),
    /// Q4_1, repacked four rows at a time (`q4.rs`).
    Q4_1(Q4Matrix),
    Q5_0(Vec<BlockQ5_0>),
    Q5_1(Vec<BlockQ5_1>),
    /// Q8_0, repacked four rows at a time (`q8.rs`).
    Q8_0(Q8Matrix),
    Q2K(Vec<BlockQ2K>),
    Q3K(Vec<BlockQ3K>),
    Q4K(Vec<BlockQ4K>),
    Q5K(Vec<BlockQ5K>),
    Q6K(Vec<BlockQ6K>),
}

macro_rules! with_blocks {
    ($blocks:expr, $q8:ident => $packed:expr, $b:ident => $body:expr) => {
        match $blocks {
            Blocks::Q8_0($q8) => $packed,
            Blocks::Q4_1($q8) => $packed,
            Blocks::Q4_0($b) => $body,
            Blocks::Q5_0($b) => $body,
            Blocks::Q5_1($b) => $body,
            Blocks::Q2K($b) => $body,
            Blocks::Q3K($b) => $body,
            Blocks::Q4K($b) => $body,
            Blocks::Q5K($b) => $body,
            Blocks::Q6K($b) => $body,
        }
    };
}

/// Copies raw GGML block bytes into typed blocks.
fn blocks_from_bytes<T: GgmlType>(bytes: &[u8]) -> candle_core::Result<Vec<T>> {
    let size = std::mem::size_of::<T>();
    if size != T::DTYPE.type_size() || !bytes.len().is_multiple_of(size) {
        candle_core::bail!(
            "{:?} data of {} bytes is not whole blocks",
            T::DTYPE,
            bytes.len()
        );
    }
    let n = bytes.len() / size;
    let mut blocks = vec![T::zeros(); n];
    // SAFETY: candle's block types are `repr(C)` structs of integers and f16, valid for any bit
    // pattern; the destination holds exactly `n * size` bytes and does not overlap `bytes`.
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), blocks.as_mut_ptr().cast::<u8>(), n * size);
    }
    Ok(blocks)
}

impl QRows {
    /// Keeps a tensor's own blocks; types without a kernel here are requantized to Q8_0.
    /// `simd` is the path of the repacked Q4_1 and Q8_0 kernels.
    pub(crate) fn from_qtensor(q: &QTensor, simd: Simd) -> candle_core::Result<Self> {
        let (rows, cols) = q.shape().dims2()?;
        let data = q.data()?;
        let blocks = match q.dtype() {
            GgmlDType::Q4_0 => Blocks::Q4_0(blocks_from_bytes(&data)?),
            GgmlDType::Q4_1 => Blocks::Q4_1(Q4Matrix::from_bytes(rows, cols, &data, simd)?),
            GgmlDType::Q5_0 => Blocks::Q5_0(blocks_from_bytes(&data)?),
            GgmlDType::Q5_1 => Blocks::Q5_1(blocks_from_bytes(&data)?),
            GgmlDType::Q8_0 => Blocks::Q8_0(Q8Matrix::from_blocks(
                rows,
                cols,
                &blocks_from_bytes(&data)?,
                simd,
            )?),
            GgmlDType::Q2K => Blocks::Q2K(blocks_from_bytes(&data)?),
            GgmlDType::Q3K => Blocks::Q3K(blocks_from_bytes(&data)?),
            GgmlDType::Q4K => Blocks::Q4K(blocks_from_bytes(&data)?),
            GgmlDType::Q5K => Blocks::Q5K(blocks_from_bytes(&data)?),
            GgmlDType::Q6K => Blocks::Q6K(blocks_from_bytes(&data)?),
            _ => return Self::q8_0(&q.dequantize(&Device::Cpu)?, simd),
        };
        Ok(Self { rows, cols, blocks })
    }

    /// Several Q4_1 matrices of the same width stacked into one (fused projections), in the
    /// file's own blocks; `None` when they are not all Q4_1.
    pub(crate) fn stacked_q4_1(qs: &[QTensor], simd: Simd) -> candle_core::Result<Option<Self>> {
        if qs.iter().any(|q| q.dtype() != GgmlDType::Q4_1) {
            return Ok(None);
        }
        let (mut rows, mut cols, mut bytes) = (0, 0, Vec::new());
        for q in qs {
            let (r, c) = q.shape().dims2()?;
            rows += r;
            cols = c;
            bytes.extend_from_slice(&q.data()?);
        }
        Ok(Some(Self {
            rows,
            cols,
            blocks: Blocks::Q4_1(Q4Matrix::from_bytes(rows, cols, &bytes, simd)?),
        }))
    }

    /// Quantizes a dense `[rows, cols]` matrix to Q8_0.
    pub(crate) fn q8_0(dense: &Tensor, simd: Simd) -> candle_core::Result<Self> {
        let (rows, cols) = dense.dims2()?;
        if !cols.is_multiple_of(BlockQ8_0::BLCK_SIZE) {
            candle_core::bail!("width {cols} is not a multiple of the Q8_0 block");
        }
        let values = dense.flatten_all()?.to_vec1::<f32>()?;
        let mut blocks = vec![BlockQ8_0::zeros(); rows * cols / BlockQ8_0::BLCK_SIZE];
        BlockQ8_0::from_float(&values, &mut blocks);
        Ok(Self {
            rows,
            cols,
            blocks: Blocks::Q8_0(Q8Matrix::from_blocks(rows, cols, &blocks, simd)?),
        })
    }

    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    /// `out[r] = row r · x` for every row, over the current rayon pool.
    pub(crate) fn gemv(&self, x: &[f32], out: &mut [f32]) {
        with_blocks!(&self.blocks, m => m.gemv(x, out), b => gemv_blocks(b, self.cols, x, out))
    }

    /// Row `r` as floats (embedding lookup).
    pub(crate) fn row(&self, r: usize, out: &mut [f32]) {
        with_blocks!(&self.blocks, m => m.row(r, out), b => {
            let per_row = self.cols / block_size_of(b);
            to_float_blocks(&b[r * per_row..(r + 1) * per_row], out)
        })
    }

    /// Bytes held.
    pub(crate) fn bytes(&self) -> usize {
        with_blocks!(&self.blocks, m => m.bytes(), b => std::mem::size_of_val(b.as_slice()))
    }
}

fn block_size_of<T: GgmlType>(_: &[T]) -> usize {
    T::BLCK_SIZE
}

fn to_float_blocks<T: GgmlType>(blocks: &[T], out: &mut [f32]) {
    T::to_float(blocks, out)
}

/// Row chunks split over the current rayon pool (the caller runs what nobody steals).
fn gemv_blocks<T: GgmlType>(w: &[T], cols: usize, x: &[f32], out: &mut [f32]) {
    let per_row = cols / T::BLCK_SIZE;
    let mut xq = vec![T::VecDotType::zeros(); cols / T::VecDotType::BLCK_SIZE];
    T::VecDotType::from_float(x, &mut xq);
    let row = |r: usize| &w[r * per_row..(r + 1) * per_row];
    let run = |first: usize, out: &mut [f32]| {
        let quads = out.len() / 4;
        for q in 0..quads {
            let r = first + q * 4;
            let (a, b, c, d) = T::vec_dot_4(cols, row(r), row(r + 1), row(r + 2), row(r + 3), &xq);
            out[q * 4..q * 4 + 4].copy_from_slice(&[a, b, c, d]);
        }
        for (i, o) in out.iter_mut().enumerate().skip(quads * 4) {
            *o = T::vec_dot(cols, row(first + i), &xq);
        }
    };
    let threads = rayon::current_num_threads().max(1);
    let chunk = out.len().div_ceil(threads * 4).max(32).next_multiple_of(4);
    out.par_chunks_mut(chunk)
        .enumerate()
        .for_each(|(c, o)| run(c * chunk, o));
}

/// RMS norm of `x` scaled by `weight`, into `out`.
pub(crate) fn rms_norm(x: &[f32], weight: &[f32], eps: f32, out: &mut [f32]) {
    let mean = dot(x, x) / x.len() as f32;
    let scale = 1.0 / (mean + eps).sqrt();
    for ((o, &v), &w) in out.iter_mut().zip(x).zip(weight) {
        *o = v * scale * w;
    }
}

/// Rotates each `head_dim` slice of `x` by the angles of one position (`cos`, `sin`: half a
/// head each). `neox` pairs element `i` with `i + d/2`, otherwise `2i` with `2i + 1`.
pub(crate) fn rope(x: &mut [f32], head_dim: usize, cos: &[f32], sin: &[f32], neox: bool) {
    let half = head_dim / 2;
    for head in x.chunks_exact_mut(head_dim) {
        for i in 0..half {
            let (a, b) = if neox {
                (i, i + half)
            } else {
                (2 * i, 2 * i + 1)
            };
            let (x0, x1) = (head[a], head[b]);
            head[a] = x0 * cos[i] - x1 * sin[i];
            head[b] = x0 * sin[i] + x1 * cos[i];
        }
    }
}

/// `silu(gate) * up`, in place in `gate`.
pub(crate) fn silu_mul(gate: &mut [f32], up: &[f32]) {
    for (g, &u) in gate.iter_mut().zip(up) {
        *g = *g / (1.0 + exp(-*g)) * u;
    }
}

/// `e^x` to within a few ulp, branch-free so that loops over it vectorize (libm's `expf` is
/// a call per element: in prompt batches softmax takes about 13 million of them for 80
/// tokens on a 500-token prefix). Cephes' range reduction and polynomial.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    let x = x.clamp(-87.3, 88.3);
    let n = (x * std::f32::consts::LOG2_E).round();
    let r = x - n * 0.693_359_4 - n * -2.121_944_4e-4;
    let mut p = 1.987_569_1e-4f32;
    p = p.mul_add(r, 1.398_2e-3);
    p = p.mul_add(r, 8.333_352e-3);
    p = p.mul_add(r, 4.166_579_6e-2);
    p = p.mul_add(r, 0.166_666_65);
    p = p.mul_add(r, 0.5);
    let e = (p * r).mul_add(r, r) + 1.0;
    e * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

/// Softmax of `scores[..len] * scale` in place; entries from `len` on (later positions) get 0.
/// Written as lane-wise loops (eight running maxima and sums) so that they vectorize: a float
/// reduction in one accumulator does not, and this runs over every score of a prompt batch.
pub(crate) fn softmax_causal(scores: &mut [f32], scale: f32, len: usize) {
    let len = len.min(scores.len());
    let (live, masked) = scores.split_at_mut(len);
    masked.fill(0.0);
    let mut max8 = [f32::NEG_INFINITY; 8];
    let mut chunks = live.chunks_exact_mut(8);
    for c in &mut chunks {
        for i in 0..8 {
            c[i] *= scale;
            max8[i] = max8[i].max(c[i]);
        }
    }
    let mut max = max8.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    for s in chunks.into_remainder() {
        *s *= scale;
        max = max.max(*s);
    }
    for s in live.iter_mut() {
        *s = exp(*s - max);
    }
    let inv = 1.0 / sum(live);
    live.iter_mut().for_each(|s| *s *= inv);
}

/// Sum with eight independent accumulators, so the compiler can vectorize it.
pub(crate) fn sum(a: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let chunks = a.chunks_exact(8);
    let tail: f32 = chunks.remainder().iter().sum();
    for c in chunks {
        for i in 0..8 {
            acc[i] += c[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Dot product with eight independent accumulators, so the compiler can vectorize it.
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Attention of one new token. `q` holds `n_head` heads; `keys[g]`/`values[g]` hold the cached
/// tokens of kv head `g` (`[token][head_dim]`, so a head is read as one contiguous stream);
/// query head `h` reads kv head `h / (n_head / n_kv_head)`. Writes `n_head * head_dim` values.
///
/// The query heads of a group are handled together, so each cached key and value is read once
/// per token rather than once per query head.
pub(crate) fn attend(
    q: &[f32],
    keys: &[Vec<f32>],
    values: &[Vec<f32>],
    head_dim: usize,
    out: &mut [f32],
) {
    let n_head = q.len() / head_dim;
    let group = n_head / keys.len().max(1);
    let span = group * head_dim;
    out.par_chunks_mut(span)
        .zip(q.par_chunks(span))
        .zip(keys.par_iter().zip(values))
        .for_each(|((og, qg), (kg, vg))| attend_group(qg, kg, vg, head_dim, og));
}

/// [`attend`] for the query heads `qg` of one kv head.
fn attend_group(qg: &[f32], kg: &[f32], vg: &[f32], head_dim: usize, og: &mut [f32]) {
    let group = qg.len() / head_dim;
    let len = kg.len() / head_dim;
    let scale = 1.0 / (head_dim as f32).sqrt();
    // scores[j * len + t]: query head j of the group, token t.
    let mut scores = vec![0f32; len * group];
    for (t, k) in kg.chunks_exact(head_dim).enumerate() {
        for (j, qh) in qg.chunks_exact(head_dim).enumerate() {
            scores[j * len + t] = dot(qh, k);
        }
    }
    for row in scores.chunks_exact_mut(len.max(1)) {
        softmax_causal(row, scale, len);
    }
    og.fill(0.0);
    for (t, v) in vg.chunks_exact(head_dim).enumerate() {
        for (j, oh) in og.chunks_exact_mut(head_dim).enumerate() {
            let p = scores[j * len + t];
            for (o, &vv) in oh.iter_mut().zip(v) {
                *o += p * vv;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemv_matches_dense_product() {
        let (rows, cols) = (7, 64);
        let w: Vec<f32> = (0..rows * cols)
            .map(|i| ((i * 13) % 17) as f32 / 17.0 - 0.5)
            .collect();
        let x: Vec<f32> = (0..cols)
            .map(|i| ((i * 7) % 5) as f32 / 5.0 - 0.4)
            .collect();
        let dense = Tensor::from_vec(w.clone(), (rows, cols), &Device::Cpu).unwrap();
        let q = QRows::q8_0(&dense, Simd::Scalar).unwrap();
        let mut out = vec![0.0; rows];
        q.gemv(&x, &mut out);
        for r in 0..rows {
            let exact = dot(&w[r * cols..(r + 1) * cols], &x);
            assert!(
                (out[r] - exact).abs() < 0.05,
                "row {r}: {} vs {exact}",
                out[r]
            );
        }
    }

    #[test]
    fn fast_exp_matches_libm() {
        for i in -2000..=2000 {
            let x = i as f32 * 0.043;
            let (a, b) = (exp(x), x.exp());
            assert!((a - b).abs() <= b * 4e-7, "{x}: {a} vs {b}");
        }
        assert!(exp(f32::NEG_INFINITY) < 1e-37);
    }

    #[test]
    fn softmax_masks_later_positions() {
        let mut s = vec![1.0, 2.0, 3.0, 100.0];
        softmax_causal(&mut s, 1.0, 3);
        assert_eq!(s[3], 0.0);
        assert!((s.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(s[2] > s[1] && s[1] > s[0]);
    }

    #[test]
    fn attention_over_one_token_returns_its_value() {
        let q = vec![1.0; 4 * 2];
        let k = vec![vec![0.5; 2], vec![0.5; 2]];
        let v = vec![vec![3.0, 4.0], vec![5.0, 6.0]];
        let mut out = vec![0.0; 8];
        attend(&q, &k, &v, 2, &mut out);
        assert_eq!(out, vec![3.0, 4.0, 3.0, 4.0, 5.0, 6.0, 5.0, 6.0]);
    }
}
