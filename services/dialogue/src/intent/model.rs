//! A multinomial logistic-regression classifier over sparse features, trained with seeded SGD.
//! Training a few hundred examples takes milliseconds, so models are trained at load time from
//! the shipped examples instead of being stored as opaque weights.

use super::features::SparseVec;

/// Training knobs.
#[derive(Debug, Clone, Copy)]
pub struct TrainOptions {
    /// Passes over the data.
    pub epochs: usize,
    /// Initial learning rate.
    pub learning_rate: f32,
    /// L2 penalty.
    pub l2: f32,
    /// Shuffle seed.
    pub seed: u64,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            epochs: 40,
            learning_rate: 0.5,
            l2: 1e-5,
            seed: 7,
        }
    }
}

/// Class probabilities of one input.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// Softmax probability per class.
    pub probs: Vec<f32>,
    /// Index of the most probable class.
    pub best: usize,
    /// Index of the runner-up.
    pub second: usize,
}

impl Prediction {
    /// Probability of the best class.
    pub fn confidence(&self) -> f32 {
        self.probs[self.best]
    }

    /// Difference between the best and the runner-up probability.
    pub fn margin(&self) -> f32 {
        self.probs[self.best] - self.probs[self.second]
    }
}

/// Weights of a linear softmax classifier.
#[derive(Debug, Clone)]
pub struct LinearModel {
    classes: usize,
    dim: usize,
    weights: Vec<f32>,
    bias: Vec<f32>,
}

impl LinearModel {
    /// Trains on `(features, class)` pairs.
    pub fn train(
        classes: usize,
        dim: usize,
        data: &[(SparseVec, usize)],
        opts: TrainOptions,
    ) -> Self {
        let mut model = LinearModel {
            classes,
            dim,
            weights: vec![0.0; classes * dim],
            bias: vec![0.0; classes],
        };
        let mut order: Vec<usize> = (0..data.len()).collect();
        let mut rng = opts.seed | 1;
        let mut step = 0usize;
        for _ in 0..opts.epochs {
            // Fisher-Yates with xorshift: reproducible without a rand dependency.
            for i in (1..order.len()).rev() {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                order.swap(i, (rng % (i as u64 + 1)) as usize);
            }
            for &k in &order {
                let (x, y) = &data[k];
                if *y >= classes {
                    continue;
                }
                step += 1;
                let lr = opts.learning_rate / (1.0 + step as f32 * 1e-3);
                let p = model.probabilities(x);
                for (c, pc) in p.iter().enumerate() {
                    let g = pc - if c == *y { 1.0 } else { 0.0 };
                    let row = c * dim;
                    for &(i, v) in x {
                        let w = &mut model.weights[row + i as usize];
                        *w -= lr * (g * v + opts.l2 * *w);
                    }
                    model.bias[c] -= lr * g * 0.1;
                }
            }
        }
        model
    }

    /// Softmax probabilities of `x`.
    pub fn probabilities(&self, x: &SparseVec) -> Vec<f32> {
        let mut z: Vec<f32> = (0..self.classes)
            .map(|c| {
                let row = c * self.dim;
                self.bias[c]
                    + x.iter()
                        .map(|&(i, v)| self.weights[row + i as usize] * v)
                        .sum::<f32>()
            })
            .collect();
        let max = z.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0;
        for v in z.iter_mut() {
            *v = (*v - max).exp();
            sum += *v;
        }
        for v in z.iter_mut() {
            *v /= sum;
        }
        z
    }

    /// Probabilities with the best and runner-up classes.
    pub fn predict(&self, x: &SparseVec) -> Prediction {
        let probs = self.probabilities(x);
        let mut idx: Vec<usize> = (0..probs.len()).collect();
        idx.sort_by(|a, b| probs[*b].total_cmp(&probs[*a]));
        Prediction {
            best: idx.first().copied().unwrap_or(0),
            second: idx.get(1).copied().unwrap_or(0),
            probs,
        }
    }
}
