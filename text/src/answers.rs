//! Answer words: what a caller says to answer a yes/no question ("yes", "no, thanks", "sì,
//! va bene", "of course"). The recognizer takes a turn of only these as whole after the agent's
//! question, and the call gateway hears them over the agent's voice as an answer, not a
//! backchannel.

/// Words that answer a question by themselves, English and Italian, lowercase.
pub const ANSWER_WORDS: &[&str] = &[
    "yes",
    "yeah",
    "yep",
    "yup",
    "no",
    "nope",
    "okay",
    "ok",
    "sure",
    "right",
    "correct",
    "exactly",
    "please",
    "go",
    "ahead",
    "thanks",
    "thank",
    "you",
    "fine",
    "alright",
    "absolutely",
    "definitely",
    "of",
    "course",
    "sì",
    "si",
    "certo",
    "esatto",
    "esattamente",
    "va",
    "bene",
    "grazie",
    "perfetto",
    "d'accordo",
    "certamente",
    "giusto",
    "prego",
    "volentieri",
    "assolutamente",
];

/// The words of `text`, lowercase, punctuation around them removed (apostrophes kept).
pub fn words(text: &str) -> Vec<String> {
    text.split_whitespace()
        .map(|w| {
            w.trim_matches(|c: char| !c.is_alphanumeric() && c != '\'')
                .to_lowercase()
        })
        .filter(|w| !w.is_empty())
        .collect()
}

/// True when `text` is a short answer made only of answer words ("Yes.", "No, no.", "Sì,
/// certo", "Of course"); at most five words.
pub fn is_answer(text: &str) -> bool {
    let words = words(text);
    !words.is_empty()
        && words.len() <= 5
        && words.iter().all(|w| ANSWER_WORDS.contains(&w.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_and_other_turns() {
        for yes in [
            "Yes.",
            "yes please",
            "No, no.",
            "Sì, certo.",
            "Va bene",
            "OK",
            "Of course!",
        ] {
            assert!(is_answer(yes), "{yes:?}");
        }
        for no in [
            "",
            "Mm-hmm",
            "I want a refund",
            "yes but the other one please",
            "Yes, yes, yes, yes, yes, yes.",
        ] {
            assert!(!is_answer(no), "{no:?}");
        }
    }
}
