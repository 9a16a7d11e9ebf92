//! Conversions between the dialogue's own types and the parla.v1 messages it sends.

use parla_proto::v1 as pb;

use super::TurnOutcome;
use crate::Channel;

pub(super) fn channel_from_pb(c: i32) -> Channel {
    if c == pb::Channel::Voice as i32 {
        Channel::Voice
    } else {
        Channel::Chat
    }
}

pub(super) fn channel_to_pb(c: Channel) -> pb::Channel {
    match c {
        Channel::Voice => pb::Channel::Voice,
        Channel::Chat => pb::Channel::Chat,
    }
}

pub(super) fn tone_to_pb(t: crate::Tone) -> pb::Tone {
    use crate::Tone as T;
    match t {
        T::Neutral => pb::Tone::Neutral,
        T::Warm => pb::Tone::Warm,
        T::Empathetic => pb::Tone::Empathetic,
        T::Apologetic => pb::Tone::Apologetic,
        T::Upbeat => pb::Tone::Upbeat,
        T::Calm => pb::Tone::Calm,
    }
}

pub(super) fn sentiment_to_pb(o: &TurnOutcome) -> pb::Sentiment {
    use crate::SentimentLabel as L;
    let label = match o.analysis.sentiment.label {
        L::Negative => pb::SentimentLabel::Negative,
        L::Neutral => pb::SentimentLabel::Neutral,
        L::Positive => pb::SentimentLabel::Positive,
    };
    pb::Sentiment {
        score: o.analysis.sentiment.score,
        label: label as i32,
        trend: o.trend.slope,
    }
}

pub(super) fn intent_to_pb(o: &TurnOutcome) -> pb::Intent {
    pb::Intent {
        name: o.analysis.intent.as_str().to_owned(),
        confidence: o.analysis.confidence,
        slots: o
            .analysis
            .slots
            .iter()
            .map(|s| (s.kind.as_str().to_owned(), s.value.clone()))
            .collect(),
    }
}

pub(super) fn decision_to_pb(d: &crate::HandoffDecision) -> pb::HandoffDecision {
    use crate::HandoffReason as R;
    let reason = d.reason.map(|r| match r {
        R::Request => pb::HandoffReason::Request,
        R::Confidence => pb::HandoffReason::Confidence,
        R::Sentiment => pb::HandoffReason::Sentiment,
        R::NoProgress => pb::HandoffReason::NoProgress,
        R::Sensitive => pb::HandoffReason::Sensitive,
        R::VipUnhappy => pb::HandoffReason::VipUnhappy,
        R::ActionUnconfirmed => pb::HandoffReason::ActionUnconfirmed,
    });
    pb::HandoffDecision {
        handoff: d.handoff,
        reason: reason.unwrap_or(pb::HandoffReason::Unspecified) as i32,
        explanation: d.explanation.clone(),
        ticket_id: String::new(),
    }
}
