//! End-of-turn detection in stream time. Frames of 32 ms go through Silero
//! VAD; after `speculate_ms` of silence following speech the turn's audio
//! goes to Whisper (the pass runs while the pause goes on); after
//! `min_silence_ms` Smart Turn and that transcript judge the pause, and
//! [`JudgedPause`] says how long it must last to end the turn: from
//! `min_endpoint_ms` when both find it complete (people pause 250–700 ms
//! inside one thought, after "Hi," or between two sentences of one
//! request) to `max_silence_ms` when the words cannot end a turn (a
//! dangling "and", a bare greeting or "yes, so" unless it answers the
//! agent's question). Every decision counts samples, never the wall
//! clock, and the transcript always covers the same audio (up to the
//! speculation point), so the same audio always cuts at the same place
//! however fast Whisper answers.

use std::sync::Arc;

use crate::cue::{text_cue_in, TextCue};
use crate::endpoint::JudgedPause;
use crate::onnx::{SileroVad, SmartTurn, VadState, VAD_FRAME};
use crate::recognizer::{Transcript, SAMPLE_RATE};
use crate::{AsrConfig, AsrError};

/// Pre-roll kept before the first speech frame, so onsets are not cut.
const PRE_ROLL_SAMPLES: usize = SAMPLE_RATE as usize * 3 / 10;
/// Silence kept after the last speech frame in the audio that is
/// recognized.
const TAIL_SAMPLES: usize = SAMPLE_RATE as usize / 5;

/// The thresholds of turn detection.
#[derive(Debug, Clone, Copy)]
pub struct TurnSettings {
    /// Silero probability for a speech frame.
    pub vad_threshold: f32,
    /// Speech needed before a turn (or a resumption) starts, in ms.
    pub min_speech_ms: u32,
    /// Silence at which the pause's Whisper pass starts, in ms (at most
    /// `min_silence_ms`): the pass runs while the pause goes on.
    pub speculate_ms: u32,
    /// Silence before Smart Turn is asked, in ms.
    pub min_silence_ms: u32,
    /// Silence before a pause judged complete ends the turn, in ms (at
    /// least `min_silence_ms`).
    pub min_endpoint_ms: u32,
    /// Silence after which a transcript Whisper closed with `.`, `?` or
    /// `!` (and no dangling word or number) ends the turn, whatever Smart
    /// Turn says, in ms.
    pub complete_silence_ms: u32,
    /// Silence after which an unpunctuated clause that ends on a content
    /// word ends the turn, whatever Smart Turn says, in ms.
    pub unpunctuated_silence_ms: u32,
    /// Silence after which a lone word ends the turn, in ms.
    pub fragment_silence_ms: u32,
    /// Silence after which a number or a name being dictated ends the
    /// turn, in ms.
    pub dictation_silence_ms: u32,
    /// Silence that ends the turn regardless, in ms.
    pub max_silence_ms: u32,
    /// Smart Turn probability that ends the turn.
    pub turn_threshold: f32,
    /// Smart Turn probability that ends the turn when Whisper closed the
    /// sentence with `.`, `?` or `!`.
    pub turn_threshold_punctuated: f32,
    /// New speech between partials, in ms; 0 disables partials.
    pub partial_interval_ms: u32,
    /// Longest turn, in seconds.
    pub max_turn_secs: u32,
}

impl From<&AsrConfig> for TurnSettings {
    fn from(c: &AsrConfig) -> Self {
        Self {
            vad_threshold: c.vad_threshold,
            min_speech_ms: c.min_speech_ms,
            speculate_ms: c.speculate_ms.min(c.min_silence_ms),
            min_silence_ms: c.min_silence_ms,
            min_endpoint_ms: c.min_endpoint_ms.max(c.min_silence_ms),
            complete_silence_ms: c.complete_silence_ms,
            unpunctuated_silence_ms: c.unpunctuated_silence_ms,
            fragment_silence_ms: c.fragment_silence_ms,
            dictation_silence_ms: c.dictation_silence_ms,
            max_silence_ms: c.max_silence_ms,
            turn_threshold: c.turn_threshold,
            turn_threshold_punctuated: c.turn_threshold_punctuated,
            partial_interval_ms: c.partial_interval_ms,
            max_turn_secs: c.max_turn_secs,
        }
    }
}

/// Why a turn ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TurnEnd {
    /// Smart Turn judged it complete.
    Complete,
    /// The silence reached `max_silence_ms`.
    Timeout,
    /// The turn reached `max_turn_secs`.
    TooLong,
    /// The stream ended.
    StreamEnd,
}

/// What the detector saw in the audio it was given.
#[derive(Debug, Clone)]
pub enum TurnEvent {
    /// Speech started (or resumed) at this stream position.
    SpeechStarted {
        /// Milliseconds from the stream start.
        offset_ms: u32,
    },
    /// Speech paused; the turn may go on.
    SpeechEnded {
        /// Milliseconds from the stream start.
        offset_ms: u32,
        /// Smart Turn's probability that the turn is complete.
        probability: f32,
    },
    /// Enough new speech for a partial hypothesis.
    Partial {
        /// The turn's audio so far.
        audio: Arc<Vec<f32>>,
        /// Stream position the audio reaches, in ms.
        offset_ms: u32,
    },
    /// The turn is over.
    Ended {
        /// The turn's audio (16 kHz), from just before speech started to
        /// shortly after it ended.
        audio: Arc<Vec<f32>>,
        /// Where speech started, in ms from the stream start.
        start_ms: u32,
        /// Where speech ended, in ms from the stream start.
        end_ms: u32,
        /// Stream position at which the end was decided, in ms.
        decided_ms: u32,
        /// Smart Turn's probability that the turn was complete.
        probability: f32,
        /// Why it ended.
        reason: TurnEnd,
        /// The transcript made at a pause of this turn when no speech came
        /// after it: the final, without a second pass.
        transcript: Option<Transcript>,
    },
}

/// Transcribes a turn's audio at a pause (blocking); `None` when no
/// recognizer is free.
pub type PauseTranscriber = Box<dyn FnMut(Arc<Vec<f32>>) -> Option<Transcript> + Send + Sync>;

/// A transcription already started: calling it waits for the words
/// (`None` when no recognizer was free); dropping it cancels the pass.
pub type PendingTranscript = Box<dyn FnOnce() -> Option<Transcript> + Send + Sync>;

/// Starts transcribing a turn's audio at a pause without waiting.
pub type TranscriptStarter = Box<dyn FnMut(Arc<Vec<f32>>) -> PendingTranscript + Send + Sync>;

/// Turn detection state of one stream. Blocking (runs the VAD and Smart
/// Turn): feed it from a blocking thread.
pub struct TurnDetector {
    vad: Arc<SileroVad>,
    turn_model: Arc<SmartTurn>,
    settings: TurnSettings,
    transcriber: Option<TranscriptStarter>,
    /// The pass started at the current pause, for the `last_speech_end`
    /// it covers.
    speculation: Option<(usize, PendingTranscript)>,
    /// The current pause, once Smart Turn and the words have judged it.
    pause: Option<JudgedPause>,
    /// The agent's last words asked the caller something.
    answering: bool,
    /// The latest final-quality transcript of this turn and the
    /// `last_speech_end` it covers: reused at the next pause or at the end
    /// of the turn while no new speech has arrived.
    decoded: Option<(usize, Transcript)>,
    /// Whisper passes run at pauses (for figures and tests).
    pause_passes: u32,
    vad_state: VadState,
    /// Samples not yet making a whole frame.
    pending: Vec<f32>,
    /// Samples consumed in whole frames.
    position: usize,
    /// Audio before the turn (pre-roll), or the turn's audio.
    audio: Vec<f32>,
    /// Stream position of `audio[0]`.
    audio_start: usize,
    in_turn: bool,
    speaking: bool,
    speech_run: usize,
    silence: usize,
    turn_start: usize,
    last_speech_end: usize,
    since_partial: usize,
    probability: f32,
}

fn ms(samples: usize) -> u32 {
    (samples as u64 * 1000 / SAMPLE_RATE as u64) as u32
}

fn samples(ms: u32) -> usize {
    ms as usize * SAMPLE_RATE as usize / 1000
}

impl TurnDetector {
    /// A detector for a new stream.
    pub fn new(vad: Arc<SileroVad>, turn_model: Arc<SmartTurn>, settings: TurnSettings) -> Self {
        Self {
            vad,
            turn_model,
            settings,
            transcriber: None,
            speculation: None,
            pause: None,
            answering: false,
            decoded: None,
            pause_passes: 0,
            vad_state: VadState::default(),
            pending: Vec::new(),
            position: 0,
            audio: Vec::new(),
            audio_start: 0,
            in_turn: false,
            speaking: false,
            speech_run: 0,
            silence: 0,
            turn_start: 0,
            last_speech_end: 0,
            since_partial: 0,
            probability: 0.0,
        }
    }

    /// Adds the transcript to the decision at each pause, from a blocking
    /// transcriber (run at the speculation point).
    pub fn with_transcriber(self, mut transcriber: PauseTranscriber) -> Self {
        self.with_starter(Box::new(move |audio| {
            let transcript = transcriber(audio);
            Box::new(move || transcript)
        }))
    }

    /// Adds the transcript to the decision at each pause, from a
    /// transcriber that starts the pass at the speculation point and is
    /// waited for at `min_silence_ms`.
    pub fn with_starter(mut self, starter: TranscriptStarter) -> Self {
        self.transcriber = Some(starter);
        self
    }

    /// Tells the detector whether the agent's last words asked the caller
    /// something: then a bare "yes" or "no" is a whole turn.
    pub fn set_answering(&mut self, answering: bool) {
        self.answering = answering;
    }

    /// Stream position reached, in ms.
    pub fn position_ms(&self) -> u32 {
        ms(self.position + self.pending.len())
    }

    /// True while a turn is open.
    pub fn in_turn(&self) -> bool {
        self.in_turn
    }

    /// Whisper passes this detector has asked for at pauses so far.
    pub fn pause_passes(&self) -> u32 {
        self.pause_passes
    }

    /// Starts the pause's pass over the turn so far, unless one covering
    /// the same speech is running or done.
    fn speculate(&mut self) {
        let end = self.last_speech_end;
        let covered = self.decoded.as_ref().is_some_and(|(e, _)| *e == end)
            || self.speculation.as_ref().is_some_and(|(e, _)| *e == end);
        if covered {
            return;
        }
        let Some(start) = self.transcriber.as_mut() else {
            return;
        };
        // The audio up to the speculation point: the same samples whether
        // this runs early or late, so the words do not depend on timing.
        let keep = (end + samples(self.settings.speculate_ms))
            .saturating_sub(self.audio_start)
            .min(self.audio.len());
        self.pause_passes += 1;
        self.speculation = Some((end, start(Arc::new(self.audio[..keep].to_vec()))));
    }

    /// The transcript of the turn up to the current pause: the cached one
    /// when no speech arrived since it was made, else the pass started at
    /// the speculation point (waiting for it).
    fn transcript_at_pause(&mut self) -> Option<Transcript> {
        if let Some((end, t)) = &self.decoded {
            if *end == self.last_speech_end {
                return Some(t.clone());
            }
        }
        self.speculate();
        let (end, pending) = self.speculation.take()?;
        let t = pending()?;
        self.decoded = Some((end, t.clone()));
        Some(t)
    }

    /// New speech: a pass started for the previous pause no longer covers
    /// the turn; dropping it cancels it.
    fn speech_resumed(&mut self) {
        self.pause = None;
        if self
            .speculation
            .as_ref()
            .is_some_and(|(e, _)| *e != self.last_speech_end)
        {
            self.speculation = None;
        }
    }

    /// Feeds 16 kHz samples; returns what happened, in order.
    pub fn push(&mut self, samples_in: &[f32]) -> Result<Vec<TurnEvent>, AsrError> {
        let mut events = Vec::new();
        self.pending.extend_from_slice(samples_in);
        let whole = self.pending.len() / VAD_FRAME * VAD_FRAME;
        let frames: Vec<f32> = self.pending.drain(..whole).collect();
        for frame in frames.chunks(VAD_FRAME) {
            let p = self.vad.probability(&mut self.vad_state, frame)?;
            self.frame(frame, p, &mut events)?;
        }
        Ok(events)
    }

    /// Ends the stream: closes an open turn.
    pub fn finish(&mut self) -> Result<Vec<TurnEvent>, AsrError> {
        let mut events = Vec::new();
        let rest = std::mem::take(&mut self.pending);
        if self.in_turn {
            self.audio.extend_from_slice(&rest);
            self.position += rest.len();
            if self.speaking {
                self.last_speech_end = self.position;
                self.probability = self.turn_model.probability(&self.audio)?;
            }
            events.push(self.end_turn(TurnEnd::StreamEnd));
        }
        Ok(events)
    }

    fn frame(
        &mut self,
        frame: &[f32],
        p: f32,
        events: &mut Vec<TurnEvent>,
    ) -> Result<(), AsrError> {
        let s = self.settings;
        // A little hysteresis: speech in progress holds on a weaker frame.
        let threshold = if self.speaking {
            (s.vad_threshold - 0.15).max(0.05)
        } else {
            s.vad_threshold
        };
        let is_speech = p >= threshold;
        self.audio.extend_from_slice(frame);
        self.position += frame.len();
        self.speech_run = if is_speech {
            self.speech_run + frame.len()
        } else {
            0
        };
        let onset = self.speech_run >= samples(s.min_speech_ms).max(VAD_FRAME);
        if !self.in_turn {
            // Keep only the pre-roll before a turn.
            let excess = self
                .audio
                .len()
                .saturating_sub(PRE_ROLL_SAMPLES + self.speech_run);
            if excess > 0 {
                self.audio.drain(..excess);
                self.audio_start += excess;
            }
            if onset {
                self.in_turn = true;
                self.speaking = true;
                self.silence = 0;
                self.since_partial = self.speech_run;
                self.turn_start = self.position - self.speech_run;
                self.last_speech_end = self.position;
                events.push(TurnEvent::SpeechStarted {
                    offset_ms: ms(self.turn_start),
                });
            }
            return Ok(());
        }
        if self.speaking {
            if is_speech {
                self.silence = 0;
                self.last_speech_end = self.position;
                self.since_partial += frame.len();
                self.speech_resumed();
            } else {
                self.silence += frame.len();
                if self.silence >= samples(s.speculate_ms) {
                    self.speculate();
                }
                if self.silence >= samples(s.min_silence_ms) {
                    self.speaking = false;
                    // Smart Turn (25 ms) runs while Whisper finishes the
                    // pass started at the speculation point.
                    self.probability = self.turn_model.probability(&self.audio)?;
                    let answering = self.answering;
                    let cue = self
                        .transcript_at_pause()
                        .map_or(TextCue::Neutral, |t| text_cue_in(&t.text, answering));
                    events.push(TurnEvent::SpeechEnded {
                        offset_ms: ms(self.last_speech_end),
                        probability: self.probability,
                    });
                    let pause = JudgedPause::new(&s, cue, self.probability);
                    tracing::debug!(
                        probability = self.probability,
                        cue = ?cue,
                        ends_after_ms = pause.ends_after_ms(),
                        "pause judged"
                    );
                    self.pause = Some(pause);
                    if let Some(end) = pause.decide(ms(self.silence)) {
                        events.push(self.end_turn(end));
                        return Ok(());
                    }
                }
            }
        } else if onset {
            self.speaking = true;
            self.silence = 0;
            self.last_speech_end = self.position;
            self.since_partial += self.speech_run;
            self.speech_resumed();
            events.push(TurnEvent::SpeechStarted {
                offset_ms: ms(self.position - self.speech_run),
            });
        } else {
            self.silence += frame.len();
            let end = match self.pause {
                Some(pause) => pause.decide(ms(self.silence)),
                None => (self.silence >= samples(s.max_silence_ms)).then_some(TurnEnd::Timeout),
            };
            if let Some(end) = end {
                events.push(self.end_turn(end));
                return Ok(());
            }
        }
        if self.position - self.turn_start >= samples(s.max_turn_secs * 1000) {
            events.push(self.end_turn(TurnEnd::TooLong));
            return Ok(());
        }
        if s.partial_interval_ms > 0
            && self.speaking
            && self.since_partial >= samples(s.partial_interval_ms)
        {
            self.since_partial = 0;
            events.push(TurnEvent::Partial {
                audio: Arc::new(self.audio.clone()),
                offset_ms: ms(self.position),
            });
        }
        Ok(())
    }

    fn end_turn(&mut self, reason: TurnEnd) -> TurnEvent {
        let keep = (self.last_speech_end + TAIL_SAMPLES)
            .saturating_sub(self.audio_start)
            .min(self.audio.len());
        let audio: Vec<f32> = self.audio[..keep].to_vec();
        let event = TurnEvent::Ended {
            audio: Arc::new(audio),
            start_ms: ms(self.turn_start),
            end_ms: ms(self.last_speech_end),
            decided_ms: ms(self.position),
            probability: self.probability,
            reason,
            // No speech since the last pass: its transcript is the final.
            transcript: self
                .decoded
                .take()
                .filter(|(end, _)| *end == self.last_speech_end)
                .map(|(_, t)| t),
        };
        self.decoded = None;
        self.speculation = None;
        self.pause = None;
        self.in_turn = false;
        self.speaking = false;
        self.silence = 0;
        self.speech_run = 0;
        self.probability = 0.0;
        self.audio.clear();
        self.audio_start = self.position;
        event
    }
}
