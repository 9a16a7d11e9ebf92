//! When to hand the conversation to a person: an explicit request (at once), a sensitive topic,
//! an unhappy high-tier customer, sentiment that stays low or falls sharply, understanding that
//! stays unsure for several turns, or no progress after several attempts. Thresholds live in
//! `[dialogue.handoff]`; reasons match the proto's `HandoffReason`.

use serde::{Deserialize, Serialize};

use crate::sentiment::NEGATIVE_TURN;
use crate::{SensitiveTopic, TrendSummary};

/// Why Parla hands off (the proto's `HandoffReason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HandoffReason {
    /// The customer asked for a person.
    Request,
    /// Understanding stayed below the confidence threshold.
    Confidence,
    /// Sentiment stayed low or fell sharply.
    Sentiment,
    /// The flow made no progress after several attempts.
    NoProgress,
    /// A sensitive topic: legal, bereavement, fraud, safety.
    Sensitive,
    /// A high-tier customer is unhappy.
    VipUnhappy,
    /// A flow's action may or may not have been carried out (its tool gave no usable answer
    /// after the request was sent): a person checks it.
    ActionUnconfirmed,
}

impl HandoffReason {
    /// snake_case name, as in the evaluation set.
    pub fn as_str(self) -> &'static str {
        match self {
            HandoffReason::Request => "request",
            HandoffReason::Confidence => "confidence",
            HandoffReason::Sentiment => "sentiment",
            HandoffReason::NoProgress => "no_progress",
            HandoffReason::Sensitive => "sensitive",
            HandoffReason::VipUnhappy => "vip_unhappy",
            HandoffReason::ActionUnconfirmed => "action_unconfirmed",
        }
    }
}

/// Thresholds of the hand-off policy (`[dialogue.handoff]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HandoffPolicy {
    /// Hand off when the customer asks for a person.
    pub on_request: bool,
    /// Hand off on legal, bereavement, fraud or safety topics.
    pub on_sensitive: bool,
    /// Confidence under which a turn counts as not understood.
    pub min_confidence: f32,
    /// Consecutive not-understood turns before handing off.
    pub low_confidence_turns: usize,
    /// Sentiment score under which a turn counts as very negative.
    pub sentiment_floor: f32,
    /// Consecutive very negative turns before handing off.
    pub sentiment_floor_turns: usize,
    /// Consecutive negative turns (score under -0.2) before handing off: anger that continues,
    /// as opposed to one curt turn.
    pub negative_turns: usize,
    /// Hand off when sentiment fell by more than this from the conversation's best turn
    /// (and the latest turn is negative).
    pub sentiment_drop: f32,
    /// Failed attempts of a flow step before handing off.
    pub max_attempts: u32,
    /// Off-topic turns in a conversation (not manipulation) before handing off: the customer
    /// keeps drifting and nothing gets done.
    pub max_off_topic: u32,
    /// Times the customer asks again what Parla has just answered (the same intent right after
    /// its answer) before handing off: the answer does not help.
    pub max_repeats: u32,
    /// Tiers that get a person as soon as they are unhappy (case-insensitive).
    pub vip_tiers: Vec<String>,
    /// Sentiment score under which a high-tier customer counts as unhappy.
    pub vip_unhappy_below: f32,
}

impl Default for HandoffPolicy {
    fn default() -> Self {
        HandoffPolicy {
            on_request: true,
            on_sensitive: true,
            min_confidence: 0.4,
            low_confidence_turns: 2,
            sentiment_floor: -0.6,
            sentiment_floor_turns: 2,
            negative_turns: 3,
            sentiment_drop: 1.0,
            max_attempts: 3,
            max_off_topic: 3,
            max_repeats: 2,
            vip_tiers: vec!["gold".into(), "platinum".into(), "vip".into()],
            vip_unhappy_below: -0.25,
        }
    }
}

/// What the policy looks at after a turn.
#[derive(Debug, Clone, PartialEq)]
pub struct HandoffSignals<'a> {
    /// The customer asked for a person this turn.
    pub asked_for_human: bool,
    /// A sensitive topic this turn.
    pub sensitive: Option<SensitiveTopic>,
    /// Confidence of each turn so far, oldest first (the latest last).
    pub confidences: &'a [f32],
    /// Every turn's sentiment score so far, oldest first.
    pub sentiment: &'a [f32],
    /// The sentiment trend after this turn.
    pub trend: TrendSummary,
    /// Failed attempts of the current flow step.
    pub failed_attempts: u32,
    /// Off-topic turns so far, this one included.
    pub off_topic: u32,
    /// Consecutive times the customer asked again what was just answered, this turn included.
    pub repeats: u32,
    /// The turn answers a flow's question (the customer is getting somewhere).
    pub answering: bool,
    /// The customer's tier.
    pub tier: &'a str,
}

/// The policy's verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HandoffDecision {
    /// Hand off now.
    pub handoff: bool,
    /// Why (set when `handoff`).
    pub reason: Option<HandoffReason>,
    /// One line for the agent and the timeline.
    pub explanation: String,
}

impl HandoffDecision {
    fn yes(reason: HandoffReason, explanation: String) -> Self {
        HandoffDecision {
            handoff: true,
            reason: Some(reason),
            explanation,
        }
    }

    /// Not handing off.
    pub fn no() -> Self {
        HandoffDecision {
            handoff: false,
            reason: None,
            explanation: String::new(),
        }
    }
}

impl HandoffPolicy {
    /// Decides whether to hand off after a turn.
    pub fn decide(&self, s: &HandoffSignals<'_>) -> HandoffDecision {
        if self.on_request && s.asked_for_human {
            return HandoffDecision::yes(
                HandoffReason::Request,
                "the customer asked for a person".into(),
            );
        }
        if let (true, Some(topic)) = (self.on_sensitive, s.sensitive) {
            return HandoffDecision::yes(
                HandoffReason::Sensitive,
                format!("sensitive topic: {}", topic.as_str()),
            );
        }
        let last = s.sentiment.last().copied().unwrap_or(0.0);
        let vip = self.vip_unhappy(s, last);
        // A high-tier customer who is let down but not angry is handed off as such, even when
        // the fall from a happy first turn is steep: the colleague who takes over needs to know
        // that a loyal customer is disappointed, not that the conversation turned hostile.
        if let Some(decision) = vip.clone().filter(|_| last >= self.sentiment_floor) {
            return decision;
        }
        if let Some(decision) = self.sentiment_verdict(s, last) {
            return decision;
        }
        if let Some(decision) = vip {
            return decision;
        }
        let unsure = s
            .confidences
            .iter()
            .rev()
            .take_while(|c| **c < self.min_confidence)
            .count();
        if self.low_confidence_turns > 0 && unsure >= self.low_confidence_turns {
            return HandoffDecision::yes(
                HandoffReason::Confidence,
                format!(
                    "confidence below {:.2} for {unsure} turns",
                    self.min_confidence
                ),
            );
        }
        if self.max_attempts > 0 && s.failed_attempts >= self.max_attempts {
            return HandoffDecision::yes(
                HandoffReason::NoProgress,
                format!("no progress after {} attempts", s.failed_attempts),
            );
        }
        if self.max_off_topic > 0 && s.off_topic >= self.max_off_topic {
            return HandoffDecision::yes(
                HandoffReason::NoProgress,
                format!("{} off-topic turns", s.off_topic),
            );
        }
        if self.max_repeats > 0 && s.repeats >= self.max_repeats {
            return HandoffDecision::yes(
                HandoffReason::NoProgress,
                format!(
                    "the customer asked the same thing again {} times",
                    s.repeats
                ),
            );
        }
        HandoffDecision::no()
    }

    /// The sentiment rules: very negative for several turns, negative for several turns in a
    /// row, or a sharp fall from the conversation's best turn.
    fn sentiment_verdict(&self, s: &HandoffSignals<'_>, last: f32) -> Option<HandoffDecision> {
        let low = s
            .sentiment
            .iter()
            .rev()
            .take_while(|v| **v < self.sentiment_floor)
            .count();
        if self.sentiment_floor_turns > 0 && low >= self.sentiment_floor_turns {
            return Some(HandoffDecision::yes(
                HandoffReason::Sentiment,
                format!(
                    "sentiment below {:.2} for {low} turns (latest {last:.2})",
                    self.sentiment_floor
                ),
            ));
        }
        let negative = s
            .sentiment
            .iter()
            .rev()
            .take_while(|v| **v < NEGATIVE_TURN)
            .count();
        if self.negative_turns > 0 && negative >= self.negative_turns {
            return Some(HandoffDecision::yes(
                HandoffReason::Sentiment,
                format!("negative for {negative} turns in a row (latest {last:.2})"),
            ));
        }
        if s.sentiment.len() >= 2
            && s.trend.peak - last > self.sentiment_drop
            && last < NEGATIVE_TURN
        {
            return Some(HandoffDecision::yes(
                HandoffReason::Sentiment,
                format!("sentiment fell from {:.2} to {last:.2}", s.trend.peak),
            ));
        }
        None
    }

    /// A high-tier customer let down by what Parla said or did: not the problem they came with
    /// (the first turn, which Parla has not answered yet), nor an answer to a flow's question
    /// (they are getting somewhere).
    fn vip_unhappy(&self, s: &HandoffSignals<'_>, last: f32) -> Option<HandoffDecision> {
        let high_tier = self
            .vip_tiers
            .iter()
            .any(|t| t.eq_ignore_ascii_case(s.tier.trim()));
        (high_tier && s.sentiment.len() >= 2 && !s.answering && last < self.vip_unhappy_below).then(
            || {
                HandoffDecision::yes(
                    HandoffReason::VipUnhappy,
                    format!(
                        "{} customer is unhappy (sentiment {last:.2})",
                        s.tier.trim()
                    ),
                )
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SentimentTrend;

    fn signals<'a>(conf: &'a [f32], sent: &'a [f32], tier: &'a str) -> HandoffSignals<'a> {
        let mut t = SentimentTrend::default();
        sent.iter().for_each(|s| {
            t.push(*s);
        });
        HandoffSignals {
            asked_for_human: false,
            sensitive: None,
            confidences: conf,
            sentiment: sent,
            trend: t.summary(),
            failed_attempts: 0,
            off_topic: 0,
            repeats: 0,
            answering: false,
            tier,
        }
    }

    #[test]
    fn reasons() {
        let p = HandoffPolicy::default();
        let calm = signals(&[0.9, 0.8], &[0.0, -0.1], "standard");
        assert!(!p.decide(&calm).handoff);

        let mut ask = calm.clone();
        ask.asked_for_human = true;
        assert_eq!(p.decide(&ask).reason, Some(HandoffReason::Request));

        let mut topic = calm.clone();
        topic.sensitive = Some(SensitiveTopic::Bereavement);
        assert_eq!(p.decide(&topic).reason, Some(HandoffReason::Sensitive));

        assert_eq!(
            p.decide(&signals(&[0.9; 3], &[-0.3, -0.6, -0.7], "standard"))
                .reason,
            Some(HandoffReason::Sentiment)
        );
        // One curt turn is not enough.
        assert!(
            !p.decide(&signals(&[0.9; 2], &[0.0, -0.7], "standard"))
                .handoff
        );
        assert!(
            !p.decide(&signals(&[0.9; 2], &[-0.3, -0.5], "standard"))
                .handoff
        );
        assert_eq!(
            p.decide(&signals(&[0.9; 2], &[-0.7, -0.8], "standard"))
                .reason,
            Some(HandoffReason::Sentiment)
        );
        assert_eq!(
            p.decide(&signals(&[0.9; 2], &[0.6, -0.5], "standard"))
                .reason,
            Some(HandoffReason::Sentiment)
        );
        assert_eq!(
            p.decide(&signals(&[0.9, 0.35, 0.2], &[0.0; 3], "standard"))
                .reason,
            Some(HandoffReason::Confidence)
        );
        assert_eq!(
            p.decide(&signals(&[0.9; 2], &[0.1, -0.4], "VIP")).reason,
            Some(HandoffReason::VipUnhappy)
        );
        // The problem a VIP comes with is Parla's to answer first.
        assert!(!p.decide(&signals(&[0.9], &[-0.4], "VIP")).handoff);

        let mut stuck = calm.clone();
        stuck.failed_attempts = 3;
        assert_eq!(p.decide(&stuck).reason, Some(HandoffReason::NoProgress));

        let mut drifting = calm.clone();
        drifting.off_topic = 2;
        assert!(!p.decide(&drifting).handoff);
        drifting.off_topic = 3;
        assert_eq!(p.decide(&drifting).reason, Some(HandoffReason::NoProgress));

        let mut asking_again = calm.clone();
        asking_again.repeats = 1;
        assert!(!p.decide(&asking_again).handoff);
        asking_again.repeats = 2;
        assert_eq!(
            p.decide(&asking_again).reason,
            Some(HandoffReason::NoProgress)
        );

        // A gold customer mildly let down gets a person; a standard one does not.
        assert_eq!(
            p.decide(&signals(&[0.9; 2], &[0.3, -0.3], "gold")).reason,
            Some(HandoffReason::VipUnhappy)
        );
        assert!(
            !p.decide(&signals(&[0.9; 2], &[0.3, -0.3], "standard"))
                .handoff
        );
        assert!(!p.decide(&signals(&[0.9; 2], &[0.3, -0.15], "gold")).handoff);
        assert!(!p.decide(&signals(&[0.9; 2], &[0.3, 0.0], "gold")).handoff);
        let mut answering = signals(&[0.9; 2], &[0.3, -0.3], "gold");
        answering.answering = true;
        assert!(!p.decide(&answering).handoff);
    }

    #[test]
    fn a_loyal_customer_let_down_after_a_happy_start_is_a_vip_hand_off() {
        let p = HandoffPolicy::default();
        // Delighted first, then mildly let down: the fall is steep, the mood is not anger.
        let let_down = signals(&[0.9; 2], &[0.8, -0.4], "platinum");
        assert_eq!(p.decide(&let_down).reason, Some(HandoffReason::VipUnhappy));
        // The same fall for a standard customer is the sentiment rule.
        let standard = signals(&[0.9; 2], &[0.8, -0.4], "standard");
        assert_eq!(p.decide(&standard).reason, Some(HandoffReason::Sentiment));
        // A high-tier customer who is angry is handed off for the anger.
        let angry = signals(&[0.9; 2], &[-0.7, -0.8], "gold");
        assert_eq!(p.decide(&angry).reason, Some(HandoffReason::Sentiment));
    }
}
