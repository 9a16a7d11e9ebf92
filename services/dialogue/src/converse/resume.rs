//! A conversation that comes back continues from what the CRM timeline holds. A chat's dialogue
//! stream is reopened after a server restart, a verification, or an agent handing the customer
//! back to Parla; each time the conversation id is the same. Its stored turns give back the
//! transcript, the number of turns so far (turn numbers keep increasing, so a reply never
//! takes the number of an earlier one) and the customer's mood, so a customer who was upset is
//! not met as a stranger and a repeated complaint still counts as repeated.

use parla_proto::v1 as pb;

use crate::turn::ConversationState;

/// What was restored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Resumed {
    /// Customer turns restored.
    pub turns: u32,
}

/// Restores `state` from the stored `interaction` of the same conversation. Nothing is taken
/// from a conversation stored for another customer than the one identified now (an
/// identified customer never inherits someone else's turns, and an anonymous stream never
/// inherits an identified customer's); an anonymous conversation whose visitor then verified
/// an order in the chat keeps its turns.
pub fn resume(state: &mut ConversationState, interaction: &pb::Interaction) -> Option<Resumed> {
    let same_customer = interaction.customer_id == state.customer_id
        || (interaction.customer_id.is_empty() && !state.customer_id.is_empty());
    if interaction.conversation_id != state.id || !same_customer {
        return None;
    }
    let mut resumed = Resumed::default();
    for turn in &interaction.turns {
        match turn.speaker.as_str() {
            "customer" => {
                state.transcript.push(format!("customer: {}", turn.text));
                let score = turn.sentiment.as_ref().map_or(0.0, |s| s.score);
                let confidence = turn.intent.as_ref().map_or(1.0, |i| i.confidence);
                state.mood.replay(score, confidence);
                state.turn_index += 1;
                resumed.turns += 1;
            }
            // An interrupted reply is recorded twice (the reply, then what was heard of it).
            "parla" if turn.interrupted => {}
            "parla" => state.transcript.push(format!("parla: {}", turn.text)),
            "agent" => state.transcript.push(format!("agent: {}", turn.text)),
            _ => {}
        }
    }
    (resumed.turns > 0).then_some(resumed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Channel;

    fn turn(speaker: &str, text: &str, score: f32) -> pb::TimelineTurn {
        pb::TimelineTurn {
            speaker: speaker.into(),
            text: text.into(),
            sentiment: (speaker == "customer").then(|| pb::Sentiment {
                score,
                ..Default::default()
            }),
            intent: (speaker == "customer").then(|| pb::Intent {
                name: "delivery_problem".into(),
                confidence: 0.8,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn stored(customer: &str) -> pb::Interaction {
        pb::Interaction {
            conversation_id: "chat-1".into(),
            customer_id: customer.into(),
            turns: vec![
                turn("customer", "My parcel is late.", -0.4),
                turn("parla", "I'm sorry, it is with UPS.", 0.0),
                turn("customer", "Still nothing, third time I write.", -0.7),
                turn("parla", "I've opened a case.", 0.0),
                turn("agent", "Hi, I'm Anna, I'm checking.", 0.0),
            ],
            ..Default::default()
        }
    }

    fn state(customer: &str) -> ConversationState {
        let mut s = ConversationState::new("chat-1".into(), Channel::Chat, None, 0.5);
        s.customer_id = customer.into();
        s
    }

    #[test]
    fn a_returning_conversation_keeps_its_turn_count_transcript_and_mood() {
        let mut s = state("C300");
        assert_eq!(resume(&mut s, &stored("C300")), Some(Resumed { turns: 2 }));
        assert_eq!(s.turn_index, 2, "the next reply is turn 2, not 0");
        assert_eq!(s.transcript.len(), 5);
        assert!(s.transcript[4].starts_with("agent: "));
        assert_eq!(s.mood.scores(), &[-0.4, -0.7]);
        assert_eq!(s.mood.confidences(), &[0.8, 0.8]);
    }

    #[test]
    fn another_customers_or_another_conversations_turns_are_never_taken() {
        let mut s = state("C100");
        assert_eq!(resume(&mut s, &stored("C300")), None);
        let mut anonymous = state("");
        assert_eq!(resume(&mut anonymous, &stored("C300")), None);
        let mut other = ConversationState::new("chat-2".into(), Channel::Chat, None, 0.5);
        other.customer_id = "C300".into();
        assert_eq!(resume(&mut other, &stored("C300")), None);
        for s in [&s, &anonymous, &other] {
            assert_eq!(s.turn_index, 0);
            assert!(s.transcript.is_empty() && s.mood.scores().is_empty());
        }
    }

    #[test]
    fn a_visitor_who_verified_in_the_chat_keeps_the_anonymous_turns() {
        let mut s = state("C300");
        assert_eq!(resume(&mut s, &stored("")), Some(Resumed { turns: 2 }));
        assert_eq!(s.turn_index, 2);
    }

    #[test]
    fn stored_numbers_that_are_not_finite_are_neutral() {
        let mut s = state("C300");
        let mut i = stored("C300");
        i.turns[0].sentiment.as_mut().unwrap().score = f32::NAN;
        resume(&mut s, &i);
        assert_eq!(s.mood.scores()[0], 0.0);
    }
}
