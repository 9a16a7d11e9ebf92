//! Language-aware text shared by the services: numbers, money, codes and dates as people read
//! and write them in English and Italian, and the words that answer a question. Speech
//! synthesis reads with it, replies write dates with it, the speech-recognition tests normalise
//! with it, and the recognizer and the call gateway hear answers with it (the recognizer also hears with
//! it whether a caller has finished speaking), so all agree on one wording.

pub mod answers;
pub mod dates;
pub mod numbers;
pub mod turn_words;

/// A language whose reading rules Parla knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    /// English.
    En,
    /// Italian.
    It,
}

impl Lang {
    /// The rules for a BCP-47 tag; languages without rules read like English.
    pub fn from_tag(tag: &str) -> Self {
        if tag.trim().to_ascii_lowercase().starts_with("it") {
            Lang::It
        } else {
            Lang::En
        }
    }

    /// The one of two texts written in this language.
    pub fn pick<'a>(self, en: &'a str, it: &'a str) -> &'a str {
        match self {
            Lang::En => en,
            Lang::It => it,
        }
    }
}
