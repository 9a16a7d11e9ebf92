//! Sentiment of a turn in [-1, 1] with a label, English and Italian: a lexicon score from
//! registry-shipped lexicons (VADER, Pattern) with support-specific rules, blended with a small
//! linear model trained on Parla's own labelled examples; and the trend across a conversation.

mod lexicon;
mod score;
mod trend;

pub use lexicon::Lexicon;
pub use score::LexiconScorer;
pub use trend::{SentimentTrend, TrendSummary, NEGATIVE_TURN};

use serde::{Deserialize, Serialize};

/// Coarse sentiment label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SentimentLabel {
    /// Unhappy, angry, disappointed.
    Negative,
    /// Matter-of-fact.
    Neutral,
    /// Pleased.
    Positive,
}

impl SentimentLabel {
    /// Lower-case name as in the evaluation set.
    pub fn as_str(self) -> &'static str {
        match self {
            SentimentLabel::Negative => "negative",
            SentimentLabel::Neutral => "neutral",
            SentimentLabel::Positive => "positive",
        }
    }

    /// Parses a lower-case name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "negative" => Some(SentimentLabel::Negative),
            "neutral" => Some(SentimentLabel::Neutral),
            "positive" => Some(SentimentLabel::Positive),
            _ => None,
        }
    }
}

/// The sentiment of one turn.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Sentiment {
    /// -1 (very negative) .. 1 (very positive).
    pub score: f32,
    /// Label from the score.
    pub label: SentimentLabel,
    /// The lexicon-and-rules part of the score.
    pub lexicon_score: f32,
    /// The learned part: P(positive) - P(negative).
    pub model_score: f32,
}

/// How the two signals are blended and cut into labels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SentimentBlend {
    /// Weight of the lexicon score (the model gets 1 - this).
    pub lexicon_weight: f32,
    /// |score| above which a turn is labelled positive or negative.
    pub threshold: f32,
}

impl Default for SentimentBlend {
    fn default() -> Self {
        SentimentBlend {
            lexicon_weight: 0.5,
            threshold: 0.25,
        }
    }
}

impl SentimentBlend {
    /// The turn read with the conversation so far: a turn that says little on its own ("fine.",
    /// "ok then") after unhappy ones takes on part of that mood (`before`, the trend's level),
    /// the less the more it says itself. Only unhappiness carries over: earlier good humour
    /// never softens a complaint. `weight` 0 reads the turn alone.
    pub fn in_context(&self, turn: Sentiment, before: f32, weight: f32) -> Sentiment {
        let pull = weight.clamp(0.0, 1.0) * before.clamp(-1.0, 0.0) * (1.0 - turn.score.abs());
        let score = (turn.score + pull).clamp(-1.0, 1.0);
        Sentiment {
            score,
            label: self.label(score),
            ..turn
        }
    }

    fn label(&self, score: f32) -> SentimentLabel {
        if score <= -self.threshold {
            SentimentLabel::Negative
        } else if score >= self.threshold {
            SentimentLabel::Positive
        } else {
            SentimentLabel::Neutral
        }
    }

    /// Combines both scores into a [`Sentiment`].
    pub fn combine(&self, lexicon_score: f32, model_score: f32) -> Sentiment {
        let w = self.lexicon_weight.clamp(0.0, 1.0);
        let score = (w * lexicon_score + (1.0 - w) * model_score).clamp(-1.0, 1.0);
        let label = self.label(score);
        Sentiment {
            score,
            label,
            lexicon_score,
            model_score,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_curt_turn_after_complaints_is_read_with_them() {
        let blend = SentimentBlend::default();
        let fine = blend.combine(0.0, 0.05);
        assert_eq!(fine.label, SentimentLabel::Neutral);
        let after_anger = blend.in_context(fine, -0.9, 0.5);
        assert_eq!(
            after_anger.label,
            SentimentLabel::Negative,
            "{after_anger:?}"
        );
        // A turn that speaks for itself keeps its own reading.
        let glad = blend.combine(0.9, 0.9);
        assert_eq!(
            blend.in_context(glad, -0.6, 0.5).label,
            SentimentLabel::Positive
        );
        // Weight 0 reads the turn alone.
        assert_eq!(blend.in_context(fine, -0.6, 0.0), fine);
    }
}
