//! The encoder's matrix products, `x · W`, on the calling thread through gemm (the crate candle
//! itself multiplies with). Candle's `matmul` splits every product over all the cores of the
//! machine; products this small (a dozen tokens) gain little from that and lose a lot when the
//! other core is busy: on this project's 2-core machine, one sentence took 2.0–2.7 ms that way
//! against 1.0 ms on one thread (p50). Calling gemm directly also lets each weight be stored the
//! way it is read fastest.

use candle_core::{Device, Tensor};
use gemm::{gemm, Parallelism};

/// How a weight matrix is stored, chosen for the rows it is multiplied with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Layout {
    /// `W` row-major: fastest for a few rows (sentence vectors).
    Rows,
    /// `Wᵀ` row-major, the product computed as `(Wᵀ · xᵀ)ᵀ`: fastest for token matrices when the
    /// weights are not in cache, because gemm then streams the weights instead of packing them
    /// (measured 134 against 307 µs for 14 tokens through 1280 × 256).
    Transposed,
}

/// A weight matrix `W` (`inputs × outputs`) ready to multiply.
pub(super) struct Weight {
    data: Vec<f32>,
    inputs: usize,
    outputs: usize,
    layout: Layout,
}

impl Weight {
    /// `w` holds `W` row-major (as numpy stores it); the error says what does not fit.
    pub fn new(w: Vec<f32>, inputs: usize, outputs: usize, layout: Layout) -> Result<Self, String> {
        if inputs == 0 || outputs == 0 || w.len() != inputs * outputs {
            return Err(format!(
                "{} values for a {inputs} × {outputs} matrix",
                w.len()
            ));
        }
        let data = match layout {
            Layout::Rows => w,
            Layout::Transposed => {
                let mut t = vec![0f32; w.len()];
                for (i, row) in w.chunks_exact(outputs).enumerate() {
                    for (o, &v) in row.iter().enumerate() {
                        t[o * inputs + i] = v;
                    }
                }
                t
            }
        };
        Ok(Weight {
            data,
            inputs,
            outputs,
            layout,
        })
    }

    /// Columns side by side: `[W₁ | W₂ | …]`, all with the same inputs.
    pub fn side_by_side(
        parts: &[(Vec<f32>, usize)],
        inputs: usize,
        layout: Layout,
    ) -> Result<Self, String> {
        let outputs: usize = parts.iter().map(|(_, o)| o).sum();
        let mut w = vec![0f32; inputs * outputs];
        let mut first = 0;
        for (part, width) in parts {
            if part.len() != inputs * width {
                return Err(format!(
                    "{} values for a {inputs} × {width} block",
                    part.len()
                ));
            }
            for (i, row) in part.chunks_exact(*width).enumerate() {
                w[i * outputs + first..i * outputs + first + width].copy_from_slice(row);
            }
            first += width;
        }
        Self::new(w, inputs, outputs, layout)
    }

    /// `x · W` for `x` of shape `(rows, inputs)`: a `(rows, outputs)` tensor (a transposed view
    /// for [`Layout::Transposed`], which the next element-wise operation reads as it is).
    pub fn apply(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let (rows, inputs) = x.dims2()?;
        if inputs != self.inputs {
            candle_core::bail!(
                "product of {rows} × {inputs} with {} × {}",
                self.inputs,
                self.outputs
            );
        }
        let x: Vec<f32> = x.flatten_all()?.to_vec1()?;
        let (k, n) = (self.inputs, self.outputs);
        let mut out = vec![0f32; rows * n];
        if rows == 0 {
            return Tensor::from_vec(out, (0, n), &Device::Cpu);
        }
        debug_assert!(x.len() == rows * k && self.data.len() == k * n);
        // SAFETY: every operand is a dense row-major buffer of exactly the size its shape and
        // strides address (checked above and in `new`); `out` is a fresh buffer no operand shares.
        unsafe {
            match self.layout {
                // out (rows × n) = x (rows × k) · W (k × n).
                Layout::Rows => gemm(
                    rows,
                    n,
                    k,
                    out.as_mut_ptr(),
                    1,
                    n as isize,
                    false,
                    x.as_ptr(),
                    1,
                    k as isize,
                    self.data.as_ptr(),
                    1,
                    n as isize,
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    Parallelism::None,
                ),
                // out (n × rows) = Wᵀ (n × k) · xᵀ (k × rows).
                Layout::Transposed => gemm(
                    n,
                    rows,
                    k,
                    out.as_mut_ptr(),
                    1,
                    rows as isize,
                    false,
                    self.data.as_ptr(),
                    1,
                    k as isize,
                    x.as_ptr(),
                    k as isize,
                    1,
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    Parallelism::None,
                ),
            }
        }
        match self.layout {
            Layout::Rows => Tensor::from_vec(out, (rows, n), &Device::Cpu),
            Layout::Transposed => Tensor::from_vec(out, (n, rows), &Device::Cpu)?.t(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_layouts_compute_the_same_product() {
        // x (2 × 3) · W (3 × 2)
        let x = Tensor::from_vec(vec![1f32, 2., 3., 4., 5., 6.], (2, 3), &Device::Cpu).unwrap();
        let w = vec![1f32, 0., 0., 1., 1., 1.];
        for layout in [Layout::Rows, Layout::Transposed] {
            let p = Weight::new(w.clone(), 3, 2, layout)
                .unwrap()
                .apply(&x)
                .unwrap();
            assert_eq!(
                p.to_vec2::<f32>().unwrap(),
                [[4., 5.], [10., 11.]],
                "{layout:?}"
            );
        }
        let joined = Weight::side_by_side(
            &[(vec![1., 0., 1.], 1), (vec![0., 1., 1.], 1)],
            3,
            Layout::Transposed,
        )
        .unwrap();
        assert_eq!(
            joined.apply(&x).unwrap().to_vec2::<f32>().unwrap(),
            [[4., 5.], [10., 11.]]
        );
        assert!(Weight::new(vec![1.; 5], 3, 2, Layout::Rows).is_err());
    }
}
