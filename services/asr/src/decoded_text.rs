//! What Whisper's text says about the pass that wrote it: a decoder caught
//! in a repetition loop, and bracketed annotations that are not speech.

/// True when `text` repeats itself the way a looping decoder does: a
/// phrase of four or more words twice in a row, two or three words three
/// times, or one word four times.
pub(crate) fn repeats(text: &str) -> bool {
    loop_start(text).is_some()
}

/// When `text` loops (see [`repeats`]): how many of its whitespace-separated
/// words come before the second round of the earliest loop, i.e. the text
/// up to and including the loop's first round.
pub(crate) fn loop_start(text: &str) -> Option<usize> {
    // Each word as compared (lowercase, no punctuation), with its place in
    // the text; words of punctuation only are skipped.
    let words: Vec<(usize, String)> = text
        .split_whitespace()
        .enumerate()
        .map(|(at, w)| {
            let w = w
                .trim_matches(|c: char| !c.is_alphanumeric())
                .to_lowercase();
            (at, w)
        })
        .filter(|(_, w)| !w.is_empty())
        .collect();
    let same = |a: usize, b: usize, n: usize| (0..n).all(|k| words[a + k].1 == words[b + k].1);
    (0..words.len()).find_map(|i| {
        (1..=(words.len() - i) / 2).find_map(|n| {
            let times = match n {
                1 => 4,
                2 | 3 => 3,
                _ => 2,
            };
            let looped = i + n * times <= words.len() && (1..times).all(|k| same(i, i + k * n, n));
            if looped {
                Some(words[i + n].0)
            } else {
                None
            }
        })
    })
}

/// Removes bracketed annotations Whisper writes for non-speech
/// ("[BLANK_AUDIO]", "(music)") and returns the trimmed rest.
pub fn strip_non_speech(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut depth = 0u32;
    for c in text.chars() {
        match c {
            '[' | '(' => depth += 1,
            ']' | ')' if depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    let collapsed = out.split_whitespace().collect::<Vec<_>>().join(" ");
    // Only punctuation left is no speech either.
    if collapsed.chars().any(char::is_alphanumeric) {
        collapsed
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repetition_loops_are_recognized() {
        assert!(repeats("I was charged $120. $20. $20. $20. $20."));
        assert!(repeats(
            "Can I speak to a human agent, please? Can I speak to a human agent, please?"
        ));
        assert!(repeats("thank you thank you thank you"));
        // The partial of a short "Mm-hmm" that once barged in on the agent.
        assert!(repeats("Hello? Hello? Hello? Hello? Hello?"));
        assert!(!repeats("Hello? Hello? Is anyone there?"));
        assert!(!repeats("My phone number is 555-2134."));
        assert!(!repeats("It is very very late, the order is late."));
        assert!(!repeats(""));
    }

    #[test]
    fn a_loop_is_cut_after_its_first_round() {
        let cut = |t: &str| {
            loop_start(t).map(|n| t.split_whitespace().take(n).collect::<Vec<_>>().join(" "))
        };
        assert_eq!(
            cut("and so and so and so and so").as_deref(),
            Some("and so")
        );
        assert_eq!(
            cut("And so my fellow and so my fellow and so my fellow and").as_deref(),
            Some("And so my fellow")
        );
        assert_eq!(
            cut("Hello? Hello? Hello? Hello?").as_deref(),
            Some("Hello?")
        );
        assert_eq!(
            cut("I was charged $120. $20. $20. $20. $20.").as_deref(),
            Some("I was charged $120. $20.")
        );
        assert_eq!(cut("My phone number is 555-2134."), None);
    }

    #[test]
    fn annotations_are_not_speech() {
        assert_eq!(strip_non_speech("[BLANK_AUDIO]"), "");
        assert_eq!(strip_non_speech(" (music) ..."), "");
        assert_eq!(strip_non_speech("Hello [noise] there."), "Hello there.");
    }
}
