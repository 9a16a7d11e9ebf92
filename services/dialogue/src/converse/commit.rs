//! The commit window of a spoken turn. The call gateway may take a turn back (`Retract`) when
//! the caller goes on speaking within `dialogue.voice_commit_ms` of it: the turn was half a
//! sentence. Nothing a turn does in the world — a flow's action, a hand-off, its line on the
//! CRM timeline — may happen before that window has passed; everything else may. So a turn
//! that only reads and answers is answered at once, and the window is awaited only where it
//! matters: before the first action or hand-off, and before the turn is recorded. A turn taken
//! back leaves the conversation as it was before it.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;

use parla_flows::ActionGate;
use parla_proto::v1 as pb;
use parla_proto::v1::converse_request::Request as In;
use tonic::{Status, Streaming};

use super::unreadable;
use crate::turn::ConversationState;

/// A spoken turn whose commit window may still be open.
pub(super) struct Window {
    /// The conversation before the turn, restored if it is taken back.
    pub before: ConversationState,
    commit: tokio::time::Instant,
    index: u32,
    /// Whether the turn was taken back, once known.
    decided: Option<bool>,
    /// The stream failed while the window was awaited.
    error: Option<Status>,
}

impl Window {
    /// The window of turn `index`, open until `commit`.
    pub fn new(before: ConversationState, commit: tokio::time::Instant, index: u32) -> Self {
        Self {
            before,
            commit,
            index,
            decided: None,
            error: None,
        }
    }

    /// The stream's error seen while the window was awaited, if any.
    pub fn take_error(&mut self) -> Option<Status> {
        self.error.take()
    }
}

/// A window with the stream it reads the client's messages from.
pub(super) struct Gate<'a> {
    window: &'a mut Window,
    inbound: &'a mut Streaming<pb::ConverseRequest>,
    backlog: &'a mut VecDeque<pb::ConverseRequest>,
}

impl<'a> Gate<'a> {
    /// `window`, read from `inbound` (other messages wait in `backlog`, in order).
    pub fn new(
        window: &'a mut Window,
        inbound: &'a mut Streaming<pb::ConverseRequest>,
        backlog: &'a mut VecDeque<pb::ConverseRequest>,
    ) -> Self {
        Self {
            window,
            inbound,
            backlog,
        }
    }

    /// Waits until the window closes (or the client's next turn, or a retraction) and says
    /// whether the turn was taken back; later calls answer at once. A stream error counts as
    /// taken back (nothing is done for a client that is gone) and is kept for the caller.
    pub async fn taken_back(&mut self) -> bool {
        if let Some(decided) = self.window.decided {
            return decided;
        }
        let w = &mut *self.window;
        let decided = match retracted(self.inbound, self.backlog, w.commit, w.index).await {
            Ok(r) => r,
            Err(e) => {
                w.error = Some(e);
                true
            }
        };
        w.decided = Some(decided);
        decided
    }
}

impl ActionGate for Gate<'_> {
    fn proceed(&mut self) -> Pin<Box<dyn Future<Output = bool> + Send + '_>> {
        Box::pin(async move { !self.taken_back().await })
    }
}

/// Awaits `window`, if the turn has one; gives it back (and leaves `None`) when the turn was
/// taken back.
pub(super) async fn taken_back(
    window: &mut Option<Window>,
    inbound: &mut Streaming<pb::ConverseRequest>,
    backlog: &mut VecDeque<pb::ConverseRequest>,
) -> Option<Window> {
    let w = window.as_mut()?;
    if Gate::new(w, inbound, backlog).taken_back().await {
        window.take()
    } else {
        None
    }
}

/// Reads what the client sends until `commit` (or until its next turn, or the stream's
/// end) and says whether turn `index` was retracted; the retraction is consumed, every other
/// message stays in `backlog`, in order.
async fn retracted(
    inbound: &mut Streaming<pb::ConverseRequest>,
    backlog: &mut VecDeque<pb::ConverseRequest>,
    commit: tokio::time::Instant,
    index: u32,
) -> Result<bool, Status> {
    let is_it = |m: &pb::ConverseRequest| matches!(&m.request, Some(In::Retract(r)) if r.turn_index == index);
    loop {
        if let Some(at) = backlog.iter().position(is_it) {
            backlog.remove(at);
            return Ok(true);
        }
        if backlog
            .iter()
            .any(|m| matches!(m.request, Some(In::Turn(_))))
        {
            return Ok(false);
        }
        match tokio::time::timeout_at(commit, inbound.message()).await {
            Err(_) => return Ok(false),
            Ok(Ok(Some(m))) => backlog.push_back(m),
            // The end of the stream is seen by the main loop.
            Ok(Ok(None)) => return Ok(false),
            Ok(Err(e)) => return Err(unreadable(e)),
        }
    }
}
