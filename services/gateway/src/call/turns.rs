//! Turn-taking of a call as a pure state machine: what the caller's
//! speech means for the conversation, decided from events in stream time
//! (caller audio received) and a snapshot of what the agent is saying, so
//! the same call gives the same decisions however fast the machine is.
//!
//! People pause inside one thought ("Yes, <400 ms> please open the
//! warranty case"), and the recognizer can only guess where a thought
//! ends. So a turn can be taken back: when the caller goes on speaking
//! after a final whose answer has not been heard yet, that answer is
//! dropped and the pieces go to the dialogue as one turn. Speech that
//! ended before the agent's reply began never interrupts that reply (a
//! late final is not a barge-in); a short acknowledgement over the agent
//! is a backchannel, except an answer word ("yes", "no", "sì") once the
//! agent has asked a question.

use std::sync::Arc;

use parla_text::answers::is_answer;

use super::Backchannels;

/// Limits of the state machine, from the call settings.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    /// Caller speech over agent audio must last this long to interrupt, ms.
    pub barge_in_min_ms: u64,
    /// After a final, how long the caller may take to go on and have the
    /// pieces answered as one turn while its answer is not heard yet, ms.
    pub merge_grace_ms: u64,
    /// A fragment kept back is sent alone when the caller has said
    /// nothing more for this long and the agent is silent, ms.
    pub fragment_flush_ms: u64,
}

/// What the agent is doing, as the call session sees it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Speaker {
    /// Stream ms where the agent audio now playing began (None: silent).
    pub audible_since: Option<u64>,
    /// An answer to a caller turn is awaited or being synthesized, and
    /// none of it has been heard.
    pub answer_unheard: bool,
    /// The caller has heard a question of the agent's current reply.
    pub question_heard: bool,
}

/// One final transcript of the caller.
#[derive(Debug, Clone, PartialEq)]
pub struct Heard {
    /// The words.
    pub text: String,
    /// Where the speech started and ended, stream ms.
    pub start_ms: u64,
    /// Where the speech ended, stream ms.
    pub end_ms: u64,
    /// Recognition confidence.
    pub confidence: f32,
    /// Language the recognizer found.
    pub language: String,
}

/// A caller turn to send to the dialogue.
#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    /// The words of every piece, in order.
    pub text: String,
    /// Where its first piece started, stream ms.
    pub start_ms: u64,
    /// Where its last piece ended, stream ms.
    pub end_ms: u64,
    /// The lowest confidence of its pieces.
    pub confidence: f32,
    /// The language of its last piece.
    pub language: String,
    /// Pieces merged into it.
    pub pieces: u32,
}

impl Turn {
    fn from_heard(h: Heard) -> Self {
        Self {
            text: h.text,
            start_ms: h.start_ms,
            end_ms: h.end_ms,
            confidence: h.confidence,
            language: h.language,
            pieces: 1,
        }
    }

    /// This turn followed by `next`: words joined, the later end, the
    /// lower confidence, the later language.
    fn then(mut self, next: Turn) -> Self {
        if !next.text.is_empty() {
            self.text = format!("{} {}", self.text.trim_end(), next.text.trim_start());
        }
        self.end_ms = self.end_ms.max(next.end_ms);
        self.confidence = self.confidence.min(next.confidence);
        if !next.language.is_empty() {
            self.language = next.language;
        }
        self.pieces += next.pieces;
        self
    }
}

/// What the session must do with a final.
#[derive(Debug, Clone, PartialEq)]
pub enum OnFinal {
    /// Nothing (no words).
    Nothing,
    /// The caller is already speaking again: the piece waits for the rest.
    Kept,
    /// A backchannel over the agent: nothing to answer.
    Backchannel,
    /// Send this turn to the dialogue; `barge_in`: stop the agent first.
    Send {
        /// The turn, fragments merged.
        turn: Turn,
        /// The caller spoke over the agent: stop its audio first.
        barge_in: bool,
    },
}

/// What the session must do when the caller starts speaking.
#[derive(Debug, Clone, PartialEq)]
pub enum OnSpeech {
    /// Nothing yet.
    Nothing,
    /// The caller goes on with the turn just sent: drop its unheard
    /// answer; the turn comes back merged with what follows.
    TakeBack,
}

/// The turn-taking state of one call.
pub struct TurnTaking {
    rules: Rules,
    backchannels: Arc<Backchannels>,
    /// Stream ms where the caller's current speech started (None: silent).
    speaking_since: Option<u64>,
    /// Words kept back to be merged with the caller's next words.
    fragment: Option<Turn>,
    /// The last turn sent, while it may still be taken back.
    last_sent: Option<Turn>,
}

impl TurnTaking {
    /// A call's turn-taking with these rules and backchannel phrases.
    pub fn new(rules: Rules, backchannels: Arc<Backchannels>) -> Self {
        Self {
            rules,
            backchannels,
            speaking_since: None,
            fragment: None,
            last_sent: None,
        }
    }

    /// Words are kept back for the caller's next turn.
    pub fn holds_fragment(&self) -> bool {
        self.fragment.is_some()
    }

    /// The caller started speaking at `at`.
    pub fn speech_started(&mut self, at: u64, speaker: Speaker) -> OnSpeech {
        self.speaking_since = Some(at);
        let Some(last) = self.last_sent.as_ref() else {
            return OnSpeech::Nothing;
        };
        let within = at <= last.end_ms + self.rules.merge_grace_ms;
        if within && speaker.answer_unheard && speaker.audible_since.is_none() {
            let last = self.last_sent.take().expect("checked above");
            self.fragment = Some(match self.fragment.take() {
                // A piece kept while this turn was out goes after it.
                Some(kept) => last.then(kept),
                None => last,
            });
            return OnSpeech::TakeBack;
        }
        OnSpeech::Nothing
    }

    /// The caller paused (the recognizer's speech end).
    pub fn speech_ended(&mut self) {
        self.speaking_since = None;
    }

    /// A final transcript arrived.
    pub fn final_heard(&mut self, heard: Heard, speaker: Speaker) -> OnFinal {
        // The caller went on speaking after this piece: it waits for the rest.
        let resumed = self.speaking_since.is_some_and(|s| s > heard.end_ms);
        if !resumed {
            self.speaking_since = None;
        }
        let piece_is_empty = heard.text.trim().is_empty();
        if piece_is_empty && self.fragment.is_none() {
            return OnFinal::Nothing;
        }
        let alone = self.fragment.is_none();
        let long = heard.end_ms.saturating_sub(heard.start_ms) >= self.rules.barge_in_min_ms;
        let piece_text = heard.text.clone();
        let turn = match self.fragment.take() {
            Some(kept) => kept.then(Turn::from_heard(heard)),
            None => Turn::from_heard(heard),
        };
        if resumed {
            self.fragment = Some(turn);
            return OnFinal::Kept;
        }
        let Some(since) = speaker.audible_since else {
            self.last_sent = Some(turn.clone());
            return OnFinal::Send {
                turn,
                barge_in: false,
            };
        };
        if turn.end_ms <= since {
            // Said before the agent began this reply: never an
            // interruption; it opens the caller's next turn.
            self.fragment = Some(turn);
            return OnFinal::Kept;
        }
        let answer = speaker.question_heard && is_answer(&piece_text);
        if alone && !answer && (!long || self.backchannels.is_backchannel(&piece_text)) {
            return OnFinal::Backchannel;
        }
        self.last_sent = Some(turn.clone());
        OnFinal::Send {
            turn,
            barge_in: true,
        }
    }

    /// Time passed (stream ms `now`): a fragment kept back goes alone when
    /// nothing followed it and the agent is silent.
    pub fn tick(&mut self, now: u64, speaker: Speaker) -> Option<Turn> {
        let due = self.fragment.as_ref().is_some_and(|f| {
            now >= f.end_ms + self.rules.fragment_flush_ms
                && self.speaking_since.is_none()
                && speaker.audible_since.is_none()
                && !speaker.answer_unheard
        });
        if !due {
            return None;
        }
        let turn = self.fragment.take()?;
        self.last_sent = Some(turn.clone());
        Some(turn)
    }

    /// The answer of the last turn sent was heard (or the turn can no
    /// longer be taken back): forget it.
    pub fn answer_heard(&mut self) {
        self.last_sent = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::CallConfig;

    fn machine() -> TurnTaking {
        let rules = Rules {
            barge_in_min_ms: 300,
            merge_grace_ms: 2000,
            fragment_flush_ms: 1500,
        };
        let phrases = CallConfig::default().backchannels;
        TurnTaking::new(rules, Arc::new(Backchannels::new(&phrases)))
    }

    fn heard(text: &str, start_ms: u64, end_ms: u64) -> Heard {
        Heard {
            text: text.into(),
            start_ms,
            end_ms,
            confidence: 0.9,
            language: "en".into(),
        }
    }

    const SILENT: Speaker = Speaker {
        audible_since: None,
        answer_unheard: false,
        question_heard: false,
    };
    const WAITING: Speaker = Speaker {
        audible_since: None,
        answer_unheard: true,
        question_heard: false,
    };

    fn sent(d: OnFinal) -> (String, bool) {
        match d {
            OnFinal::Send { turn, barge_in } => (turn.text, barge_in),
            other => panic!("expected a turn, got {other:?}"),
        }
    }

    #[test]
    fn a_piece_whose_caller_already_goes_on_waits_for_the_rest() {
        let mut t = machine();
        // "Yes," ends at 1000; the caller resumes at 1350, before the final.
        t.speech_started(400, SILENT);
        t.speech_ended();
        t.speech_started(1350, SILENT);
        assert_eq!(
            t.final_heard(heard("Yes,", 400, 1000), SILENT),
            OnFinal::Kept
        );
        let (text, barge) =
            sent(t.final_heard(heard("please open the warranty case.", 1350, 3000), SILENT));
        assert_eq!(text, "Yes, please open the warranty case.");
        assert!(!barge);
    }

    #[test]
    fn going_on_before_the_answer_is_heard_takes_the_turn_back() {
        let mut t = machine();
        t.speech_started(400, SILENT);
        let (text, _) = sent(t.final_heard(heard("Hi, this is Giulia Rossi.", 400, 2000), SILENT));
        assert_eq!(text, "Hi, this is Giulia Rossi.");
        // The answer is on its way, not heard; the caller goes on at 2600.
        assert_eq!(t.speech_started(2600, WAITING), OnSpeech::TakeBack);
        let d = t.final_heard(
            heard("I'd like to return the light jacket.", 2600, 4500),
            SILENT,
        );
        let OnFinal::Send { turn, barge_in } = d else {
            panic!("expected the merged turn, got {d:?}");
        };
        assert_eq!(
            turn.text,
            "Hi, this is Giulia Rossi. I'd like to return the light jacket."
        );
        assert_eq!((turn.start_ms, turn.end_ms, turn.pieces), (400, 4500, 2));
        assert!(!barge_in);
    }

    #[test]
    fn no_take_back_once_the_answer_is_heard_or_after_the_grace() {
        let mut t = machine();
        sent(t.final_heard(heard("Where is my order?", 400, 2000), SILENT));
        let playing = Speaker {
            audible_since: Some(2900),
            answer_unheard: false,
            question_heard: false,
        };
        assert_eq!(t.speech_started(3000, playing), OnSpeech::Nothing);
        let mut t = machine();
        sent(t.final_heard(heard("Where is my order?", 400, 2000), SILENT));
        assert_eq!(t.speech_started(4100, WAITING), OnSpeech::Nothing);
        let mut t = machine();
        sent(t.final_heard(heard("Where is my order?", 400, 2000), SILENT));
        t.answer_heard();
        assert_eq!(t.speech_started(2500, WAITING), OnSpeech::Nothing);
    }

    #[test]
    fn a_late_final_never_cuts_a_reply_that_began_after_its_speech() {
        let mut t = machine();
        // The reply began at 5000; the caller's words ended at 4800 but
        // the final arrives while the reply plays.
        let playing = Speaker {
            audible_since: Some(5000),
            answer_unheard: false,
            question_heard: false,
        };
        assert_eq!(
            t.final_heard(heard("and it's for the blue one", 3900, 4800), playing),
            OnFinal::Kept
        );
        // Said later, over the reply: a real interruption.
        let (text, barge) = sent(t.final_heard(heard("wait, which order?", 5600, 6400), playing));
        assert_eq!(text, "and it's for the blue one wait, which order?");
        assert!(barge);
    }

    #[test]
    fn a_kept_fragment_goes_alone_when_nothing_follows() {
        let mut t = machine();
        let playing = Speaker {
            audible_since: Some(5000),
            ..SILENT
        };
        assert_eq!(
            t.final_heard(heard("the blue one", 3900, 4800), playing),
            OnFinal::Kept
        );
        assert_eq!(t.tick(7000, playing), None, "not while the agent talks");
        assert_eq!(t.tick(6000, SILENT), None, "not before the flush time");
        let turn = t.tick(6400, SILENT).expect("flushed");
        assert_eq!(turn.text, "the blue one");
        assert_eq!(t.tick(9000, SILENT), None, "only once");
    }

    #[test]
    fn answer_words_over_a_question_are_turns_other_backchannels_are_not() {
        let cases = [
            // (text, question heard, expected: Some(barge_in) or None = backchannel)
            ("Mm-hmm.", false, None),
            ("Yes.", false, None),
            ("Okay.", false, None),
            ("Yes.", true, Some(true)),
            ("No, no.", true, Some(true)),
            ("Sì, certo.", true, Some(true)),
            ("Mm-hmm.", true, None),
            ("Wait, that's the wrong order.", false, Some(true)),
        ];
        for (text, question_heard, expected) in cases {
            let mut t = machine();
            let speaker = Speaker {
                audible_since: Some(1000),
                answer_unheard: false,
                question_heard,
            };
            let d = t.final_heard(heard(text, 2000, 2600), speaker);
            let got = match d {
                OnFinal::Send { barge_in, .. } => Some(barge_in),
                OnFinal::Backchannel => None,
                other => panic!("{text:?}: {other:?}"),
            };
            assert_eq!(got, expected, "{text:?} question heard {question_heard}");
        }
    }

    #[test]
    fn a_short_word_over_the_agent_is_not_an_interruption_unless_it_answers() {
        let mut t = machine();
        let speaker = Speaker {
            audible_since: Some(1000),
            ..SILENT
        };
        // 200 ms of "Stop" is below barge_in_min_ms.
        assert_eq!(
            t.final_heard(heard("Stop", 2000, 2200), speaker),
            OnFinal::Backchannel
        );
        let asked = Speaker {
            question_heard: true,
            ..speaker
        };
        assert_eq!(
            sent(t.final_heard(heard("No.", 2000, 2200), asked)),
            ("No.".into(), true)
        );
    }
}
