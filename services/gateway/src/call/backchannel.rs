//! Backchannels: short acknowledgements ("mm-hmm", "okay", "sì", "certo")
//! that a caller says while listening. They never interrupt the agent.

/// Decides from ASR text whether an utterance is only a backchannel.
#[derive(Debug, Clone)]
pub struct Backchannels {
    phrases: Vec<String>,
}

impl Backchannels {
    /// A detector for these phrases (any case and punctuation).
    pub fn new(phrases: &[String]) -> Self {
        Self {
            phrases: phrases.iter().map(|p| normalize(p)).collect(),
        }
    }

    /// True when `text` is made only of backchannel phrases and hums (at
    /// most four words in all), e.g. "Mm-hmm.", "Mm-hm", "Okay, okay.",
    /// "Sì, certo."; empty text is a backchannel too (nothing was understood).
    pub fn is_backchannel(&self, text: &str) -> bool {
        let norm = normalize(text);
        let words: Vec<&str> = norm.split_whitespace().collect();
        if words.len() > 4 {
            return false;
        }
        let mut i = 0;
        'outer: while i < words.len() {
            // A hum in any spelling the recogniser picks ("hm", "mhm", "mmhmm", "hmmm").
            if is_hum(words[i]) {
                i += 1;
                continue;
            }
            // Longest phrase first.
            for take in (1..=words.len() - i).rev() {
                let candidate = words[i..i + take].join(" ");
                if self.phrases.contains(&candidate) {
                    i += take;
                    continue 'outer;
                }
            }
            return false;
        }
        true
    }
}

/// A word of only `m` and `h` with at least one `m`: a hum, never a request.
/// The recogniser sometimes writes a hum as a plural ("MMs", "hmms"), so one
/// trailing `s` after a hum is still a hum.
fn is_hum(word: &str) -> bool {
    let word = word.strip_suffix('s').unwrap_or(word);
    word.contains('m') && word.chars().all(|c| c == 'm' || c == 'h')
}

/// Lowercase, hyphens to spaces, other punctuation removed.
fn normalize(text: &str) -> String {
    text.to_lowercase()
        .chars()
        .map(|c| if c == '-' { ' ' } else { c })
        .filter(|c| c.is_alphanumeric() || c.is_whitespace() || *c == '\'')
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::CallConfig;

    #[test]
    fn backchannels_and_real_turns() {
        let b = Backchannels::new(&CallConfig::default().backchannels);
        for yes in [
            "Mm-hmm.",
            "mm hmm",
            "Okay.",
            "Okay, okay.",
            "Sì, certo.",
            "Uh-huh",
            "",
            "Hmm?",
            "Mm-hm.",
            "Hm.",
            "Mhmm",
            "Mmmm, okay.",
            "MMs",
            "Hmms.",
        ] {
            assert!(b.is_backchannel(yes), "{yes:?}");
        }
        for no in [
            "Wait, stop.",
            "No, that's not right.",
            "Okay but where is my order?",
            "I want to return the jacket",
            "Certo, ma il mio ordine?",
            "Hm, my order is late",
            "Ma",
            "Mms, my order",
        ] {
            assert!(!b.is_backchannel(no), "{no:?}");
        }
    }
}
