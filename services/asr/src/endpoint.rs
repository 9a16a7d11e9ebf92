//! How long a judged pause must last before it ends the turn. At
//! `min_silence_ms` the detector has two opinions on the pause: Smart
//! Turn's probability that the turn is complete (it hears intonation) and
//! the transcript's [`TextCue`] (it reads the words). This module turns
//! them, with the settings, into the silence that ends the turn: short
//! (`min_endpoint_ms`) when both agree the thought is over, longer when
//! only the words say so (`complete_silence_ms` for a sentence Whisper
//! closed, `unpunctuated_silence_ms` for one it left open), longer still
//! after a lone word (`fragment_silence_ms`) or inside a number or a name
//! being dictated (`dictation_silence_ms`), and `max_silence_ms` when the
//! words cannot end a turn. Pure and in stream time: the same pause always
//! gives the same decision.

use crate::cue::TextCue;
use crate::turn::{TurnEnd, TurnSettings};

/// A pause Smart Turn and the words have judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JudgedPause {
    /// Silence that ends the turn as complete, in ms; `None` when only
    /// `max_silence_ms` can end it.
    ends_after_ms: Option<u32>,
    max_silence_ms: u32,
}

impl JudgedPause {
    /// Judges a pause from the transcript's `cue` and Smart Turn's
    /// `probability` under `settings`.
    pub fn new(settings: &TurnSettings, cue: TextCue, probability: f32) -> Self {
        let s = settings;
        let heard_complete = |threshold: f32| probability >= threshold;
        let ends_after_ms = match cue {
            TextCue::Incomplete | TextCue::Opener => None,
            TextCue::Fragment => Some(s.fragment_silence_ms),
            TextCue::Dictating => Some(s.dictation_silence_ms),
            TextCue::Punctuated if heard_complete(s.turn_threshold_punctuated) => {
                Some(s.min_endpoint_ms)
            }
            TextCue::Punctuated => Some(s.complete_silence_ms),
            TextCue::Unpunctuated if heard_complete(s.turn_threshold) => Some(s.min_endpoint_ms),
            TextCue::Unpunctuated => Some(s.unpunctuated_silence_ms),
            TextCue::Neutral if heard_complete(s.turn_threshold) => Some(s.min_endpoint_ms),
            TextCue::Neutral => None,
        };
        Self {
            // Never sooner than a pause judged complete, never later than
            // the silence that ends any turn.
            ends_after_ms: ends_after_ms
                .map(|ms| ms.max(s.min_endpoint_ms))
                .filter(|&ms| ms < s.max_silence_ms),
            max_silence_ms: s.max_silence_ms,
        }
    }

    /// Silence after which this pause ends the turn, in ms, whatever the
    /// reason.
    pub fn ends_after_ms(&self) -> u32 {
        self.ends_after_ms.unwrap_or(self.max_silence_ms)
    }

    /// What `silence_ms` of silence (from the end of speech) decides: the
    /// turn goes on (`None`), is complete or timed out.
    pub fn decide(&self, silence_ms: u32) -> Option<TurnEnd> {
        match self.ends_after_ms {
            Some(ms) if silence_ms >= ms => Some(TurnEnd::Complete),
            _ if silence_ms >= self.max_silence_ms => Some(TurnEnd::Timeout),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cue::text_cue_in;
    use crate::AsrConfig;

    /// The settings the cases are written for: the defaults, spelled out
    /// so that a change of default does not silently change the cases.
    fn settings() -> TurnSettings {
        TurnSettings::from(&AsrConfig {
            min_silence_ms: 200,
            min_endpoint_ms: 500,
            complete_silence_ms: 600,
            unpunctuated_silence_ms: 700,
            fragment_silence_ms: 1000,
            dictation_silence_ms: 900,
            max_silence_ms: 1500,
            turn_threshold: 0.5,
            turn_threshold_punctuated: 0.3,
            ..AsrConfig::default()
        })
    }

    /// Feeds silence in 32 ms VAD frames, as the detector counts it, until
    /// the pause decides; returns when and how.
    fn run_pause(pause: &JudgedPause) -> (u32, TurnEnd) {
        (0..)
            .map(|frame| frame * 32)
            .find_map(|silence| pause.decide(silence).map(|end| (silence, end)))
            .expect("max_silence_ms ends every pause")
    }

    #[test]
    fn a_pause_ends_the_turn_after_what_the_words_and_the_voice_allow() {
        use TurnEnd::{Complete, Timeout};
        // (transcript at the pause, the agent asked a question, Smart
        // Turn's probability, the turn ends at this silence, why)
        let cases: &[(&str, bool, f32, u32, TurnEnd)] = &[
            // Both agree: the shortest wait.
            (
                "I'd like to cancel my subscription.",
                false,
                0.8,
                512,
                Complete,
            ),
            ("My parcel never came", false, 0.7, 512, Complete),
            // Only the words: a closed sentence, then an open clause that
            // ends on a content word, wait longer.
            (
                "I'd like to cancel my subscription.",
                false,
                0.1,
                608,
                Complete,
            ),
            ("I'm moving house on Saturday", false, 0.2, 704, Complete),
            (
                "Ho cambiato indirizzo la settimana scorsa",
                false,
                0.2,
                704,
                Complete,
            ),
            // Too short to count as a clause: only the voice can end it.
            ("Last Monday", false, 0.2, 1504, Timeout),
            ("Last Monday", false, 0.6, 512, Complete),
            // Words that cannot end a turn: the voice is not asked.
            ("I ordered the boots because", false, 0.9, 1504, Timeout),
            ("Vorrei sapere se", false, 0.9, 1504, Timeout),
            ("My account is", false, 0.9, 1504, Timeout),
            ("Okay, thanks, um", false, 0.9, 1504, Timeout),
            // A lone word: the caller is likely to go on.
            ("Salvi.", false, 0.9, 1024, Complete),
            ("Yes,", true, 0.9, 1024, Complete),
            ("Sì,", true, 0.2, 1024, Complete),
            // A bare answer to the agent's question is a turn.
            ("Yes.", true, 0.9, 512, Complete),
            ("Uh, no.", true, 0.1, 608, Complete),
            ("sure", true, 0.1, 704, Complete),
            ("Certo.", true, 0.1, 608, Complete),
            // The same words without the question open a thought.
            ("Yes.", false, 0.9, 1504, Timeout),
            // A number or a name being dictated: a breath is not the end,
            // whatever the voice says.
            ("The tracking number is 8 3 1", false, 0.95, 928, Complete),
            ("My postcode is W 1", false, 0.1, 928, Complete),
            ("Il codice è sei due,", false, 0.9, 928, Complete),
            ("The surname is B R", true, 0.9, 928, Complete),
            // A number inside a sentence is not a dictation.
            ("I paid 80 euros for it.", false, 0.1, 608, Complete),
        ];
        for &(text, answering, probability, at, why) in cases {
            let cue = text_cue_in(text, answering);
            let pause = JudgedPause::new(&settings(), cue, probability);
            assert_eq!(
                run_pause(&pause),
                (at, why),
                "{text:?} (answering {answering}, p {probability}, {cue:?})"
            );
        }
    }

    #[test]
    fn every_wait_lies_between_min_endpoint_and_max_silence() {
        let s = TurnSettings::from(&AsrConfig {
            min_endpoint_ms: 800,
            complete_silence_ms: 600,
            unpunctuated_silence_ms: 700,
            fragment_silence_ms: 2000,
            dictation_silence_ms: 1200,
            max_silence_ms: 1200,
            ..AsrConfig::default()
        });
        let cues = [
            TextCue::Incomplete,
            TextCue::Opener,
            TextCue::Fragment,
            TextCue::Dictating,
            TextCue::Punctuated,
            TextCue::Unpunctuated,
            TextCue::Neutral,
        ];
        for cue in cues {
            for probability in [0.0, 0.4, 1.0] {
                let pause = JudgedPause::new(&s, cue, probability);
                let at = pause.ends_after_ms();
                assert!((800..=1200).contains(&at), "{cue:?} {probability}: {at}");
                assert_eq!(pause.decide(at.saturating_sub(1)), None, "{cue:?}");
                assert!(pause.decide(at).is_some(), "{cue:?}");
            }
        }
        // What can only end at max_silence_ms is a timeout, not complete.
        let dictated = JudgedPause::new(&s, TextCue::Dictating, 1.0);
        assert_eq!(dictated.decide(1200), Some(TurnEnd::Timeout));
    }
}
