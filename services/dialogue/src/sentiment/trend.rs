//! The conversation's mood over time: an exponentially weighted level and slope of the per-turn
//! scores, so that a customer who grows angrier over three turns is told apart from one who was
//! curt once.

use serde::{Deserialize, Serialize};

/// Per-turn sentiment history of one conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SentimentTrend {
    decay: f32,
    scores: Vec<f32>,
}

/// A snapshot of the trend after the latest turn.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrendSummary {
    /// Exponentially weighted mean score, in [-1, 1].
    pub level: f32,
    /// Exponentially weighted least-squares slope per turn (negative: getting angrier).
    pub slope: f32,
    /// Turns seen.
    pub turns: usize,
    /// Consecutive negative turns ending with the latest one.
    pub negative_streak: usize,
    /// The latest score.
    pub last: f32,
    /// The highest score so far.
    pub peak: f32,
    /// Anger that builds: two or more negative turns in a row and a falling slope.
    pub escalating: bool,
}

/// Score under which a turn counts as negative for the streak.
pub const NEGATIVE_TURN: f32 = -0.2;

impl Default for SentimentTrend {
    fn default() -> Self {
        Self::new(0.7)
    }
}

impl SentimentTrend {
    /// An empty history; `decay` in (0, 1] weighs older turns (0.7: three turns back counts 0.34).
    pub fn new(decay: f32) -> Self {
        SentimentTrend {
            decay: decay.clamp(0.05, 1.0),
            scores: Vec::new(),
        }
    }

    /// Records a turn's score and returns the updated summary.
    pub fn push(&mut self, score: f32) -> TrendSummary {
        self.scores.push(score.clamp(-1.0, 1.0));
        self.summary()
    }

    /// The scores so far, oldest first.
    pub fn scores(&self) -> &[f32] {
        &self.scores
    }

    /// The summary of the history (all zeros when empty).
    pub fn summary(&self) -> TrendSummary {
        let n = self.scores.len();
        let last = self.scores.last().copied().unwrap_or(0.0);
        let weights: Vec<f32> = (0..n)
            .map(|i| self.decay.powi((n - 1 - i) as i32))
            .collect();
        let wsum: f32 = weights.iter().sum::<f32>().max(1e-6);
        let xm = weights
            .iter()
            .enumerate()
            .map(|(i, w)| w * i as f32)
            .sum::<f32>()
            / wsum;
        let level = weights
            .iter()
            .zip(&self.scores)
            .map(|(w, s)| w * s)
            .sum::<f32>()
            / wsum;
        let (mut sxy, mut sxx) = (0.0, 0.0);
        for (i, (w, s)) in weights.iter().zip(&self.scores).enumerate() {
            let dx = i as f32 - xm;
            sxy += w * dx * (s - level);
            sxx += w * dx * dx;
        }
        let slope = if sxx > 1e-6 { sxy / sxx } else { 0.0 };
        let negative_streak = self
            .scores
            .iter()
            .rev()
            .take_while(|s| **s < NEGATIVE_TURN)
            .count();
        let peak = self
            .scores
            .iter()
            .cloned()
            .fold(f32::NEG_INFINITY, f32::max);
        TrendSummary {
            level,
            slope,
            turns: n,
            negative_streak,
            last,
            peak: if n == 0 { 0.0 } else { peak },
            escalating: negative_streak >= 2 && slope < -0.05,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growing_anger_differs_from_one_curt_turn() {
        let mut angry = SentimentTrend::default();
        for s in [-0.1, -0.4, -0.8] {
            angry.push(s);
        }
        let a = angry.summary();
        assert!(a.escalating && a.slope < -0.2, "{a:?}");

        let mut curt = SentimentTrend::default();
        for s in [0.1, -0.6, 0.0] {
            curt.push(s);
        }
        let c = curt.summary();
        assert!(!c.escalating && c.negative_streak == 0, "{c:?}");
    }
}
