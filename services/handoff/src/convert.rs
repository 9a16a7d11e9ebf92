//! Conversions between the queue's types and `parla.v1` messages.

use parla_proto::v1 as pb;
use tonic::Status;

use crate::agents::{AgentAccount, AgentDirectory};
use crate::store::{Ticket, TicketMessage, TicketState};

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub(crate) fn timestamp(ms: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: (ms.rem_euclid(1000) * 1_000_000) as i32,
    }
}

pub(crate) fn state_to_pb(state: TicketState) -> pb::TicketState {
    match state {
        TicketState::Waiting => pb::TicketState::Waiting,
        TicketState::Claimed => pb::TicketState::Claimed,
        TicketState::Returned => pb::TicketState::Returned,
        TicketState::Closed => pb::TicketState::Closed,
    }
}

pub(crate) fn state_from_pb(state: i32) -> Result<Option<TicketState>, Status> {
    Ok(match pb::TicketState::try_from(state) {
        Ok(pb::TicketState::Unspecified) => None,
        Ok(pb::TicketState::Waiting) => Some(TicketState::Waiting),
        Ok(pb::TicketState::Claimed) => Some(TicketState::Claimed),
        Ok(pb::TicketState::Returned) => Some(TicketState::Returned),
        Ok(pb::TicketState::Closed) => Some(TicketState::Closed),
        Err(_) => {
            return Err(Status::invalid_argument(format!(
                "unknown ticket state {state}"
            )))
        }
    })
}

pub(crate) fn ticket_to_pb(ticket: Ticket, agents: Option<&AgentDirectory>) -> pb::Ticket {
    let priority = crate::priority::priority(&ticket, now_ms());
    let agent_name = ticket
        .agent_id
        .as_deref()
        .and_then(|id| agents.and_then(|a| a.get(id)))
        .map(|a| a.name.clone())
        .unwrap_or_default();
    pb::Ticket {
        id: ticket.id,
        state: state_to_pb(ticket.state) as i32,
        context: Some(ticket.context),
        agent_id: ticket.agent_id.unwrap_or_default(),
        skill: ticket.skill,
        created_at: Some(timestamp(ticket.created_at_ms)),
        priority,
        agent_name,
    }
}

pub(crate) fn message_to_pb(m: TicketMessage, conversation_id: &str) -> pb::TicketMessage {
    pb::TicketMessage {
        id: m.id,
        ticket_id: m.ticket_id,
        conversation_id: conversation_id.to_owned(),
        speaker: m.speaker,
        agent_name: m.agent_name,
        text: m.text,
        at: Some(timestamp(m.at_ms)),
    }
}

pub(crate) fn agent_to_pb(a: &AgentAccount, available: bool, active: u32) -> pb::Agent {
    pb::Agent {
        id: a.id.clone(),
        name: a.name.clone(),
        role: if a.is_supervisor() {
            pb::AgentRole::Supervisor
        } else {
            pb::AgentRole::Agent
        } as i32,
        languages: a.languages.clone(),
        skills: a.skills.clone(),
        capacity: a.capacity(),
        available,
        active,
    }
}

/// The CRM timeline entry of an agent's wrap-up of the conversation in
/// `context`.
pub(crate) fn wrap_up_to_pb(
    context: &pb::ContextPackage,
    agent_name: &str,
    outcome: &str,
    note: &str,
) -> pb::AppendInteractionRequest {
    let said = if outcome.is_empty() {
        "no outcome given"
    } else {
        outcome
    };
    let note = if note.is_empty() {
        String::new()
    } else {
        format!(". Note: {note}")
    };
    pb::AppendInteractionRequest {
        conversation_id: context.conversation_id.clone(),
        customer_id: context.customer_id.clone(),
        channel: context.channel,
        turn: Some(pb::TimelineTurn {
            speaker: "agent".into(),
            text: format!("wrap-up by {agent_name}: {said}{note}"),
            at: Some(timestamp(now_ms())),
            ..Default::default()
        }),
        summary: String::new(),
        outcome: outcome.to_owned(),
    }
}
