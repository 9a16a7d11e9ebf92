//! The conversation side of a call: ASR events (partials, finals,
//! barge-in decisions), keypad digits, and the dialogue's replies.

use std::sync::atomic::Ordering;
use std::time::Instant;

use parla_proto::v1 as pb;
use parla_proto::v1::call_event::Event as Out;
use parla_proto::v1::converse_request::Request as DlgIn;
use parla_proto::v1::reply_event::Event as Reply;
use parla_proto::v1::streaming_recognize_request::Request as AsrIn;
use parla_proto::v1::streaming_recognize_response::Event as AsrOut;

use super::{End, Session};
use crate::call::speech::{strip_tags, Kind, Synthesis, TurnTiming, Utterance};
use crate::call::turns::{Heard, OnFinal, OnSpeech, Speaker, Turn};
use crate::call::CallError;

impl Session {
    /// True while the agent is speaking (audio queued or being synthesized).
    pub(super) fn audible(&self) -> bool {
        self.playout.is_playing()
            || self
                .utterances
                .iter()
                .any(|u| !u.cancelled && matches!(u.synthesis, Synthesis::Open { .. }))
    }

    /// One event of the recognition stream.
    pub(super) async fn on_asr(
        &mut self,
        r: pb::StreamingRecognizeResponse,
    ) -> Result<Option<End>, CallError> {
        // Offsets of a reopened recognition stream count from its start.
        let base = u32::try_from(self.asr_base_ms).unwrap_or(u32::MAX);
        let r = shift_offsets(r, base);
        match r.event {
            Some(AsrOut::SpeechStarted(s)) => {
                let at = u64::from(s.offset_ms);
                self.speech_start = Some(at);
                self.prompted = false;
                self.idle_since = None;
                if self.turns.speech_started(at, self.speaker()) == OnSpeech::TakeBack {
                    self.take_back().await;
                }
            }
            Some(AsrOut::SpeechEnded(_)) => self.turns.speech_ended(),
            None => {}
            Some(AsrOut::Partial(p)) => {
                if !self.emit(Out::CallerPartial(p.text.clone())).await {
                    return Ok(Some(End::Gone));
                }
                let spoken = self
                    .speech_start
                    .map(|s| u64::from(p.offset_ms).saturating_sub(s))
                    .unwrap_or(0);
                // Words said before the reply began never interrupt it.
                let over_reply = self
                    .speaker()
                    .audible_since
                    .is_some_and(|since| u64::from(p.offset_ms) > since);
                if self.audible()
                    && over_reply
                    && !self.closing
                    && spoken >= u64::from(self.cfg.barge_in_min_ms)
                    && !self.backchannels.is_backchannel(&p.text)
                {
                    if p.confidence < self.cfg.barge_in_min_confidence {
                        // Words the recognizer is unsure of wait for the final.
                        tracing::info!(conversation = %self.conversation_id, confidence = p.confidence, words = p.text.split_whitespace().count(), "partial too uncertain to interrupt");
                        return Ok(None);
                    }
                    tracing::info!(conversation = %self.conversation_id, spoken_ms = spoken, confidence = p.confidence, "barge-in on a partial");
                    if !self.barge_in().await {
                        return Ok(Some(End::Gone));
                    }
                }
            }
            Some(AsrOut::Final(f)) => return self.on_final(f).await,
        }
        Ok(None)
    }

    async fn on_final(&mut self, f: pb::FinalResult) -> Result<Option<End>, CallError> {
        self.speech_start = None;
        let result = f.result.unwrap_or_default();
        let text = result.text.trim().to_owned();
        tracing::info!(
            conversation = %self.conversation_id, end_reason = %f.end_reason,
            end_of_turn_ms = f.decided_ms.saturating_sub(f.end_ms),
            speech_ms = f.end_ms.saturating_sub(f.start_ms), chars = text.chars().count(), "caller turn"
        );
        if !text.is_empty() && !self.emit(Out::CallerFinal(text.clone())).await {
            return Ok(Some(End::Gone));
        }
        if self.closing {
            return Ok(None);
        }
        if !result.language.is_empty() {
            self.language = result.language.clone();
        }
        let heard = Heard {
            text,
            start_ms: u64::from(f.start_ms),
            end_ms: u64::from(f.end_ms),
            confidence: result.confidence,
            language: result.language,
        };
        let speaker = self.speaker();
        let (turn, barge_in) = match self.turns.final_heard(heard, speaker) {
            OnFinal::Nothing => return Ok(None),
            OnFinal::Kept => {
                tracing::info!(conversation = %self.conversation_id, "caller words kept for the rest of the thought");
                return Ok(None);
            }
            OnFinal::Backchannel => {
                self.metrics.backchannels.fetch_add(1, Ordering::Relaxed);
                tracing::info!(conversation = %self.conversation_id, "backchannel over agent audio; not interrupting");
                return Ok(None);
            }
            OnFinal::Send { turn, barge_in } => (turn, barge_in),
        };
        if barge_in {
            tracing::info!(conversation = %self.conversation_id, "barge-in on a final");
            if !self.barge_in().await {
                return Ok(Some(End::Gone));
            }
        }
        let speech_end = self.arrival_of(turn.end_ms);
        let timing = TurnTiming {
            speech_end,
            end_of_turn_ms: f.decided_ms.saturating_sub(f.end_ms),
            asr_ms: speech_end
                .map(|t| t.elapsed().as_millis() as u32)
                .unwrap_or(f.latency_ms),
            ..Default::default()
        };
        if turn.pieces > 1 {
            tracing::info!(conversation = %self.conversation_id, pieces = turn.pieces, "pieces of one thought merged into one turn");
        }
        self.send_turn(&turn.text, "", turn.confidence, turn.language, timing)
            .await?;
        Ok(None)
    }

    /// Sends a turn the state machine released on its own (a fragment
    /// nothing followed).
    pub(super) async fn send_merged(&mut self, turn: Turn) -> Result<(), CallError> {
        let timing = TurnTiming {
            speech_end: self.arrival_of(turn.end_ms),
            ..Default::default()
        };
        self.send_turn(&turn.text, "", turn.confidence, turn.language, timing)
            .await
    }

    /// What the agent is doing now, for the turn-taking state machine.
    pub(super) fn speaker(&self) -> Speaker {
        let live = || self.utterances.iter().filter(|u| !u.cancelled);
        let playing = live()
            .filter(|u| u.started_ms.is_some() && !self.playout.is_done(u.id))
            .min_by_key(|u| u.started_ms);
        let audible_since = playing
            .and_then(|u| u.started_ms)
            .filter(|_| self.audible());
        let question_heard = playing.is_some_and(|u| {
            let text = strip_tags(&u.text);
            text.find('?').is_some_and(|at| {
                let chars = text[..at].chars().count() as u32;
                self.playout.heard_chars(u.id) >= chars
            })
        });
        Speaker {
            audible_since,
            answer_unheard: live().any(|u| u.kind == Kind::Answer && u.started_ms.is_none()),
            question_heard,
        }
    }

    /// Utterance `id` began to play at stream ms `at`.
    pub(super) fn started(&mut self, id: u64, at: u64) {
        if let Some(u) = self.utterances.iter_mut().find(|u| u.id == id) {
            u.started_ms = Some(at);
            if u.kind == Kind::Answer {
                self.turns.answer_heard();
            }
        }
    }

    /// The caller goes on with the turn just sent before hearing any of
    /// its answer: the answer is dropped, the dialogue retracts the turn
    /// (`Retract`: no action taken on it if none ran yet) and the words
    /// come back merged with what follows.
    pub(super) async fn take_back(&mut self) {
        let unheard: Vec<u32> = self
            .utterances
            .iter()
            .filter(|u| !u.cancelled && u.kind == Kind::Answer && u.started_ms.is_none())
            .filter_map(|u| u.turn_index)
            .collect();
        self.cancel(|u| u.kind == Kind::Answer && u.started_ms.is_none());
        self.metrics
            .turns_taken_back
            .fetch_add(1, Ordering::Relaxed);
        tracing::info!(conversation = %self.conversation_id, answers = unheard.len(), "the caller went on before hearing the answer; turn taken back");
        // Before its actions run, the dialogue drops the turn altogether.
        for turn_index in unheard {
            let _ = self
                .dlg_tx
                .send(pb::ConverseRequest {
                    request: Some(DlgIn::Retract(pb::Retract { turn_index })),
                })
                .await;
        }
    }

    /// Sends a caller turn to the dialogue and queues its answer.
    async fn send_turn(
        &mut self,
        text: &str,
        dtmf: &str,
        confidence: f32,
        language: String,
        mut timing: TurnTiming,
    ) -> Result<(), CallError> {
        timing.sent_at = Some(Instant::now());
        let turn = pb::Turn {
            conversation_id: self.conversation_id.clone(),
            channel: pb::Channel::Voice as i32,
            language,
            text: text.to_owned(),
            asr_confidence: confidence,
            dtmf_digits: dtmf.to_owned(),
            ..Default::default()
        };
        let sent = self
            .dlg_tx
            .send(pb::ConverseRequest {
                request: Some(DlgIn::Turn(turn)),
            })
            .await;
        if sent.is_err() {
            // The conversation stream's end reaches the call loop, which
            // reopens it and asks the caller to repeat.
            tracing::warn!(conversation = %self.conversation_id, "conversation stream closed; turn lost");
            return Ok(());
        }
        let id = self.next_id();
        let mut answer = Utterance::answer(id, &self.language, self.tone, timing);
        answer.turn_index = Some(self.turns_sent);
        self.turns_sent += 1;
        self.utterances.push_back(answer);
        Ok(())
    }

    /// Keypad digits: collected until `#` or a gap, then one turn.
    pub(super) async fn on_dtmf(&mut self, digits: &str) -> Result<Option<End>, CallError> {
        if let Some(bad) = digits
            .chars()
            .find(|c| !matches!(c, '0'..='9' | '*' | '#' | 'A'..='D'))
        {
            return Err(CallError::Protocol(format!(
                "`dtmf` may hold only 0-9, *, # and A-D; got {bad:?}"
            )));
        }
        self.idle_since = None;
        self.prompted = false;
        for c in digits.chars() {
            if c == '#' {
                self.send_dtmf_turn().await?;
            } else {
                self.dtmf.push(c);
            }
        }
        self.dtmf_last_ms = self.clock_ms();
        Ok(None)
    }

    /// Sends the collected digits as a turn.
    pub(super) async fn send_dtmf_turn(&mut self) -> Result<(), CallError> {
        let digits = std::mem::take(&mut self.dtmf);
        if digits.is_empty() {
            return Ok(());
        }
        tracing::info!(conversation = %self.conversation_id, digits = digits.len(), "keypad digits as a turn");
        let _ = self.emit(Out::CallerFinal(digits.clone())).await;
        if self.audible() && !self.barge_in().await {
            return Ok(());
        }
        let timing = TurnTiming {
            speech_end: Some(Instant::now()),
            ..Default::default()
        };
        let language = if self.setup.language == "auto" {
            String::new()
        } else {
            self.setup.language.clone()
        };
        self.send_turn(&digits, &digits, 1.0, language, timing)
            .await
    }

    /// The caller spoke over the agent: agent audio stops before the next
    /// frame, synthesis and generation are cancelled, and the dialogue
    /// learns how much of its reply was heard. False when the caller is gone.
    pub(super) async fn barge_in(&mut self) -> bool {
        let at = self.clock_ms();
        let heard: Vec<(u32, u32)> = self
            .utterances
            .iter()
            .filter(|u| !u.cancelled && u.kind == Kind::Answer)
            .filter_map(|u| u.turn_index.map(|t| (t, self.playout.heard_chars(u.id))))
            .collect();
        self.stop_speaking(true);
        self.metrics.barge_ins.fetch_add(1, Ordering::Relaxed);
        for &(turn_index, heard_chars) in &heard {
            let _ = self
                .dlg_tx
                .send(pb::ConverseRequest {
                    request: Some(DlgIn::BargeIn(pb::BargeIn {
                        turn_index,
                        heard_chars,
                    })),
                })
                .await;
        }
        let (turn_index, heard_chars) = heard.first().copied().unwrap_or((0, 0));
        tracing::info!(conversation = %self.conversation_id, offset_ms = at, turn = turn_index, heard_chars, "agent audio stopped");
        self.emit(Out::BargeIn(pb::BargeInNotice {
            heard_chars,
            offset_ms: at,
            turn_index,
        }))
        .await
    }

    /// Stops all agent speech now; `interruptible_only` spares closings.
    pub(super) fn stop_speaking(&mut self, interruptible_only: bool) {
        self.playout.clear();
        self.cancel(|u| !(interruptible_only && matches!(u.kind, Kind::Closing(_))));
    }

    /// Cancels the utterances `which` picks: their synthesis stops and
    /// their queued audio is dropped. Answers still waiting for the
    /// dialogue's final stay (cancelled) so that its remaining events are
    /// recognised and dropped.
    fn cancel(&mut self, which: impl Fn(&Utterance) -> bool) {
        for u in self.utterances.iter_mut().filter(|u| which(u)) {
            u.cancelled = true;
            u.synthesis = Synthesis::Done;
            self.playout.drop_unplayed(u.id);
        }
        self.utterances
            .retain(|u| !u.cancelled || (u.kind == Kind::Answer && !u.final_seen));
    }

    /// One event of the dialogue's reply stream.
    pub(super) async fn on_reply(&mut self, r: pb::ReplyEvent) -> Result<Option<End>, CallError> {
        let Some(i) = self
            .utterances
            .iter()
            .position(|u| u.kind == Kind::Answer && !u.final_seen)
        else {
            tracing::warn!(conversation = %self.conversation_id, "reply event without a pending turn; dropped");
            return Ok(None);
        };
        let forward = !self.utterances[i].cancelled;
        match r.event.clone() {
            Some(Reply::Delta(d)) => {
                let u = &mut self.utterances[i];
                u.turn_index = Some(d.turn_index);
                if u.cancelled {
                    return Ok(None);
                }
                if u.first_delta_at.is_none() {
                    u.first_delta_at = Some(Instant::now());
                    u.timing.first_text_at = u.first_delta_at;
                }
                u.text.push_str(&d.text);
            }
            Some(Reply::Final(f)) => {
                let u = &mut self.utterances[i];
                u.final_seen = true;
                u.turn_index = Some(f.turn_index);
                if u.cancelled {
                    self.utterances.remove(i);
                    return Ok(None);
                }
                u.timing.first_text_at.get_or_insert_with(Instant::now);
                if u.text.is_empty() {
                    u.text = f.text.clone();
                }
                if let Ok(tone) = pb::Tone::try_from(f.tone) {
                    if tone != pb::Tone::Unspecified {
                        u.tone = tone;
                        self.tone = tone;
                    }
                }
                if !f.language.is_empty() {
                    u.language = f.language.clone();
                    self.language = f.language.clone();
                }
                // The recognizer takes a bare "yes" as a whole turn after a question.
                let asks = strip_tags(&u.text).trim_end().ends_with('?');
                let context = pb::StreamingRecognizeRequest {
                    request: Some(AsrIn::Context(pb::TurnContext {
                        expects_answer: asks,
                    })),
                };
                // A full or closed stream only loses the hint.
                let _ = self.asr_tx.try_send(context);
                let u = &mut self.utterances[i];
                if let Some(h) = f.handoff.as_ref().filter(|h| h.handoff) {
                    u.handoff = Some(h.ticket_id.clone());
                }
                if u.text.trim().is_empty() {
                    u.synthesis = Synthesis::Done;
                    self.playout.finish(u.id);
                }
            }
            None => return Ok(None),
        }
        if forward && !self.emit(Out::Reply(r)).await {
            return Ok(Some(End::Gone));
        }
        Ok(None)
    }
}

/// `r` with its stream offsets moved by `base` milliseconds.
fn shift_offsets(
    mut r: pb::StreamingRecognizeResponse,
    base: u32,
) -> pb::StreamingRecognizeResponse {
    if base == 0 {
        return r;
    }
    let add = |v: &mut u32| *v = v.saturating_add(base);
    match r.event.as_mut() {
        Some(AsrOut::SpeechStarted(s)) => add(&mut s.offset_ms),
        Some(AsrOut::SpeechEnded(s)) => add(&mut s.offset_ms),
        Some(AsrOut::Partial(p)) => add(&mut p.offset_ms),
        Some(AsrOut::Final(f)) => {
            add(&mut f.start_ms);
            add(&mut f.end_ms);
            add(&mut f.decided_ms);
        }
        None => {}
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reopened_stream_counts_from_its_start() {
        let fin = pb::StreamingRecognizeResponse {
            event: Some(AsrOut::Final(pb::FinalResult {
                start_ms: 100,
                end_ms: 900,
                decided_ms: 1124,
                ..Default::default()
            })),
        };
        let Some(AsrOut::Final(f)) = shift_offsets(fin, 60_000).event else {
            panic!("not a final");
        };
        assert_eq!(
            (f.start_ms, f.end_ms, f.decided_ms),
            (60_100, 60_900, 61_124)
        );
        let partial = pb::StreamingRecognizeResponse {
            event: Some(AsrOut::Partial(pb::PartialResult {
                text: "hello".into(),
                offset_ms: 400,
                confidence: 0.9,
            })),
        };
        let Some(AsrOut::Partial(p)) = shift_offsets(partial.clone(), 0).event else {
            panic!("not a partial");
        };
        assert_eq!(p.offset_ms, 400);
    }
}
