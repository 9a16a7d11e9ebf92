//! Turning generated tokens into text deltas: incomplete UTF-8 sequences and anything that may
//! be the start of a stop sequence are held back until they resolve.

/// Accumulates decoded text and decides what can be emitted.
pub(crate) struct TextAssembler {
    text: String,
    emitted: usize,
    stops: Vec<String>,
}

/// What happened after a piece of text was pushed.
pub(crate) enum Pushed {
    /// Text safe to emit now (may be empty).
    Emit(String),
    /// A stop sequence appeared; the text before it that was not emitted yet.
    Stopped(String),
}

impl TextAssembler {
    pub(crate) fn new(stops: Vec<String>) -> Self {
        Self {
            text: String::new(),
            emitted: 0,
            stops,
        }
    }

    /// Adds decoded text of complete characters.
    pub(crate) fn push(&mut self, piece: &str) -> Pushed {
        let search_from = self
            .emitted
            .saturating_sub(self.stops.iter().map(String::len).max().unwrap_or(0));
        self.text.push_str(piece);
        let found = self
            .stops
            .iter()
            .filter_map(|s| {
                self.text[floor(&self.text, search_from)..]
                    .find(s.as_str())
                    .map(|p| p + floor(&self.text, search_from))
            })
            .min();
        if let Some(at) = found {
            let out = self.text[self.emitted.min(at)..at].to_owned();
            self.text.truncate(at);
            self.emitted = at;
            return Pushed::Stopped(out);
        }
        // Hold back the longest tail that is a prefix of a stop sequence.
        let mut safe = self.text.len();
        for s in &self.stops {
            for k in (1..s.len().min(self.text.len() + 1)).rev() {
                if s.is_char_boundary(k) && self.text.ends_with(&s[..k]) {
                    safe = safe.min(self.text.len() - k);
                    break;
                }
            }
        }
        let safe = floor(&self.text, safe.max(self.emitted));
        let out = self.text[self.emitted..safe].to_owned();
        self.emitted = safe;
        Pushed::Emit(out)
    }

    /// Emits whatever was held back (at the end of generation without a stop).
    pub(crate) fn flush(&mut self) -> String {
        let out = self.text[self.emitted..].to_owned();
        self.emitted = self.text.len();
        out
    }

    /// All text so far (held-back text included, stop sequences excluded).
    pub(crate) fn text(&self) -> &str {
        &self.text
    }
}

fn floor(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_sequence_split_across_pieces() {
        let mut a = TextAssembler::new(vec!["\nUser:".into()]);
        let mut out = String::new();
        for piece in ["Hello", " there", "\nUs", "er:", " more"] {
            match a.push(piece) {
                Pushed::Emit(t) => out.push_str(&t),
                Pushed::Stopped(t) => {
                    out.push_str(&t);
                    break;
                }
            }
        }
        assert_eq!(out, "Hello there");
        assert_eq!(a.text(), "Hello there");
    }

    #[test]
    fn held_back_prefix_is_released() {
        let mut a = TextAssembler::new(vec!["END".into()]);
        let Pushed::Emit(t) = a.push("abc E") else {
            panic!()
        };
        assert_eq!(t, "abc ");
        let Pushed::Emit(t) = a.push("xit") else {
            panic!()
        };
        assert_eq!(t, "Exit");
        assert_eq!(a.flush(), "");
    }
}
