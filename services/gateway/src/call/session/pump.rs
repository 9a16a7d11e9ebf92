//! Moves utterances along: opens synthesis for the next utterance (one at
//! a time, in order, so that their audio never interleaves), feeds it the
//! reply text as it arrives, and retires utterances once played.

use std::time::{Duration, Instant};

use parla_proto::v1 as pb;

use super::{End, Session};
use crate::call::speech::{Kind, Synthesis, TtsHandle};

impl Session {
    /// Opens or feeds the synthesis of the first unfinished utterance.
    pub(super) fn pump(&mut self) {
        let tone_wait = Duration::from_millis(u64::from(self.cfg.tone_wait_ms));
        let format = self.format.to_pb();
        for u in self.utterances.iter_mut() {
            if u.cancelled {
                continue;
            }
            match &mut u.synthesis {
                Synthesis::Done => continue,
                Synthesis::NotOpen => {
                    let waited = u.first_delta_at.is_some_and(|t| t.elapsed() >= tone_wait);
                    let ready = u.kind != Kind::Answer || u.final_seen || waited;
                    if !ready || u.text.trim().is_empty() {
                        return;
                    }
                    let config = pb::SynthesisConfig {
                        language: u.language.clone(),
                        voice: String::new(),
                        tone: u.tone as i32,
                        output_format: Some(format),
                        ssml: u.kind == Kind::Answer && !u.plain,
                    };
                    let handle =
                        TtsHandle::open(self.tts.clone(), u.id, config, self.tts_events.clone());
                    u.timing.tts_open_at = Some(Instant::now());
                    u.synthesis = Synthesis::Open {
                        handle,
                        sent: 0,
                        flushed: false,
                    };
                }
                Synthesis::Open { .. } => {}
            }
            if let Synthesis::Open {
                handle,
                sent,
                flushed,
            } = &mut u.synthesis
            {
                if *sent < u.text.len() {
                    if handle.send_text(&u.text[*sent..]) {
                        *sent = u.text.len();
                    } else {
                        tracing::warn!(conversation = %self.conversation_id, "synthesis stream is full or closed");
                    }
                }
                if u.final_seen && !*flushed && *sent == u.text.len() {
                    *flushed = handle.flush();
                }
            }
            return;
        }
    }

    /// When a reply that has text but no tone yet should start anyway.
    pub(super) fn tone_deadline(&self) -> Option<Instant> {
        let wait = Duration::from_millis(u64::from(self.cfg.tone_wait_ms));
        self.utterances
            .iter()
            .find(|u| !u.cancelled && !matches!(u.synthesis, Synthesis::Done))
            .filter(|u| matches!(u.synthesis, Synthesis::NotOpen) && !u.final_seen)
            .and_then(|u| u.first_delta_at)
            .map(|t| t + wait)
    }

    /// Retires utterances that are fully played; ends the call after a
    /// closing line or a hand-off reply.
    pub(super) fn finished_utterances(&mut self) -> Option<End> {
        while let Some(u) = self.utterances.front() {
            let finished = !u.cancelled
                && u.final_seen
                && matches!(u.synthesis, Synthesis::Done)
                && self.playout.is_done(u.id);
            if !finished {
                // A cancelled answer waiting for its final does not block
                // the ones after it.
                if u.cancelled {
                    if let Some(i) = self.utterances.iter().position(|u| !u.cancelled) {
                        let later = &self.utterances[i];
                        if later.final_seen
                            && matches!(later.synthesis, Synthesis::Done)
                            && self.playout.is_done(later.id)
                        {
                            let u = self.utterances.remove(i)?;
                            if let Some(end) = self.retire(u) {
                                return Some(end);
                            }
                            continue;
                        }
                    }
                }
                return None;
            }
            let u = self.utterances.pop_front()?;
            if let Some(end) = self.retire(u) {
                return Some(end);
            }
        }
        None
    }

    fn retire(&mut self, u: crate::call::speech::Utterance) -> Option<End> {
        self.playout.forget(u.id);
        self.idle_since = None;
        if let Kind::Closing(reason) = u.kind {
            return Some(End::Ended(reason, String::new()));
        }
        if let Some(ticket) = u.handoff {
            tracing::info!(conversation = %self.conversation_id, ticket = %ticket, "call handed off");
            return Some(End::Ended("transferred", ticket));
        }
        None
    }
}
