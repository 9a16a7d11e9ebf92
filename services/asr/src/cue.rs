//! What the words say about the end of a turn. Smart Turn hears
//! intonation; the transcript at a pause adds what it cannot hear: a
//! sentence that stops on "and", "the" or "my", or in the middle of a
//! number being dictated, is not over; a turn of nothing but a greeting,
//! an acknowledgement or a hesitation ("Hi,", "Yes, so", "allora") opens a
//! thought rather than ending it, unless it answers a question the agent
//! just asked; and Whisper's own sentence-final punctuation is evidence
//! that a sentence is over.

use parla_text::answers::ANSWER_WORDS;
use parla_text::turn_words::{
    CONTINUATION_WORDS, DIGIT_WORDS, NUMBER_CUES, OPENERS, OPEN_UNLESS_CLOSED,
};

/// The transcript's verdict on a pause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextCue {
    /// The words cannot end a turn.
    Incomplete,
    /// Only greetings, acknowledgements or hesitations so far: the caller
    /// is starting, not finishing (a short answer to a question is not
    /// this; see [`text_cue_in`]).
    Opener,
    /// Whisper closed the sentence (`.`, `?`, `!`).
    Punctuated,
    /// Nothing either way.
    Neutral,
}

fn is_number(word: &str) -> bool {
    word.chars().all(|c| c.is_ascii_digit()) || DIGIT_WORDS.contains(&word)
}

/// Judges `text`, the transcript of a turn up to a pause, with no
/// question pending from the agent.
pub fn text_cue(text: &str) -> TextCue {
    text_cue_in(text, false)
}

/// Judges `text`, the transcript of a turn up to a pause; `answering`: the
/// agent's last words asked the caller something, so a bare "yes" or "no"
/// is a whole turn.
pub fn text_cue_in(text: &str, answering: bool) -> TextCue {
    let trimmed = text.trim();
    let words = parla_text::answers::words(trimmed);
    let Some(last) = words.last() else {
        return TextCue::Neutral;
    };
    let closed = trimmed.ends_with(['.', '?', '!']) && !trimmed.ends_with("...");
    let only = |set: &[&str]| words.iter().all(|w| set.contains(&w.as_str()));
    if answering && only(ANSWER_WORDS) {
        return if closed {
            TextCue::Punctuated
        } else {
            TextCue::Neutral
        };
    }
    if words.len() <= 5 && only(OPENERS) {
        return TextCue::Opener;
    }
    if CONTINUATION_WORDS.contains(&last.as_str())
        || (OPEN_UNLESS_CLOSED.contains(&last.as_str()) && !closed)
        || trimmed.ends_with(',')
        || trimmed.ends_with("...")
    {
        return TextCue::Incomplete;
    }
    // A number after "order number is ..." may go on after a breath.
    if is_number(last) {
        let before: Vec<&String> = words
            .iter()
            .rev()
            .skip_while(|w| is_number(w))
            .take(4)
            .collect();
        if before.iter().any(|w| NUMBER_CUES.contains(&w.as_str())) {
            return TextCue::Incomplete;
        }
    }
    if closed {
        TextCue::Punctuated
    } else {
        TextCue::Neutral
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cues() {
        assert_eq!(text_cue("My order number is 45."), TextCue::Incomplete);
        assert_eq!(
            text_cue("My order number is four five"),
            TextCue::Incomplete
        );
        assert_eq!(
            text_cue("I want to return the jacket I bought last week."),
            TextCue::Punctuated
        );
        assert_eq!(text_cue("I want to return the"), TextCue::Incomplete);
        assert_eq!(text_cue("Il mio ordine è il"), TextCue::Incomplete);
        // A bare "yes" opens a thought, unless it answers the agent's question.
        assert_eq!(text_cue("yes"), TextCue::Opener);
        assert_eq!(text_cue_in("yes", true), TextCue::Neutral);
        assert_eq!(text_cue("I was charged 120 dollars."), TextCue::Punctuated);
        // A question may end on a verb; an open statement may not.
        assert_eq!(
            text_cue("Hello, can you tell me where my order is?"),
            TextCue::Punctuated
        );
        assert_eq!(text_cue("My order is"), TextCue::Incomplete);
        assert_eq!(text_cue("Il mio ordine è"), TextCue::Incomplete);
        assert_eq!(text_cue("I think that..."), TextCue::Incomplete);
    }

    #[test]
    fn openers_wait_unless_they_answer_a_question() {
        for opener in [
            "Hi,",
            "Hello.",
            "Yes.",
            "Okay, thank you.",
            "Um, so",
            "Sì, allora.",
            "Buongiorno.",
        ] {
            assert_eq!(text_cue(opener), TextCue::Opener, "{opener}");
        }
        assert_eq!(text_cue_in("Yes.", true), TextCue::Punctuated);
        assert_eq!(text_cue_in("no thanks", true), TextCue::Neutral);
        assert_eq!(text_cue_in("Sì, grazie.", true), TextCue::Punctuated);
        // A greeting with a request is a turn.
        assert_eq!(text_cue("Hi, where is my order?"), TextCue::Punctuated);
        // An answer that goes on is judged on its last word.
        assert_eq!(text_cue_in("Yes, and", true), TextCue::Incomplete);
        assert_eq!(text_cue("Volevo sapere, ehm"), TextCue::Incomplete);
    }
}
