//! The tone of a reply, chosen by a configurable table of rules from the customer's sentiment and
//! its trend, the intent, the customer's history (repeat contact, tier), whether the company
//! erred, and the channel. The first matching rule wins; a negative customer never gets the
//! neutral tone, whatever the table says.

use serde::{Deserialize, Serialize};

use crate::{Channel, Intent, SensitiveTopic, SentimentLabel};

/// The reply's tone: selects the template variant and is passed to speech synthesis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tone {
    /// Plain and factual.
    Neutral,
    /// Friendly.
    Warm,
    /// Acknowledges feelings first.
    Empathetic,
    /// Says sorry for what went wrong.
    Apologetic,
    /// Glad, for good news.
    Upbeat,
    /// Slow, short and reassuring (phone).
    Calm,
}

impl Tone {
    /// snake_case name, as in templates and the evaluation set.
    pub fn as_str(self) -> &'static str {
        match self {
            Tone::Neutral => "neutral",
            Tone::Warm => "warm",
            Tone::Empathetic => "empathetic",
            Tone::Apologetic => "apologetic",
            Tone::Upbeat => "upbeat",
            Tone::Calm => "calm",
        }
    }
}

/// What the tone policy looks at.
#[derive(Debug, Clone, PartialEq)]
pub struct ToneInput {
    /// This turn's intent.
    pub intent: Intent,
    /// This turn's sentiment score in [-1, 1].
    pub score: f32,
    /// This turn's sentiment label.
    pub label: SentimentLabel,
    /// Slope of the conversation's sentiment (negative: getting angrier).
    pub trend_slope: f32,
    /// The customer contacts us again about the same problem.
    pub repeat_contact: bool,
    /// The customer is in a high tier (see [`TonePolicy::high_tiers`]).
    pub tier: String,
    /// Parla or the company made a mistake (late, lost, wrong item, a failed action).
    pub company_error: bool,
    /// A sensitive topic came up.
    pub sensitive: Option<SensitiveTopic>,
    /// Voice or chat.
    pub channel: Channel,
}

/// One row of the tone table: every condition that is set must hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ToneRule {
    /// The tone to use when the row matches.
    pub tone: Tone,
    /// Any of these intents (empty: any intent).
    pub intents: Vec<Intent>,
    /// This sentiment label.
    pub sentiment: Option<SentimentLabel>,
    /// Trend slope at or below this value (growing anger).
    pub slope_below: Option<f32>,
    /// Repeat contact.
    pub repeat_contact: Option<bool>,
    /// High-tier customer.
    pub high_tier: Option<bool>,
    /// The company erred.
    pub company_error: Option<bool>,
    /// A sensitive topic is present.
    pub sensitive: Option<bool>,
    /// This channel.
    pub channel: Option<Channel>,
}

impl Default for ToneRule {
    fn default() -> Self {
        ToneRule {
            tone: Tone::Neutral,
            intents: Vec::new(),
            sentiment: None,
            slope_below: None,
            repeat_contact: None,
            high_tier: None,
            company_error: None,
            sensitive: None,
            channel: None,
        }
    }
}

/// The configurable tone table (`[dialogue.tone]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TonePolicy {
    /// Rules in order; the first match wins.
    pub rules: Vec<ToneRule>,
    /// Tone when no rule matches.
    pub fallback: Tone,
    /// Tiers treated as high (case-insensitive).
    pub high_tiers: Vec<String>,
}

impl Default for TonePolicy {
    fn default() -> Self {
        use Intent::*;
        let r = |tone| ToneRule {
            tone,
            ..ToneRule::default()
        };
        TonePolicy {
            rules: vec![
                ToneRule {
                    sensitive: Some(true),
                    ..r(Tone::Empathetic)
                },
                ToneRule {
                    sentiment: Some(SentimentLabel::Negative),
                    company_error: Some(true),
                    ..r(Tone::Apologetic)
                },
                ToneRule {
                    sentiment: Some(SentimentLabel::Negative),
                    repeat_contact: Some(true),
                    ..r(Tone::Apologetic)
                },
                ToneRule {
                    sentiment: Some(SentimentLabel::Negative),
                    ..r(Tone::Empathetic)
                },
                ToneRule {
                    slope_below: Some(-0.25),
                    ..r(Tone::Empathetic)
                },
                ToneRule {
                    intents: vec![DeliveryProblem, Complaint],
                    ..r(Tone::Empathetic)
                },
                ToneRule {
                    sentiment: Some(SentimentLabel::Positive),
                    ..r(Tone::Upbeat)
                },
                ToneRule {
                    high_tier: Some(true),
                    ..r(Tone::Warm)
                },
                ToneRule {
                    intents: vec![Greeting, Goodbye, Human],
                    ..r(Tone::Warm)
                },
                ToneRule {
                    channel: Some(Channel::Voice),
                    ..r(Tone::Calm)
                },
            ],
            fallback: Tone::Neutral,
            high_tiers: vec!["gold".into(), "platinum".into(), "vip".into()],
        }
    }
}

impl TonePolicy {
    /// Whether `tier` counts as high.
    pub fn is_high_tier(&self, tier: &str) -> bool {
        self.high_tiers
            .iter()
            .any(|t| t.eq_ignore_ascii_case(tier.trim()))
    }

    /// Chooses the tone for a turn.
    pub fn choose(&self, input: &ToneInput) -> Tone {
        let high = self.is_high_tier(&input.tier);
        let tone = self
            .rules
            .iter()
            .find(|rule| {
                (rule.intents.is_empty() || rule.intents.contains(&input.intent))
                    && rule.sentiment.is_none_or(|s| s == input.label)
                    && rule.slope_below.is_none_or(|s| input.trend_slope <= s)
                    && rule
                        .repeat_contact
                        .is_none_or(|b| b == input.repeat_contact)
                    && rule.high_tier.is_none_or(|b| b == high)
                    && rule.company_error.is_none_or(|b| b == input.company_error)
                    && rule
                        .sensitive
                        .is_none_or(|b| b == input.sensitive.is_some())
                    && rule.channel.is_none_or(|c| c == input.channel)
            })
            .map(|rule| rule.tone)
            .unwrap_or(self.fallback);
        // A frustrated customer must never get a flat, robotic reply.
        let negative = input.label == SentimentLabel::Negative || input.score <= -0.2;
        if negative && matches!(tone, Tone::Neutral | Tone::Upbeat) {
            Tone::Empathetic
        } else {
            tone
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(intent: Intent, label: SentimentLabel, score: f32) -> ToneInput {
        ToneInput {
            intent,
            score,
            label,
            trend_slope: 0.0,
            repeat_contact: false,
            tier: "standard".into(),
            company_error: false,
            sensitive: None,
            channel: Channel::Chat,
        }
    }

    #[test]
    fn default_table() {
        let p = TonePolicy::default();
        assert_eq!(
            p.choose(&input(Intent::Complaint, SentimentLabel::Negative, -0.6)),
            Tone::Empathetic
        );
        let mut erred = input(Intent::DeliveryProblem, SentimentLabel::Negative, -0.5);
        erred.company_error = true;
        assert_eq!(p.choose(&erred), Tone::Apologetic);
        assert_eq!(
            p.choose(&input(Intent::OrderStatus, SentimentLabel::Positive, 0.6)),
            Tone::Upbeat
        );
        assert_eq!(
            p.choose(&input(Intent::StoreInfo, SentimentLabel::Neutral, 0.0)),
            Tone::Neutral
        );
        let mut voice = input(Intent::StoreInfo, SentimentLabel::Neutral, 0.0);
        voice.channel = Channel::Voice;
        assert_eq!(p.choose(&voice), Tone::Calm);
        let mut gold = input(Intent::Return, SentimentLabel::Neutral, 0.0);
        gold.tier = "Gold".into();
        assert_eq!(p.choose(&gold), Tone::Warm);
    }

    #[test]
    fn negative_never_neutral_even_with_a_bad_table() {
        let p = TonePolicy {
            rules: vec![],
            ..TonePolicy::default()
        };
        assert_eq!(
            p.choose(&input(Intent::StoreInfo, SentimentLabel::Negative, -0.7)),
            Tone::Empathetic
        );
    }
}
