//! What the words say about the end of a turn. Smart Turn hears
//! intonation; the transcript at a pause adds what it cannot hear: a
//! sentence that stops on "and", "the" or "my", or in the middle of a
//! number being dictated, is not over, and Whisper's own sentence-final
//! punctuation is evidence that it is.

/// The transcript's verdict on a pause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextCue {
    /// The words cannot end a turn.
    Incomplete,
    /// Whisper closed the sentence (`.`, `?`, `!`).
    Punctuated,
    /// Nothing either way.
    Neutral,
}

/// Words after which an English or Italian sentence cannot end.
const DANGLING: &[&str] = &[
    // English
    "and", "or", "but", "so", "because", "the", "a", "an", "my", "your", "our", "to", "of", "for",
    "with", "in", "on", "at", "from", "um", "uh", "erm", "like", "which", "if", "then", "than",
    "i", "i'm", // Italian
    "e", "o", "ma", "perché", "il", "lo", "la", "gli", "le", "un", "uno", "una", "mio", "mia",
    "di", "da", "per", "con", "su", "del", "della", "al", "alla",
];

/// Words that usually leave a sentence open ("my order is …") but close a
/// question or statement that Whisper punctuated ("where my order is?",
/// "can you do that?").
const OPEN_UNLESS_CLOSED: &[&str] = &["is", "are", "was", "that", "che", "è", "sono"];

/// Words that announce a number being dictated.
const NUMBER_WORDS: &[&str] = &[
    "number",
    "code",
    "phone",
    "zip",
    "postcode",
    "account",
    "card",
    "order",
    "tracking",
    "reference",
    "numero",
    "codice",
    "ordine",
    "telefono",
    "carta",
    "conto",
];

const DIGITS: &[&str] = &[
    "zero", "oh", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "uno",
    "due", "tre", "quattro", "cinque", "sei", "sette", "otto", "nove",
];

fn is_number(word: &str) -> bool {
    word.chars().all(|c| c.is_ascii_digit()) || DIGITS.contains(&word)
}

/// Judges `text`, the transcript of a turn up to a pause.
pub fn text_cue(text: &str) -> TextCue {
    let trimmed = text.trim();
    let words: Vec<String> = trimmed
        .split_whitespace()
        .map(|w| {
            w.trim_matches(|c: char| !c.is_alphanumeric() && c != '\'')
                .to_lowercase()
        })
        .filter(|w| !w.is_empty())
        .collect();
    let Some(last) = words.last() else {
        return TextCue::Neutral;
    };
    let closed = trimmed.ends_with(['.', '?', '!']) && !trimmed.ends_with("...");
    if DANGLING.contains(&last.as_str())
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
        if before.iter().any(|w| NUMBER_WORDS.contains(&w.as_str())) {
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
        assert_eq!(text_cue("yes"), TextCue::Neutral);
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
}
