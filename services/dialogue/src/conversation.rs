//! Per-conversation memory the policies need: every turn's confidence and sentiment score and the
//! sentiment trend, turned into [`HandoffSignals`] after each turn.

use serde::{Deserialize, Serialize};

use crate::{Analysis, HandoffSignals, SentimentTrend, TrendSummary};

/// How far a conversation is getting: the counters behind a no-progress hand-off.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// Turns without progress (clarifications) in a row.
    pub failed_attempts: u32,
    /// Off-topic turns so far (not manipulation).
    pub off_topic: u32,
    /// Consecutive turns asking again what was just answered.
    pub repeats: u32,
    /// The turn answers a question a flow is waiting on.
    pub answering: bool,
}

/// What the understanding remembers across the turns of one conversation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConversationMood {
    trend: SentimentTrend,
    scores: Vec<f32>,
    confidences: Vec<f32>,
}

impl ConversationMood {
    /// An empty history whose trend weighs older turns by `decay` (see [`SentimentTrend::new`]).
    pub fn new(decay: f32) -> Self {
        ConversationMood {
            trend: SentimentTrend::new(decay),
            scores: Vec::new(),
            confidences: Vec::new(),
        }
    }

    /// Records a turn: its analysis and the turn's overall confidence (the understanding's, or
    /// one combined with ASR confidence and slot completeness). Returns the updated trend.
    pub fn record(&mut self, analysis: &Analysis, confidence: f32) -> TrendSummary {
        self.scores.push(analysis.sentiment.score);
        self.confidences.push(confidence.clamp(0.0, 1.0));
        self.trend.push(analysis.sentiment.score)
    }

    /// Records a stored turn's sentiment score and confidence again (a conversation resumed
    /// from the CRM timeline).
    pub fn replay(&mut self, score: f32, confidence: f32) {
        let score = if score.is_finite() {
            score.clamp(-1.0, 1.0)
        } else {
            0.0
        };
        let confidence = if confidence.is_finite() {
            confidence
        } else {
            1.0
        };
        self.scores.push(score);
        self.confidences.push(confidence.clamp(0.0, 1.0));
        self.trend.push(score);
    }

    /// The trend so far.
    pub fn trend(&self) -> TrendSummary {
        self.trend.summary()
    }

    /// Every turn's sentiment score, oldest first.
    pub fn scores(&self) -> &[f32] {
        &self.scores
    }

    /// Every turn's confidence, oldest first.
    pub fn confidences(&self) -> &[f32] {
        &self.confidences
    }

    /// Hand-off signals after recording `analysis` (the latest turn).
    pub fn signals<'a>(
        &'a self,
        analysis: &Analysis,
        progress: Progress,
        tier: &'a str,
    ) -> HandoffSignals<'a> {
        HandoffSignals {
            asked_for_human: analysis.asked_for_human,
            sensitive: analysis.sensitive_topic,
            confidences: &self.confidences,
            sentiment: &self.scores,
            trend: self.trend.summary(),
            failed_attempts: progress.failed_attempts,
            off_topic: progress.off_topic,
            repeats: progress.repeats,
            answering: progress.answering,
            tier,
        }
    }
}
