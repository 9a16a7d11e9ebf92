//! A cheap guess of the language of a turn (English or Italian) from function words and
//! accented letters, for turns that arrive without a language or in the other one.

use crate::{text, Language};

const EN: &[&str] = &[
    "the", "my", "is", "i", "you", "to", "and", "it", "of", "a", "for", "in", "what", "where",
    "when", "can", "do", "have", "was", "this", "that", "with", "please", "thanks", "hi", "hello",
    "order", "want", "not", "how", "your", "me", "yes", "no", "we", "are", "be",
];
const IT: &[&str] = &[
    "il",
    "la",
    "lo",
    "le",
    "gli",
    "di",
    "che",
    "e",
    "è",
    "un",
    "una",
    "per",
    "con",
    "non",
    "mi",
    "ho",
    "del",
    "della",
    "dove",
    "quando",
    "come",
    "sono",
    "mio",
    "mia",
    "grazie",
    "ciao",
    "buongiorno",
    "salve",
    "vorrei",
    "voglio",
    "ordine",
    "si",
    "sì",
    "ma",
    "cosa",
    "posso",
    "al",
];

impl Language {
    /// The more likely of English and Italian for `raw`, or `None` when nothing tells them
    /// apart (ids, numbers, names).
    pub fn detect(raw: &str) -> Option<Language> {
        let normalized = text::normalize(raw);
        let (mut en, mut it) = (0i32, 0i32);
        for w in text::words(&normalized) {
            en += EN.contains(&w) as i32;
            it += IT.contains(&w) as i32;
        }
        it += normalized
            .chars()
            .filter(|c| matches!(c, 'à' | 'è' | 'é' | 'ì' | 'ò' | 'ù'))
            .count() as i32;
        match en.cmp(&it) {
            std::cmp::Ordering::Greater => Some(Language::En),
            std::cmp::Ordering::Less => Some(Language::It),
            std::cmp::Ordering::Equal => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_english_from_italian() {
        assert_eq!(Language::detect("Where is my order?"), Some(Language::En));
        assert_eq!(Language::detect("Dov'è il mio ordine?"), Some(Language::It));
        assert_eq!(
            Language::detect("voglio parlare con un operatore"),
            Some(Language::It)
        );
        assert_eq!(Language::detect("A1042"), None);
    }
}
