//! Q8_0 weights repacked four rows at a time, and the matrix-vector product over them that
//! single-token decoding spends most of its time in.
//!
//! Why not candle's `vec_dot` row by row (the session-2 kernel): on x86 its `vec_dot_4` is four
//! separate dot products, each one chain of dependent multiply-adds (one per 32 weights), so the
//! core waits on the adder's latency; and each block's scale is an f16 converted on the fly.
//! Here four rows are read in step: four independent accumulators, the activation block loaded
//! once for the four rows, and the scales converted to f32 once at load. The integer products
//! are the same as candle's (Q8_0 weights times Q8_0-quantized activations); only the order of
//! the float sums differs. Row groups are split over the engine's rayon pool: with two idle
//! cores a token takes about half the time, and on a busy machine the calling thread runs the
//! chunks nobody stole, so no operation waits for a descheduled worker's barrier.

use candle_core::quantized::k_quants::{BlockQ8_0, GgmlType};
use rayon::prelude::*;

use super::simd::Simd;

/// Rows read in step.
const GROUP: usize = 4;
/// Weights per block.
const BLOCK: usize = 32;
/// Fewest rows per parallel chunk (smaller matrices are not worth a thread hand-off).
const MIN_CHUNK_ROWS: usize = 64;

/// A `[rows, cols]` matrix as Q8_0 blocks, laid out `[row group][block][row in group]`.
pub(crate) struct Q8Matrix {
    rows: usize,
    cols: usize,
    /// Quantized weights, 32 per block.
    qs: Vec<i8>,
    /// One scale per block, in the same order.
    scales: Vec<f32>,
    /// The kernel path of `gemv`.
    simd: Simd,
}

impl Q8Matrix {
    /// Repacks row-major Q8_0 blocks (`rows * cols / 32` of them); rows are padded with zero
    /// rows to a multiple of four.
    pub(crate) fn from_blocks(
        rows: usize,
        cols: usize,
        blocks: &[BlockQ8_0],
        simd: Simd,
    ) -> candle_core::Result<Self> {
        let per_row = cols / BLOCK;
        if !cols.is_multiple_of(BLOCK) || blocks.len() != rows * per_row {
            candle_core::bail!(
                "{} Q8_0 blocks do not make a {rows}x{cols} matrix",
                blocks.len()
            );
        }
        let groups = rows.div_ceil(GROUP);
        let mut qs = vec![0i8; groups * GROUP * cols];
        let mut scales = vec![0f32; groups * GROUP * per_row];
        for (r, row) in blocks.chunks_exact(per_row).enumerate() {
            let (g, i) = (r / GROUP, r % GROUP);
            for (b, block) in row.iter().enumerate() {
                let slot = (g * per_row + b) * GROUP + i;
                let (d, q) = parts(block);
                scales[slot] = d;
                qs[slot * BLOCK..(slot + 1) * BLOCK].copy_from_slice(q);
            }
        }
        Ok(Self {
            rows,
            cols,
            qs,
            scales,
            simd,
        })
    }

    /// Bytes held.
    pub(crate) fn bytes(&self) -> usize {
        self.qs.len() + self.scales.len() * 4
    }

    /// Row `r` as floats.
    pub(crate) fn row(&self, r: usize, out: &mut [f32]) {
        let per_row = self.cols / BLOCK;
        let (g, i) = (r / GROUP, r % GROUP);
        for (b, o) in out.chunks_exact_mut(BLOCK).enumerate().take(per_row) {
            let slot = (g * per_row + b) * GROUP + i;
            let d = self.scales[slot];
            for (o, &q) in o.iter_mut().zip(&self.qs[slot * BLOCK..(slot + 1) * BLOCK]) {
                *o = q as f32 * d;
            }
        }
    }

    /// `out[r] = row r · x` for every row, over the current rayon pool.
    pub(crate) fn gemv(&self, x: &[f32], out: &mut [f32]) {
        let per_row = self.cols / BLOCK;
        let mut xq = vec![BlockQ8_0::zeros(); per_row];
        BlockQ8_0::from_float(x, &mut xq);
        let mut yq = vec![0i8; self.cols];
        let mut yd = vec![0f32; per_row];
        for ((b, q), d) in xq.iter().zip(yq.chunks_exact_mut(BLOCK)).zip(yd.iter_mut()) {
            let (scale, quants) = parts(b);
            q.copy_from_slice(quants);
            *d = scale;
        }
        let threads = rayon::current_num_threads().max(1);
        let chunk = (self.rows.div_ceil(threads * 4))
            .max(MIN_CHUNK_ROWS)
            .next_multiple_of(GROUP);
        let group_len = GROUP * self.cols;
        let run = |first_row: usize, out: &mut [f32]| {
            for (k, o) in out.chunks_mut(GROUP).enumerate() {
                let g = first_row / GROUP + k;
                let qs = &self.qs[g * group_len..(g + 1) * group_len];
                let sc = &self.scales[g * GROUP * per_row..(g + 1) * GROUP * per_row];
                let dots = dot4(self.simd, qs, sc, &yq, &yd);
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

/// A block's scale and quants (candle keeps the fields private; the layout is GGML's:
/// an f16 scale, then 32 signed bytes, `repr(C)`, 34 bytes).
fn parts(block: &BlockQ8_0) -> (f32, &[i8]) {
    const _: () = assert!(std::mem::size_of::<BlockQ8_0>() == 2 + BLOCK);
    // SAFETY: `BlockQ8_0` is `repr(C)` { d: f16, qs: [i8; 32] } with no padding (size checked
    // above), so its bytes are the scale's two bytes followed by the 32 quants.
    let bytes: &[u8; 2 + BLOCK] = unsafe { &*(block as *const BlockQ8_0).cast() };
    let d = f16_to_f32(u16::from_le_bytes([bytes[0], bytes[1]]));
    // SAFETY: i8 and u8 have the same size and alignment.
    let qs: &[i8] = unsafe { std::slice::from_raw_parts(bytes[2..].as_ptr().cast(), BLOCK) };
    (d, qs)
}

/// IEEE half precision bits to f32.
pub(crate) fn f16_to_f32(h: u16) -> f32 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = ((h >> 10) & 0x1f) as i32;
    let mant = (h & 0x3ff) as f32;
    match exp {
        0 => sign * mant * (-24f32).exp2(),
        31 if mant == 0.0 => sign * f32::INFINITY,
        31 => f32::NAN,
        _ => sign * (1.0 + mant / 1024.0) * ((exp - 15) as f32).exp2(),
    }
}

/// The dot products of four interleaved rows (`qs`, `scales`: one row group) with `yq`/`yd`,
/// on the path `simd`.
fn dot4(simd: Simd, qs: &[i8], scales: &[f32], yq: &[i8], yd: &[f32]) -> [f32; GROUP] {
    match simd {
        // SAFETY: a `Simd` other than `Scalar` exists only when the CPU has its instructions
        // (`Kernels::resolve`); the slices hold one row group: `yd.len()` blocks of four rows,
        // bounds asserted inside.
        #[cfg(target_arch = "x86_64")]
        Simd::Avx512 => unsafe { dot4_avx512(qs, scales, yq, yd) },
        #[cfg(target_arch = "x86_64")]
        Simd::Avx2 => unsafe { dot4_avx2(qs, scales, yq, yd) },
        _ => dot4_scalar(qs, scales, yq, yd),
    }
}

fn dot4_scalar(qs: &[i8], scales: &[f32], yq: &[i8], yd: &[f32]) -> [f32; GROUP] {
    let mut acc = [0f32; GROUP];
    for (b, (y, &dy)) in yq.chunks_exact(BLOCK).zip(yd).enumerate() {
        for (i, a) in acc.iter_mut().enumerate() {
            let slot = b * GROUP + i;
            let x = &qs[slot * BLOCK..(slot + 1) * BLOCK];
            let s: i32 = x.iter().zip(y).map(|(&x, &y)| x as i32 * y as i32).sum();
            *a += s as f32 * scales[slot] * dy;
        }
    }
    acc
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot4_avx2(qs: &[i8], scales: &[f32], yq: &[i8], yd: &[f32]) -> [f32; GROUP] {
    use std::arch::x86_64::*;
    let blocks = yd.len();
    assert!(qs.len() >= blocks * GROUP * BLOCK && scales.len() >= blocks * GROUP);
    assert!(yq.len() >= blocks * BLOCK);
    let ones = _mm256_set1_epi16(1);
    let mut acc = [_mm256_setzero_ps(); GROUP];
    let (qp, sp, yp) = (qs.as_ptr(), scales.as_ptr(), yq.as_ptr());
    for b in 0..blocks {
        // SAFETY: every offset below is inside the slices (asserted above).
        unsafe {
            let y = _mm256_loadu_si256(yp.add(b * BLOCK).cast());
            let dy = _mm256_set1_ps(*yd.get_unchecked(b));
            for (i, a) in acc.iter_mut().enumerate() {
                let slot = b * GROUP + i;
                let x = _mm256_loadu_si256(qp.add(slot * BLOCK).cast());
                // |x| * (y with x's sign): unsigned times signed bytes, pairs summed to i16
                // (at most 2 * 127 * 127, no saturation), then to i32.
                let p = _mm256_maddubs_epi16(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
                let p = _mm256_cvtepi32_ps(_mm256_madd_epi16(p, ones));
                let d = _mm256_mul_ps(_mm256_broadcast_ss(&*sp.add(slot)), dy);
                *a = _mm256_fmadd_ps(p, d, *a);
            }
        }
    }
    let mut out = [0f32; GROUP];
    for (o, a) in out.iter_mut().zip(acc) {
        let hi = _mm256_extractf128_ps(a, 1);
        let s = _mm_add_ps(hi, _mm256_castps256_ps128(a));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_movehdup_ps(s));
        *o = _mm_cvtss_f32(s);
    }
    out
}

/// The AVX-512 VNNI path: a block's four rows are 128 contiguous bytes, two rows to a register
/// (row `2k + h` in 256-bit half `h` of register `k`); `vpdpbusd` multiplies |weight| by the
/// activation carrying the weight's sign, four products to each 32-bit lane.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")]
unsafe fn dot4_avx512(qs: &[i8], scales: &[f32], yq: &[i8], yd: &[f32]) -> [f32; GROUP] {
    use std::arch::x86_64::*;
    let blocks = yd.len();
    assert!(qs.len() >= blocks * GROUP * BLOCK && scales.len() >= blocks * GROUP);
    assert!(yq.len() >= blocks * BLOCK);
    // Scale i of the pair to the eight elements of 256-bit half i.
    let first = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    let second = _mm512_set_epi32(3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2);
    let zero = _mm512_setzero_si512();
    let mut acc = [_mm512_setzero_ps(); 2];
    let (qp, sp, yp) = (qs.as_ptr(), scales.as_ptr(), yq.as_ptr());
    for b in 0..blocks {
        // SAFETY: every offset below is inside the slices (asserted above).
        unsafe {
            let y = _mm512_broadcast_i64x4(_mm256_loadu_si256(yp.add(b * BLOCK).cast()));
            let sc = _mm512_castps128_ps512(_mm_loadu_ps(sp.add(b * GROUP)));
            let dy = _mm512_set1_ps(*yd.get_unchecked(b));
            for (k, (a, spread)) in acc.iter_mut().zip([first, second]).enumerate() {
                let x = _mm512_loadu_si512(qp.add((b * GROUP + 2 * k) * BLOCK).cast());
                let negative = _mm512_movepi8_mask(x);
                let y_signed = _mm512_mask_sub_epi8(y, negative, zero, y);
                let dots = _mm512_dpbusd_epi32(zero, _mm512_abs_epi8(x), y_signed);
                let d = _mm512_mul_ps(_mm512_permutexvar_ps(spread, sc), dy);
                *a = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dots), d, *a);
            }
        }
    }
    let mut out = [0f32; GROUP];
    for (k, a) in acc.into_iter().enumerate() {
        for h in 0..2 {
            let half = if h == 0 {
                _mm512_castps512_ps256(a)
            } else {
                _mm512_extractf32x8_ps::<1>(a)
            };
            let s = _mm_add_ps(
                _mm256_extractf128_ps::<1>(half),
                _mm256_castps256_ps128(half),
            );
            let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
            let s = _mm_add_ss(s, _mm_movehdup_ps(s));
            out[2 * k + h] = _mm_cvtss_f32(s);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matrix(rows: usize, cols: usize, simd: Simd) -> (Vec<f32>, Q8Matrix) {
        let w: Vec<f32> = (0..rows * cols)
            .map(|i| ((i * 13) % 17) as f32 / 17.0 - 0.5)
            .collect();
        let mut blocks = vec![BlockQ8_0::zeros(); rows * cols / BLOCK];
        BlockQ8_0::from_float(&w, &mut blocks);
        (w, Q8Matrix::from_blocks(rows, cols, &blocks, simd).unwrap())
    }

    #[test]
    fn half_floats_convert() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x7bff), 65504.0);
        assert_eq!(f16_to_f32(0x3555), 0.333_251_95);
    }

    /// Every path this CPU runs, each against the dense product and against the scalar kernel
    /// on the same quantized activations.
    #[test]
    fn every_kernel_path_matches_the_dense_product_and_the_scalar_kernel() {
        for simd in Simd::every_path_here() {
            for (rows, cols) in [(7, 64), (130, 96), (1000, 576)] {
                let (w, m) = matrix(rows, cols, simd);
                let x: Vec<f32> = (0..cols)
                    .map(|i| ((i * 7) % 5) as f32 / 5.0 - 0.4)
                    .collect();
                let mut out = vec![0.0; rows];
                m.gemv(&x, &mut out);
                let mut xq = vec![BlockQ8_0::zeros(); cols / BLOCK];
                BlockQ8_0::from_float(&x, &mut xq);
                let yq: Vec<i8> = xq.iter().flat_map(|b| parts(b).1.to_vec()).collect();
                let yd: Vec<f32> = xq.iter().map(|b| parts(b).0).collect();
                let per_row = cols / BLOCK;
                for r in 0..rows {
                    let exact = super::super::kernels::dot(&w[r * cols..(r + 1) * cols], &x);
                    assert!(
                        (out[r] - exact).abs() < 0.05,
                        "{simd:?} row {r}: {} vs {exact}",
                        out[r]
                    );
                    let g = r / GROUP;
                    let scalar = dot4_scalar(
                        &m.qs[g * GROUP * cols..(g + 1) * GROUP * cols],
                        &m.scales[g * GROUP * per_row..(g + 1) * GROUP * per_row],
                        &yq,
                        &yd,
                    )[r % GROUP];
                    assert!(
                        (out[r] - scalar).abs() < 1e-3,
                        "{simd:?} row {r}: {} vs {scalar}",
                        out[r]
                    );
                }
                let mut row = vec![0.0; cols];
                m.row(rows - 1, &mut row);
                for (a, b) in row.iter().zip(&w[(rows - 1) * cols..]) {
                    assert!((a - b).abs() < 0.01);
                }
            }
        }
    }
}

#[cfg(test)]
mod speed {
    use super::*;

    /// `cargo test --release -p parla-llm --lib q8_speed -- --ignored --nocapture`
    /// (`PARLA_MAX_KERNELS=avx2` for the AVX2 path on an AVX-512 machine).
    #[test]
    #[ignore]
    fn q8_speed() {
        let simd = super::super::simd::Kernels::Auto
            .simd(super::super::simd::Kernels::cap_from_env().unwrap())
            .unwrap();
        println!("kernels: {}", simd.name());
        for (rows, cols, reps) in [(49152, 576, 20), (576, 1536, 2000), (49152, 576, 20)] {
            let w: Vec<f32> = (0..rows * cols)
                .map(|i| ((i * 13) % 17) as f32 / 17.0 - 0.5)
                .collect();
            let mut blocks = vec![BlockQ8_0::zeros(); rows * cols / BLOCK];
            BlockQ8_0::from_float(&w, &mut blocks);
            let m = Q8Matrix::from_blocks(rows, cols, &blocks, simd).unwrap();
            let x: Vec<f32> = (0..cols).map(|i| i as f32 / cols as f32).collect();
            let mut out = vec![0.0; rows];
            for threads in [1, 2] {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                pool.install(|| {
                    m.gemv(&x, &mut out);
                    let cpu = || {
                        std::fs::read_to_string("/proc/thread-self/schedstat")
                            .unwrap()
                            .split_whitespace()
                            .next()
                            .unwrap()
                            .parse::<f64>()
                            .unwrap()
                    };
                    let (t, c) = (std::time::Instant::now(), cpu());
                    for _ in 0..reps {
                        m.gemv(&x, &mut out);
                    }
                    let s = t.elapsed().as_secs_f64() / reps as f64;
                    println!(
                        "  cpu of the calling thread {:.3} ms",
                        (cpu() - c) / 1e6 / reps as f64
                    );
                    println!(
                        "{rows}x{cols} threads {threads}: {:.3} ms, {:.1} GB/s",
                        s * 1e3,
                        m.bytes() as f64 / s / 1e9
                    );
                });
            }
        }
    }
}
