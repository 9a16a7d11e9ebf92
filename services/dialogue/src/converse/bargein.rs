//! Barge-in on the timeline: when the customer interrupts a reply, the part they heard is
//! appended to the CRM timeline as an interrupted `parla` turn (`interrupted`, `heard_chars`),
//! so an agent reading the conversation knows what the customer did and did not hear.

use parla_proto::v1 as pb;
use parla_proto::v1::crm_client::CrmClient;
use parla_proto::PeerChannel;

use crate::converse::ConversationState;

/// The text of the reply to `turn_index` the customer heard (its first `heard_chars`
/// characters); `None` for a turn that has no reply.
pub fn heard_part(state: &ConversationState, turn_index: u32, heard_chars: u32) -> Option<String> {
    let line = state.transcript.get(2 * turn_index as usize + 1)?;
    let reply = line.strip_prefix("parla: ")?;
    Some(reply.chars().take(heard_chars as usize).collect())
}

/// Appends the interruption to the timeline (logged on failure; nothing when the CRM is
/// unavailable or the turn unknown).
pub async fn record(
    crm: Option<PeerChannel>,
    state: &ConversationState,
    turn_index: u32,
    heard_chars: u32,
) {
    let Some(heard) = heard_part(state, turn_index, heard_chars) else {
        tracing::info!(conversation = %state.id, turn = turn_index, "barge-in for a turn without a reply");
        return;
    };
    let Some(channel) = crm.filter(|_| !state.crm_down) else {
        return;
    };
    let request = pb::AppendInteractionRequest {
        conversation_id: state.id.clone(),
        customer_id: state.customer_id.clone(),
        channel: match state.channel {
            crate::Channel::Voice => pb::Channel::Voice,
            crate::Channel::Chat => pb::Channel::Chat,
        } as i32,
        turn: Some(pb::TimelineTurn {
            speaker: "parla".into(),
            text: heard,
            interrupted: true,
            heard_chars,
            ..Default::default()
        }),
        ..Default::default()
    };
    if let Err(e) = CrmClient::new(channel).append_interaction(request).await {
        tracing::warn!(conversation = %state.id, error = %e, "crm barge-in append failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_heard_part_is_a_prefix_of_that_turns_reply() {
        let mut s = ConversationState::new("c".into(), crate::Channel::Voice, None, 0.7);
        s.transcript = vec![
            "customer: hi".into(),
            "parla: Hello, this is Parla.".into(),
            "customer: où".into(),
            "parla: Perché è così?".into(),
        ];
        assert_eq!(heard_part(&s, 0, 5).as_deref(), Some("Hello"));
        assert_eq!(heard_part(&s, 1, 7).as_deref(), Some("Perché "));
        assert_eq!(heard_part(&s, 1, 999).as_deref(), Some("Perché è così?"));
        assert_eq!(heard_part(&s, 2, 3), None);
    }
}
