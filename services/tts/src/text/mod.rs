//! From reply text to what the engines say: SSML parsing, number and money
//! reading, and cutting text into sentences (so a stream can speak each one
//! as soon as it is complete).

mod calendar;
mod ssml;

use crate::TtsError;
pub use calendar::spoken_date;
pub use parla_text::{dates, numbers, Lang};

/// One step of an utterance.
#[derive(Debug, Clone, PartialEq)]
pub enum Piece {
    /// Plain text to speak, with a relative prosody from SSML.
    Text {
        /// The words.
        text: String,
        /// Rate factor.
        rate: f32,
        /// Pitch factor.
        pitch: f32,
        /// Volume factor.
        volume: f32,
    },
    /// Silence.
    Break {
        /// Its length.
        ms: u32,
    },
    /// The end of a sentence: the tone's sentence pause goes here.
    SentenceEnd,
}

/// Most words an engine is given in one run. A longer sentence (400 words
/// with no full stop, a say-as of thousands of digits) is cut into runs of
/// at most this many words, at a clause break where there is one: a
/// synthesizer's memory grows with the square of its input, and one run
/// of thousands of phonemes took gigabytes.
pub const MAX_RUN_WORDS: usize = 40;

/// Parses `text` (SSML when `ssml`) into pieces, each text piece holding at
/// most one sentence of at most [`MAX_RUN_WORDS`] words.
pub fn plan(text: &str, ssml: bool, lang: Lang) -> Result<Vec<Piece>, TtsError> {
    let pieces = if ssml {
        ssml::parse(text, lang)?
    } else {
        vec![Piece::Text {
            text: numbers::expand_for_speech(text, lang),
            rate: 1.0,
            pitch: 1.0,
            volume: 1.0,
        }]
    };
    let mut out = Vec::new();
    for piece in pieces {
        match piece {
            Piece::Text {
                text,
                rate,
                pitch,
                volume,
            } => {
                let push = |s: &str, out: &mut Vec<Piece>| {
                    for run in runs(s, MAX_RUN_WORDS) {
                        out.push(Piece::Text {
                            text: run.to_owned(),
                            rate,
                            pitch,
                            volume,
                        });
                    }
                };
                let mut rest = text.as_str();
                while let Some(end) = sentence_end(rest, false) {
                    let s = rest[..end].trim();
                    if !s.is_empty() {
                        push(s, &mut out);
                        out.push(Piece::SentenceEnd);
                    }
                    rest = &rest[end..];
                }
                if !rest.trim().is_empty() {
                    push(rest.trim(), &mut out);
                }
            }
            Piece::SentenceEnd if matches!(out.last(), Some(Piece::SentenceEnd) | None) => {}
            other => out.push(other),
        }
    }
    Ok(out)
}

/// Characters the engines will be asked to say: the text of every piece,
/// after numbers, dates and say-as were read out.
pub fn spoken_chars(pieces: &[Piece]) -> usize {
    pieces
        .iter()
        .map(|p| match p {
            Piece::Text { text, .. } => text.chars().count(),
            _ => 0,
        })
        .sum()
}

/// Cuts a sentence into runs of at most `max_words` words: after the last
/// clause break (`,` `;` `:`) of a run's second half when it has one,
/// otherwise at the word limit.
fn runs(sentence: &str, max_words: usize) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = sentence.trim();
    loop {
        // Byte offsets where each word starts.
        let starts: Vec<usize> = rest
            .char_indices()
            .filter(|&(i, c)| {
                !c.is_whitespace() && (i == 0 || rest[..i].ends_with(char::is_whitespace))
            })
            .map(|(i, _)| i)
            .collect();
        if starts.len() <= max_words {
            if !rest.is_empty() {
                out.push(rest);
            }
            return out;
        }
        // The cut: before word `max_words`, or earlier after a clause break.
        let mut cut = starts[max_words];
        for w in (max_words / 2..max_words).rev() {
            let before = rest[..starts[w]].trim_end();
            if before.ends_with([',', ';', ':']) {
                cut = starts[w];
                break;
            }
        }
        out.push(rest[..cut].trim_end());
        rest = rest[cut..].trim_start();
    }
}

const ABBREVIATIONS: [&str; 14] = [
    "mr", "mrs", "ms", "dr", "st", "vs", "e.g", "i.e", "sig", "sigg", "dott", "ing", "prof", "no",
];

/// Byte index just past the end of the first complete sentence of `text`:
/// `.`, `!`, `?` or `…` (with closing quotes) followed by whitespace, or a
/// newline. Outside SSML tags when `ssml`. `None` while no sentence is
/// known to be complete (a final `.` may still become `49.90`).
pub fn sentence_end(text: &str, ssml: bool) -> Option<usize> {
    let bytes: Vec<(usize, char)> = text.char_indices().collect();
    let mut depth = 0i32;
    let mut in_tag = false;
    for (k, &(i, c)) in bytes.iter().enumerate() {
        if ssml {
            match c {
                '<' => {
                    in_tag = true;
                    let rest = &text[i..];
                    let is_speak = rest.starts_with("<speak") || rest.starts_with("</speak");
                    if !is_speak {
                        if rest.starts_with("</") {
                            depth -= 1;
                        } else if !rest[..rest.find('>').unwrap_or(rest.len())].ends_with('/') {
                            depth += 1;
                        }
                    }
                    continue;
                }
                '>' => {
                    in_tag = false;
                    continue;
                }
                _ if in_tag || depth > 0 => continue,
                _ => {}
            }
        }
        if c == '\n' && i > 0 {
            return Some(i + 1);
        }
        if !matches!(c, '.' | '!' | '?' | '…') {
            continue;
        }
        // Skip closing quotes and brackets after the mark.
        let mut j = k + 1;
        while j < bytes.len() && matches!(bytes[j].1, '"' | '\'' | ')' | '”' | '’' | '»') {
            j += 1;
        }
        let &(next_i, next) = bytes.get(j)?;
        if !(next.is_whitespace() || ssml && next == '<') {
            continue;
        }
        if c == '.' {
            let word = text[..i]
                .rsplit(|ch: char| ch.is_whitespace())
                .next()
                .unwrap_or("")
                .to_ascii_lowercase();
            if ABBREVIATIONS.contains(&word.as_str())
                || (word.len() == 1 && word.chars().all(char::is_alphabetic))
            {
                continue;
            }
        }
        return Some(next_i);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(pieces: &[Piece]) -> Vec<String> {
        pieces
            .iter()
            .filter_map(|p| match p {
                Piece::Text { text, .. } => Some(text.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_long_sentence_is_cut_into_bounded_runs_at_clause_breaks() {
        let words: Vec<String> = (0..400).map(|i| format!("word{i}")).collect();
        let long = words.join(" ");
        let pieces = plan(&long, false, Lang::En).unwrap();
        let runs = texts(&pieces);
        assert_eq!(runs.len(), 10);
        assert!(runs
            .iter()
            .all(|r| r.split_whitespace().count() <= MAX_RUN_WORDS));
        // Nothing lost or reordered.
        assert_eq!(runs.join(" "), long);
        // Cut after a comma in the second half of the run when there is one.
        let with_comma = format!("{}, {}", words[..30].join(" "), words[30..60].join(" "));
        let runs = texts(&plan(&with_comma, false, Lang::En).unwrap());
        assert_eq!(runs.len(), 2);
        assert!(runs[0].ends_with("word29,"), "{runs:?}");
        // A short sentence is one run.
        let runs = texts(&plan("Your order shipped today.", false, Lang::En).unwrap());
        assert_eq!(runs, ["Your order shipped today."]);
    }

    #[test]
    fn spoken_chars_count_what_say_as_expands_to() {
        let digits = "7".repeat(100);
        let src = format!(r#"<speak><say-as interpret-as="digits">{digits}</say-as></speak>"#);
        let pieces = plan(&src, true, Lang::En).unwrap();
        assert!(spoken_chars(&pieces) >= 500, "{}", spoken_chars(&pieces));
        assert!(texts(&pieces)
            .iter()
            .all(|r| r.split_whitespace().count() <= MAX_RUN_WORDS));
    }
}

/// Collects text deltas and hands out complete sentences.
#[derive(Debug, Default)]
pub struct SentenceBuffer {
    buf: String,
    ssml: bool,
}

impl SentenceBuffer {
    /// A buffer for plain text, or SSML when `ssml` (`<speak>` tags are
    /// dropped so that sentences can be cut inside them).
    pub fn new(ssml: bool) -> Self {
        Self {
            buf: String::new(),
            ssml,
        }
    }

    /// Characters waiting.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.buf.trim().is_empty()
    }

    /// Adds a delta and returns the sentences it completed.
    pub fn push(&mut self, delta: &str) -> Vec<String> {
        self.buf.push_str(delta);
        if self.ssml {
            self.buf = self.buf.replace("</speak>", "");
            while let Some(start) = self.buf.find("<speak") {
                match self.buf[start..].find('>') {
                    Some(end) => self.buf.replace_range(start..start + end + 1, ""),
                    None => break,
                }
            }
        }
        let mut out = Vec::new();
        while let Some(end) = sentence_end(&self.buf, self.ssml) {
            let sentence: String = self.buf.drain(..end).collect();
            if !sentence.trim().is_empty() {
                out.push(sentence.trim().to_owned());
            }
        }
        out
    }

    /// Whatever is left, at the end of the stream.
    pub fn finish(&mut self) -> Option<String> {
        let rest = std::mem::take(&mut self.buf);
        (!rest.trim().is_empty()).then(|| rest.trim().to_owned())
    }
}
