//! Seeded token sampling: repetition penalty, a logit mask from a constraint, temperature and
//! nucleus (top-p) sampling. The same seed and logits always give the same token.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::GenerationParams;

/// Picks the next token from a row of logits.
pub(crate) struct Sampler {
    rng: StdRng,
    temperature: f32,
    top_p: f32,
    penalty: f32,
    window: usize,
}

impl Sampler {
    pub(crate) fn new(params: &GenerationParams) -> Self {
        Self {
            rng: StdRng::seed_from_u64(params.seed),
            temperature: params.temperature,
            top_p: params.top_p,
            penalty: params.repetition_penalty,
            window: params.repetition_window,
        }
    }

    /// Samples a token. `history` feeds the repetition penalty; `allowed`, when given, is the
    /// only set of tokens that may be picked (it must not be empty).
    pub(crate) fn sample(
        &mut self,
        logits: &mut [f32],
        history: &[u32],
        allowed: Option<&[u32]>,
    ) -> u32 {
        if self.penalty != 1.0 {
            let start = history.len().saturating_sub(self.window);
            let mut seen = history[start..].to_vec();
            seen.sort_unstable();
            seen.dedup();
            for &t in &seen {
                if let Some(l) = logits.get_mut(t as usize) {
                    *l = if *l >= 0.0 {
                        *l / self.penalty
                    } else {
                        *l * self.penalty
                    };
                }
            }
        }
        let candidates: Vec<u32> = match allowed {
            Some(ids) => ids.to_vec(),
            None => (0..logits.len() as u32).collect(),
        };
        if self.temperature <= 0.0 {
            return argmax(logits, &candidates);
        }
        let max = candidates
            .iter()
            .map(|&t| logits[t as usize])
            .fold(f32::NEG_INFINITY, f32::max);
        let mut probs: Vec<(f32, u32)> = candidates
            .iter()
            .map(|&t| (((logits[t as usize] - max) / self.temperature).exp(), t))
            .collect();
        let total: f32 = probs.iter().map(|p| p.0).sum();
        for p in probs.iter_mut() {
            p.0 /= total;
        }
        let kept = nucleus(&mut probs, self.top_p);
        let mass: f32 = kept.iter().map(|p| p.0).sum();
        let mut r = self.rng.random::<f32>() * mass;
        for &(p, t) in kept {
            if r < p {
                return t;
            }
            r -= p;
        }
        kept.last().map(|p| p.1).unwrap_or(candidates[0])
    }
}

fn argmax(logits: &[f32], candidates: &[u32]) -> u32 {
    let mut best = candidates[0];
    for &t in candidates {
        if logits[t as usize] > logits[best as usize] {
            best = t;
        }
    }
    best
}

/// The most probable tokens whose mass reaches `top_p`, most probable first. Sorting the whole
/// vocabulary every token costs milliseconds, so the top 64 are selected first and the full
/// sort only happens when they do not reach `top_p`.
fn nucleus(probs: &mut [(f32, u32)], top_p: f32) -> &[(f32, u32)] {
    let by_prob = |a: &(f32, u32), b: &(f32, u32)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
    let head = 64.min(probs.len());
    if head < probs.len() {
        probs.select_nth_unstable_by(head - 1, by_prob);
    }
    probs[..head].sort_unstable_by(by_prob);
    let head_mass: f32 = probs[..head].iter().map(|p| p.0).sum();
    if head_mass < top_p && head < probs.len() {
        probs.sort_unstable_by(by_prob);
    }
    let mut cum = 0.0;
    for (i, p) in probs.iter().enumerate() {
        cum += p.0;
        if cum >= top_p {
            return &probs[..=i];
        }
    }
    probs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_tokens() {
        let params = GenerationParams {
            temperature: 1.0,
            top_p: 0.95,
            ..GenerationParams::default()
        };
        let logits: Vec<f32> = (0..500).map(|i| ((i * 37) % 101) as f32 / 10.0).collect();
        let run = || {
            let mut s = Sampler::new(&params);
            (0..20)
                .map(|_| s.sample(&mut logits.clone(), &[], None))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(), run());
    }

    #[test]
    fn mask_is_respected() {
        let params = GenerationParams {
            temperature: 1.5,
            top_p: 1.0,
            ..GenerationParams::default()
        };
        let mut s = Sampler::new(&params);
        for _ in 0..50 {
            let t = s.sample(&mut [5.0, 1.0, 0.0, 9.0], &[], Some(&[1, 2]));
            assert!(t == 1 || t == 2);
        }
    }
}
