//! The interaction timeline: conversations and their turns, on every
//! channel. A turn's position is assigned by the same statement that
//! creates or bumps its conversation row; that row lock serializes
//! concurrent appends to one conversation, so positions are gap-free and in
//! commit order.

use serde::{Deserialize, Serialize};

use super::{customers, from_json, require, to_json, SqlStore};
use crate::error::{CrmError, Result};
use crate::model::{
    now_ms, Action, Append, Channel, Handoff, Intent, Interaction, Sentiment, TimelineTurn,
    SPEAKERS,
};
use crate::sql::{Conn, Database, Row};

/// Turns of each conversation carried in a customer context.
pub(super) const CONTEXT_TURNS: usize = 10;
/// Longest turn text accepted.
const MAX_TEXT_BYTES: usize = 32 * 1024;

/// What a turn carries besides its text, stored as one JSON value.
#[derive(Debug, Default, Serialize, Deserialize)]
struct TurnDetail {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sentiment: Option<Sentiment>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    intent: Option<Intent>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    actions: Vec<Action>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    handoff: Option<Handoff>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    interrupted: bool,
    #[serde(default, skip_serializing_if = "is_zero")]
    heard_chars: u32,
}

/// Refuses a turn whose scores are not numbers in their range (a NaN
/// sentiment would poison every average that reads it).
fn check_numbers(turn: &crate::model::TimelineTurn) -> Result<()> {
    if let Some(s) = &turn.sentiment {
        // A trend is a slope per turn: from -1 to 1 in one turn is 2.
        for (field, v, bound) in [
            ("turn.sentiment.score", s.score, 1.0f32),
            ("turn.sentiment.trend", s.trend, 2.0),
        ] {
            if !v.is_finite() || !(-bound..=bound).contains(&v) {
                return Err(CrmError::invalid(
                    field,
                    format!("is {v}; allowed: -{bound} to {bound}"),
                ));
            }
        }
    }
    if let Some(i) = &turn.intent {
        let v = i.confidence;
        if !v.is_finite() || !(0.0..=1.0).contains(&v) {
            return Err(CrmError::invalid(
                "turn.intent.confidence",
                format!("is {v}; allowed: 0 to 1"),
            ));
        }
    }
    Ok(())
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

pub(super) fn append<D: Database>(store: &SqlStore<D>, a: &Append) -> Result<u64> {
    require("conversation_id", &a.conversation_id)?;
    let turn = &a.turn;
    if !SPEAKERS.contains(&turn.speaker.as_str()) {
        return Err(CrmError::invalid(
            "turn.speaker",
            format!("must be one of {}", SPEAKERS.join(", ")),
        ));
    }
    if turn.text.len() > MAX_TEXT_BYTES {
        return Err(CrmError::invalid(
            "turn.text",
            format!("is longer than {MAX_TEXT_BYTES} bytes"),
        ));
    }
    check_numbers(turn)?;
    let c = &store.cipher;
    let now = now_ms();
    let at = if turn.at == 0 { now } else { turn.at };
    let detail = TurnDetail {
        sentiment: turn.sentiment.clone(),
        intent: turn.intent.clone(),
        actions: turn.actions.clone(),
        handoff: turn.handoff.clone(),
        interrupted: turn.interrupted,
        heard_chars: turn.heard_chars,
    };
    let sealed_text = c.seal(&turn.text)?;
    let sealed_detail = c.seal(&to_json(&detail)?)?;
    let sealed_summary = c.seal(&a.summary)?;
    let customer_id = a.customer_id.clone().filter(|id| !id.is_empty());
    let position = store.db.write(|conn| {
        if let Some(id) = &customer_id {
            customers::load(store, conn, id, false)?;
        }
        let row = conn
            .query_opt(
                "INSERT INTO conversations (id, customer_id, channel, started_at, updated_at, \
                 summary, outcome, turn_count) VALUES (?, ?, ?, ?, ?, ?, ?, 1) \
                 ON CONFLICT (id) DO UPDATE SET turn_count = conversations.turn_count + 1, \
                 updated_at = excluded.updated_at, \
                 customer_id = COALESCE(conversations.customer_id, excluded.customer_id), \
                 summary = CASE WHEN excluded.summary = '' THEN conversations.summary \
                 ELSE excluded.summary END, \
                 outcome = CASE WHEN excluded.outcome = '' THEN conversations.outcome \
                 ELSE excluded.outcome END \
                 RETURNING turn_count - 1",
                &[
                    a.conversation_id.clone().into(),
                    customer_id.clone().into(),
                    a.channel.as_str().into(),
                    at.into(),
                    now.into(),
                    sealed_summary.clone().into(),
                    a.outcome.clone().into(),
                ],
            )?
            .ok_or_else(|| CrmError::Internal("conversation upsert returned nothing".into()))?;
        let position = row.int(0)?;
        conn.execute(
            "INSERT INTO turns (conversation_id, position, speaker, text, at, detail) \
             VALUES (?, ?, ?, ?, ?, ?)",
            &[
                a.conversation_id.clone().into(),
                position.into(),
                turn.speaker.clone().into(),
                sealed_text.clone().into(),
                at.into(),
                sealed_detail.clone().into(),
            ],
        )?;
        Ok(position)
    })?;
    tracing::debug!(conversation_id = %a.conversation_id, position, speaker = %turn.speaker, "turn appended");
    Ok(position as u64)
}

const CONVERSATION_COLUMNS: &str =
    "id, customer_id, channel, started_at, summary, outcome, turn_count";

fn interaction<D: Database>(
    store: &SqlStore<D>,
    conn: &mut dyn Conn,
    r: &Row,
    turns: usize,
) -> Result<Interaction> {
    let id = r.text(0)?;
    let count = r.int(6)?;
    let from = if turns == usize::MAX {
        0
    } else {
        (count - turns as i64).max(0)
    };
    let mut out = Vec::new();
    for t in conn.query(
        "SELECT speaker, text, at, detail FROM turns WHERE conversation_id = ? AND position >= ? \
         ORDER BY position",
        &[id.clone().into(), from.into()],
    )? {
        let detail: TurnDetail = from_json(&store.cipher.open(&t.text(3)?)?)?;
        out.push(TimelineTurn {
            speaker: t.text(0)?,
            text: store.cipher.open(&t.text(1)?)?,
            at: t.int(2)?,
            sentiment: detail.sentiment,
            intent: detail.intent,
            actions: detail.actions,
            handoff: detail.handoff,
            interrupted: detail.interrupted,
            heard_chars: detail.heard_chars,
        });
    }
    Ok(Interaction {
        conversation_id: id,
        customer_id: r.opt_text(1)?,
        channel: Channel::parse(&r.text(2)?),
        started_at: r.int(3)?,
        summary: store.cipher.open(&r.text(4)?)?,
        outcome: r.text(5)?,
        turns: out,
        turn_count: count as u64,
    })
}

/// One conversation with its latest `turns` turns (all with `usize::MAX`).
pub(super) fn load<D: Database>(
    store: &SqlStore<D>,
    conn: &mut dyn Conn,
    conversation_id: &str,
    turns: usize,
) -> Result<Interaction> {
    let row = conn
        .query_opt(
            &format!("SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE id = ?"),
            &[conversation_id.into()],
        )?
        .ok_or_else(|| CrmError::not_found("conversation", conversation_id))?;
    interaction(store, conn, &row, turns)
}

/// A customer's latest `limit` conversations, newest first (`usize::MAX`
/// for all, oldest first), each with its latest `turns` turns.
pub(super) fn recent<D: Database>(
    store: &SqlStore<D>,
    conn: &mut dyn Conn,
    customer_id: &str,
    limit: usize,
    turns: usize,
) -> Result<Vec<Interaction>> {
    let (order, limit) = if limit == usize::MAX {
        ("ASC", i64::MAX)
    } else {
        ("DESC", if limit == 0 { 5 } else { limit.min(100) } as i64)
    };
    let rows = conn.query(
        &format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE customer_id = ? \
             ORDER BY started_at {order}, id {order} LIMIT ?"
        ),
        &[customer_id.into(), limit.into()],
    )?;
    rows.iter()
        .map(|r| interaction(store, conn, r, turns))
        .collect()
}
