//! What the words say about the end of a turn. Smart Turn hears
//! intonation; the transcript at a pause adds what it cannot hear: a
//! sentence that stops on "and", "the" or "my" is not over; a number or a
//! name being dictated ("four five <pause> seven two", "T H O M") may go on
//! after a breath; a turn of nothing but a greeting, an acknowledgement or
//! a hesitation ("Hi,", "Yes, so", "allora") opens a thought rather than
//! ending it, unless it answers a question the agent just asked, and a
//! lone word ("Yes," after a question, a greeting Whisper misheard) is
//! more often a start than a turn; Whisper's own sentence-final
//! punctuation is evidence that a sentence is over, and so, more weakly,
//! is a clause that ends on a content word when Whisper left it
//! unpunctuated. How long each verdict lets a pause run is
//! [`crate::JudgedPause`]'s business.

use parla_text::answers::ANSWER_WORDS;
use parla_text::turn_words::{
    CONTINUATION_WORDS, DIGIT_WORDS, FILLERS, NUMBER_CUES, OPENERS, OPEN_UNLESS_CLOSED,
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
    /// A lone word the caller is likely to go on from: an answer with a
    /// comma after it ("Yes,", "No,") or a single word that answers
    /// nothing.
    Fragment,
    /// A number or a word being dictated piece by piece ("the number is
    /// four five", "T H O M").
    Dictating,
    /// Whisper closed the sentence (`.`, `?`, `!`).
    Punctuated,
    /// No final punctuation, but a clause of at least [`MIN_CLAUSE_WORDS`]
    /// that ends on a content word ("because I'm moving on Friday"), or a
    /// bare answer to the agent's question: probably complete.
    Unpunctuated,
    /// Nothing either way.
    Neutral,
}

/// Words an unpunctuated clause needs before its ending on a content word
/// counts as evidence that it is over (a short start such as "Hi, my name"
/// does not).
pub const MIN_CLAUSE_WORDS: usize = 3;

/// A digit, a group of digits ("45", "45-729") or a digit said as a word.
fn is_number(word: &str) -> bool {
    let digits = word.chars().any(|c| c.is_ascii_digit())
        && word.chars().all(|c| c.is_ascii_digit() || c == '-');
    digits || DIGIT_WORDS.contains(&word)
}

/// A letter said alone, as in a spelled name or postcode ("T", "s").
fn is_letter(word: &str) -> bool {
    let mut chars = word.chars();
    chars.next().is_some_and(char::is_alphabetic) && chars.next().is_none()
}

/// The words end in a number read after "order number", "codice" and the
/// like, or in a word being spelled letter by letter.
fn dictating(words: &[String]) -> bool {
    let Some(last) = words.last() else {
        return false;
    };
    if is_number(last) {
        let mut before = words.iter().rev().skip_while(|w| is_number(w)).take(4);
        return before.any(|w| NUMBER_CUES.contains(&w.as_str()));
    }
    words.len() >= 2 && words.iter().rev().take(2).all(|w| is_letter(w))
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
    let goes_on = trimmed.ends_with(',') || trimmed.ends_with("...");
    let only = |set: &[&str]| words.iter().all(|w| set.contains(&w.as_str()));
    // "Um, yes." answers as "Yes." does.
    let said: Vec<&String> = words
        .iter()
        .filter(|w| !FILLERS.contains(&w.as_str()))
        .collect();
    if answering && !said.is_empty() && said.iter().all(|w| ANSWER_WORDS.contains(&w.as_str())) {
        return if goes_on {
            TextCue::Fragment
        } else if closed {
            TextCue::Punctuated
        } else {
            TextCue::Unpunctuated
        };
    }
    if words.len() <= 5 && only(OPENERS) {
        return TextCue::Opener;
    }
    // A number or a spelled word may go on after a breath ("sei uno",
    // "K I"); a trailing comma there is the breath, not a clause left open.
    if dictating(&words) {
        return TextCue::Dictating;
    }
    if CONTINUATION_WORDS.contains(&last.as_str())
        || (OPEN_UNLESS_CLOSED.contains(&last.as_str()) && !closed)
    {
        return TextCue::Incomplete;
    }
    if goes_on {
        return TextCue::Incomplete;
    }
    // One word alone is how a thought starts ("Salve,"), misheard or not;
    // after a question it may be the answer ("Thompson.").
    if words.len() == 1 && !answering {
        return TextCue::Fragment;
    }
    if closed {
        TextCue::Punctuated
    } else if words.len() >= MIN_CLAUSE_WORDS {
        TextCue::Unpunctuated
    } else {
        TextCue::Neutral
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cues() {
        assert_eq!(text_cue("My order number is 45."), TextCue::Dictating);
        assert_eq!(text_cue("My order number is four five"), TextCue::Dictating);
        assert_eq!(
            text_cue("I want to return the jacket I bought last week."),
            TextCue::Punctuated
        );
        assert_eq!(text_cue("I want to return the"), TextCue::Incomplete);
        assert_eq!(text_cue("Il mio ordine è il"), TextCue::Incomplete);
        // A bare "yes" opens a thought, unless it answers the agent's question.
        assert_eq!(text_cue("yes"), TextCue::Opener);
        assert_eq!(text_cue_in("yes", true), TextCue::Unpunctuated);
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
        assert_eq!(text_cue_in("no thanks", true), TextCue::Unpunctuated);
        assert_eq!(text_cue_in("Sì, grazie.", true), TextCue::Punctuated);
        // A greeting with a request is a turn.
        assert_eq!(text_cue("Hi, where is my order?"), TextCue::Punctuated);
        // An answer that goes on is judged on its last word.
        assert_eq!(text_cue_in("Yes, and", true), TextCue::Incomplete);
        assert_eq!(text_cue("Volevo sapere, ehm"), TextCue::Incomplete);
    }

    #[test]
    fn the_words_alone_judge_a_pause() {
        use TextCue::*;
        // (transcript at a pause, the agent asked a question, verdict)
        let cases: &[(&str, bool, TextCue)] = &[
            // A clause that ends on a content word, unpunctuated.
            ("I need to change the delivery address", false, Unpunctuated),
            ("The sleeves are far too long for me", false, Unpunctuated),
            ("Vorrei restituire le scarpe nere", false, Unpunctuated),
            // ... unless it ends on a word that leads somewhere.
            (
                "I need to change the delivery address because",
                false,
                Incomplete,
            ),
            ("The sleeves are far too long for", false, Incomplete),
            ("Vorrei restituire le scarpe ma", false, Incomplete),
            ("So the problem is", false, Incomplete),
            ("I was wondering, um", false, Incomplete),
            ("I was wondering,", false, Incomplete),
            // Too few words to tell.
            ("Next week", false, Neutral),
            // Closed by Whisper.
            ("The sleeves are far too long.", false, Punctuated),
            ("Can I pay by card?", false, Punctuated),
            // A lone word.
            ("Salvi.", false, Fragment),
            ("Hi,", false, Opener),
            ("Ehm,", false, Opener),
            ("No,", true, Fragment),
            ("Sì,", true, Fragment),
            ("Thompson.", true, Punctuated),
            // Answers, hesitation or not.
            ("Mm, yes please.", true, Punctuated),
            ("Ehm, sì", true, Unpunctuated),
            ("Ehm, sì", false, Opener),
            // A number or a name being read out.
            ("My postcode is W 1", false, Dictating),
            ("The reference is 45-729", false, Dictating),
            ("Il numero d'ordine è sei uno,", false, Dictating),
            ("Ho speso 80 euro", false, Unpunctuated),
            ("It's spelled R O", true, Dictating),
            ("M R", false, Dictating),
        ];
        for &(text, answering, cue) in cases {
            assert_eq!(
                text_cue_in(text, answering),
                cue,
                "{text:?} (answering {answering})"
            );
        }
    }
}
