//! Q4_1 weights (the default model's own blocks) repacked four rows at a time, and their
//! matrix-vector product against 8-bit quantized activations.
//!
//! Why: single-token decoding reads every weight once per token and is bound by memory
//! traffic (about 14 GB/s on one core of this machine, `q8_speed`); the file's Q4_1 blocks are
//! 0.75 bytes per weight here against 1.125 for the Q8_0 copy, and they are the weights of the
//! stock `quantized_llama` path exactly (the Q8_0 copy requantizes them). Same scheme as
//! `q8.rs`: four rows read in step with four independent accumulators, scales converted to
//! f32 at load, row groups split over the engine's rayon pool. Per block,
//! `row · x = d·dx·Σ q·qx + m·dx·Σ qx` (`d`, `m`: the block's scale and minimum; `qx`, `dx`:
//! the activation block quantized to 8 bits with its scale); the nibbles are unsigned, so they
//! multiply the signed activation bytes directly.

use rayon::prelude::*;

use super::simd::Simd;

const GROUP: usize = 4;
const BLOCK: usize = 32;
const MIN_CHUNK_ROWS: usize = 64;

/// candle's `BlockQ4_1` layout: f16 scale, f16 minimum, 16 bytes of nibbles (elements `j` in the
/// low nibble of byte `j`, `j + 16` in its high nibble).
pub(crate) const BLOCK_BYTES: usize = 20;

/// A `[rows, cols]` Q4_1 matrix, nibbles laid out `[row group][block][row in group]`.
pub(crate) struct Q4Matrix {
    rows: usize,
    cols: usize,
    /// 16 bytes of nibbles per block.
    qs: Vec<u8>,
    /// Scales, in the same order as `qs`.
    scales: Vec<f32>,
    /// Minimums, in the same order as `qs`.
    mins: Vec<f32>,
    /// The kernel path of `gemv`.
    simd: Simd,
}

impl Q4Matrix {
    /// Repacks row-major Q4_1 blocks given as raw GGML bytes (20 per block).
    pub(crate) fn from_bytes(
        rows: usize,
        cols: usize,
        bytes: &[u8],
        simd: Simd,
    ) -> candle_core::Result<Self> {
        let per_row = cols / BLOCK;
        if !cols.is_multiple_of(BLOCK) || bytes.len() != rows * per_row * BLOCK_BYTES {
            candle_core::bail!(
                "{} bytes of Q4_1 do not make a {rows}x{cols} matrix",
                bytes.len()
            );
        }
        let groups = rows.div_ceil(GROUP);
        let mut qs = vec![0u8; groups * GROUP * per_row * 16];
        let mut scales = vec![0f32; groups * GROUP * per_row];
        let mut mins = vec![0f32; groups * GROUP * per_row];
        for (n, block) in bytes.chunks_exact(BLOCK_BYTES).enumerate() {
            let (r, b) = (n / per_row, n % per_row);
            let slot = ((r / GROUP) * per_row + b) * GROUP + r % GROUP;
            scales[slot] = super::q8::f16_to_f32(u16::from_le_bytes([block[0], block[1]]));
            mins[slot] = super::q8::f16_to_f32(u16::from_le_bytes([block[2], block[3]]));
            qs[slot * 16..(slot + 1) * 16].copy_from_slice(&block[4..]);
        }
        Ok(Self {
            rows,
            cols,
            qs,
            scales,
            mins,
            simd,
        })
    }

    /// Bytes held.
    pub(crate) fn bytes(&self) -> usize {
        self.qs.len() + (self.scales.len() + self.mins.len()) * 4
    }

    /// Row `r` as floats.
    pub(crate) fn row(&self, r: usize, out: &mut [f32]) {
        let per_row = self.cols / BLOCK;
        for (b, o) in out.chunks_exact_mut(BLOCK).enumerate().take(per_row) {
            let slot = ((r / GROUP) * per_row + b) * GROUP + r % GROUP;
            let (d, m) = (self.scales[slot], self.mins[slot]);
            for (j, &q) in self.qs[slot * 16..(slot + 1) * 16].iter().enumerate() {
                o[j] = (q & 0xf) as f32 * d + m;
                o[j + 16] = (q >> 4) as f32 * d + m;
            }
        }
    }

    /// `out[r] = row r · x` for every row, over the current rayon pool.
    pub(crate) fn gemv(&self, x: &[f32], out: &mut [f32]) {
        let per_row = self.cols / BLOCK;
        let (yq, yd, ys) = quantize(x);
        let threads = rayon::current_num_threads().max(1);
        let chunk = (self.rows.div_ceil(threads * 4))
            .max(MIN_CHUNK_ROWS)
            .next_multiple_of(GROUP);
        let group_len = GROUP * per_row;
        let run = |first_row: usize, out: &mut [f32]| {
            for (k, o) in out.chunks_mut(GROUP).enumerate() {
                let g = first_row / GROUP + k;
                let qs = &self.qs[g * group_len * 16..(g + 1) * group_len * 16];
                let sc = &self.scales[g * group_len..(g + 1) * group_len];
                let mins = &self.mins[g * group_len..(g + 1) * group_len];
                let dots = dot4(self.simd, qs, sc, mins, &yq, &yd, &ys);
                o.copy_from_slice(&dots[..o.len()]);
            }
        };
        let out = &mut out[..self.rows];
        if self.rows <= chunk {
            run(0, out);
        } else {
            out.par_chunks_mut(chunk)
                .enumerate()
                .for_each(|(c, o)| run(c * chunk, o));
        }
    }
}

/// Quantizes `x` to 8 bits per 32-value block: quants, scales and `scale * Σ quants`.
fn quantize(x: &[f32]) -> (Vec<i8>, Vec<f32>, Vec<f32>) {
    let blocks = x.len() / BLOCK;
    let mut q = vec![0i8; x.len()];
    let (mut d, mut s) = (vec![0f32; blocks], vec![0f32; blocks]);
    for (b, (xb, qb)) in x
        .chunks_exact(BLOCK)
        .zip(q.chunks_exact_mut(BLOCK))
        .enumerate()
    {
        let amax = xb.iter().fold(0f32, |m, v| m.max(v.abs()));
        let scale = amax / 127.0;
        let inv = if scale != 0.0 { 1.0 / scale } else { 0.0 };
        let mut sum = 0i32;
        for (q, &v) in qb.iter_mut().zip(xb) {
            *q = (v * inv).round() as i8;
            sum += *q as i32;
        }
        d[b] = scale;
        s[b] = scale * sum as f32;
    }
    (q, d, s)
}

/// The dot products of four interleaved rows (one row group) with the quantized activations
/// (`yq`, `yd`, `ys`: quants, scales, scaled sums per block), on the path `simd`.
fn dot4(
    simd: Simd,
    qs: &[u8],
    scales: &[f32],
    mins: &[f32],
    yq: &[i8],
    yd: &[f32],
    ys: &[f32],
) -> [f32; GROUP] {
    match simd {
        // SAFETY: a `Simd` other than `Scalar` exists only when the CPU has its instructions
        // (`Kernels::resolve`); bounds are asserted inside.
        #[cfg(target_arch = "x86_64")]
        Simd::Avx512 => unsafe { dot4_avx512(qs, scales, mins, yq, yd, ys) },
        #[cfg(target_arch = "x86_64")]
        Simd::Avx2 => unsafe { dot4_avx2(qs, scales, mins, yq, yd, ys) },
        _ => dot4_scalar(qs, scales, mins, yq, yd, ys),
    }
}

fn dot4_scalar(
    qs: &[u8],
    scales: &[f32],
    mins: &[f32],
    yq: &[i8],
    yd: &[f32],
    ys: &[f32],
) -> [f32; GROUP] {
    let mut acc = [0f32; GROUP];
    for (b, ((y, &dy), &sy)) in yq.chunks_exact(BLOCK).zip(yd).zip(ys).enumerate() {
        for (i, a) in acc.iter_mut().enumerate() {
            let slot = b * GROUP + i;
            let mut s = 0i32;
            for (j, &q) in qs[slot * 16..(slot + 1) * 16].iter().enumerate() {
                s += (q & 0xf) as i32 * y[j] as i32 + (q >> 4) as i32 * y[j + 16] as i32;
            }
            *a += s as f32 * scales[slot] * dy + mins[slot] * sy;
        }
    }
    acc
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot4_avx2(
    qs: &[u8],
    scales: &[f32],
    mins: &[f32],
    yq: &[i8],
    yd: &[f32],
    ys: &[f32],
) -> [f32; GROUP] {
    use std::arch::x86_64::*;
    let blocks = yd.len();
    assert!(qs.len() >= blocks * GROUP * 16 && scales.len() >= blocks * GROUP);
    assert!(mins.len() >= blocks * GROUP && ys.len() >= blocks && yq.len() >= blocks * BLOCK);
    // The minimums' terms of the four rows, one lane each.
    let mut min_acc = _mm_setzero_ps();
    let ones = _mm256_set1_epi16(1);
    let low = _mm256_set1_epi8(0xf);
    let mut acc = [_mm256_setzero_ps(); GROUP];
    let (qp, sp, yp) = (qs.as_ptr(), scales.as_ptr(), yq.as_ptr());
    for b in 0..blocks {
        // SAFETY: every offset below is inside the slices (asserted above).
        unsafe {
            let y = _mm256_loadu_si256(yp.add(b * BLOCK).cast());
            let dy = _mm256_set1_ps(*yd.get_unchecked(b));
            let m = _mm_loadu_ps(mins.as_ptr().add(b * GROUP));
            min_acc = _mm_fmadd_ps(m, _mm_set1_ps(*ys.get_unchecked(b)), min_acc);
            for (i, a) in acc.iter_mut().enumerate() {
                let slot = b * GROUP + i;
                let raw = _mm_loadu_si128(qp.add(slot * 16).cast());
                // Elements 0..16 from the low nibbles, 16..32 from the high ones.
                let both = _mm256_insertf128_si256::<1>(
                    _mm256_castsi128_si256(raw),
                    _mm_srli_epi16(raw, 4),
                );
                let x = _mm256_and_si256(both, low);
                // Unsigned nibbles times signed bytes: pairs at most 2 * 15 * 127, no saturation.
                let p = _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_maddubs_epi16(x, y), ones));
                let d = _mm256_mul_ps(_mm256_broadcast_ss(&*sp.add(slot)), dy);
                *a = _mm256_fmadd_ps(p, d, *a);
            }
        }
    }
    let mut out = [0f32; GROUP];
    _mm_storeu_ps(out.as_mut_ptr(), min_acc);
    for (o, a) in out.iter_mut().zip(acc) {
        let hi = _mm256_extractf128_ps(a, 1);
        let s = _mm_add_ps(hi, _mm256_castps256_ps128(a));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_movehdup_ps(s));
        *o += _mm_cvtss_f32(s);
    }
    out
}

/// The AVX-512 VNNI path: a block's four rows are 64 contiguous bytes of nibbles, so one
/// register holds all four (row `i` in 128-bit lane `i`), and `vpdpbusd` multiplies unsigned
/// nibbles by signed activation bytes, summing four products into each 32-bit lane.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")]
unsafe fn dot4_avx512(
    qs: &[u8],
    scales: &[f32],
    mins: &[f32],
    yq: &[i8],
    yd: &[f32],
    ys: &[f32],
) -> [f32; GROUP] {
    use std::arch::x86_64::*;
    let blocks = yd.len();
    assert!(qs.len() >= blocks * GROUP * 16 && scales.len() >= blocks * GROUP);
    assert!(mins.len() >= blocks * GROUP && ys.len() >= blocks && yq.len() >= blocks * BLOCK);
    let low = _mm512_set1_epi8(0xf);
    // Lane i of the four scales to the four 32-bit elements of 128-bit lane i.
    let spread = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
    let mut acc = _mm512_setzero_ps();
    let mut min_acc = _mm_setzero_ps();
    let (qp, sp, mp, yp) = (qs.as_ptr(), scales.as_ptr(), mins.as_ptr(), yq.as_ptr());
    for b in 0..blocks {
        // SAFETY: every offset below is inside the slices (asserted above).
        unsafe {
            // Elements 0..16 of the activation block in every lane, then 16..32.
            let y_lo = _mm512_broadcast_i32x4(_mm_loadu_si128(yp.add(b * BLOCK).cast()));
            let y_hi = _mm512_broadcast_i32x4(_mm_loadu_si128(yp.add(b * BLOCK + 16).cast()));
            let raw = _mm512_loadu_si512(qp.add(b * GROUP * 16).cast());
            let x_lo = _mm512_and_si512(raw, low);
            let x_hi = _mm512_and_si512(_mm512_srli_epi16::<4>(raw), low);
            let dots = _mm512_dpbusd_epi32(_mm512_setzero_si512(), x_lo, y_lo);
            let dots = _mm512_dpbusd_epi32(dots, x_hi, y_hi);
            let sc = _mm_loadu_ps(sp.add(b * GROUP));
            let d = _mm512_mul_ps(
                _mm512_permutexvar_ps(spread, _mm512_castps128_ps512(sc)),
                _mm512_set1_ps(*yd.get_unchecked(b)),
            );
            acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dots), d, acc);
            let m = _mm_loadu_ps(mp.add(b * GROUP));
            min_acc = _mm_fmadd_ps(m, _mm_set1_ps(*ys.get_unchecked(b)), min_acc);
        }
    }
    // Each 128-bit lane's four sums are one row's.
    let lanes = [
        _mm512_extractf32x4_ps::<0>(acc),
        _mm512_extractf32x4_ps::<1>(acc),
        _mm512_extractf32x4_ps::<2>(acc),
        _mm512_extractf32x4_ps::<3>(acc),
    ];
    let mut out = [0f32; GROUP];
    _mm_storeu_ps(out.as_mut_ptr(), min_acc);
    for (o, s) in out.iter_mut().zip(lanes) {
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_movehdup_ps(s));
        *o += _mm_cvtss_f32(s);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::kernels::dot;
    use super::*;
    use candle_core::quantized::k_quants::{BlockQ4_1, GgmlType};

    /// Every path this CPU runs, each against the dense product of the blocks and against the
    /// scalar kernel on the same quantized activations.
    #[test]
    fn every_kernel_path_matches_the_dense_product_and_the_scalar_kernel() {
        for simd in Simd::every_path_here() {
            for (rows, cols) in [(7, 64), (130, 96), (1000, 576)] {
                let w: Vec<f32> = (0..rows * cols)
                    .map(|i| ((i * 13) % 17) as f32 / 17.0 - 0.3)
                    .collect();
                let mut blocks = vec![BlockQ4_1::zeros(); rows * cols / BLOCK];
                BlockQ4_1::from_float(&w, &mut blocks);
                // SAFETY: `BlockQ4_1` is `repr(C)`, 20 bytes without padding.
                let bytes = unsafe {
                    std::slice::from_raw_parts(
                        blocks.as_ptr().cast::<u8>(),
                        blocks.len() * BLOCK_BYTES,
                    )
                };
                let m = Q4Matrix::from_bytes(rows, cols, bytes, simd).unwrap();
                let mut dense = vec![0f32; rows * cols];
                BlockQ4_1::to_float(&blocks, &mut dense);
                let x: Vec<f32> = (0..cols)
                    .map(|i| ((i * 7) % 5) as f32 / 5.0 - 0.4)
                    .collect();
                let mut out = vec![0.0; rows];
                m.gemv(&x, &mut out);
                let (yq, yd, ys) = quantize(&x);
                let per_row = cols / BLOCK;
                for r in 0..rows {
                    let exact = dot(&dense[r * cols..(r + 1) * cols], &x);
                    assert!(
                        (out[r] - exact).abs() < 0.05,
                        "{simd:?} row {r}: {} vs {exact}",
                        out[r]
                    );
                    let g = r / GROUP;
                    let scalar = dot4_scalar(
                        &m.qs[g * GROUP * per_row * 16..(g + 1) * GROUP * per_row * 16],
                        &m.scales[g * GROUP * per_row..(g + 1) * GROUP * per_row],
                        &m.mins[g * GROUP * per_row..(g + 1) * GROUP * per_row],
                        &yq,
                        &yd,
                        &ys,
                    )[r % GROUP];
                    assert!(
                        (out[r] - scalar).abs() < 1e-3,
                        "{simd:?} row {r}: {} vs {scalar}",
                        out[r]
                    );
                }
                let mut row = vec![0.0; cols];
                m.row(rows - 1, &mut row);
                assert_eq!(row, dense[(rows - 1) * cols..]);
            }
        }
    }
}
