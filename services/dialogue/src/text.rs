//! Text normalisation shared by every understanding step: Unicode NFKC, lower case, straight
//! apostrophes, and an accent-folded form so that "perche" matches "perché" and typed or
//! transcribed text lands on the same features.

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// Lower-cased NFKC text with typographic quotes straightened and whitespace collapsed.
pub fn normalize(text: &str) -> String {
    let nfkc: String = text.nfkc().collect();
    let mut out = String::with_capacity(nfkc.len());
    let mut space = false;
    for c in nfkc.chars() {
        let c = match c {
            '\u{2018}' | '\u{2019}' | '\u{02BC}' | '`' | '\u{00B4}' => '\'',
            '\u{201C}' | '\u{201D}' => '"',
            c => c,
        };
        if c.is_whitespace() {
            space = !out.is_empty();
            continue;
        }
        if space {
            out.push(' ');
            space = false;
        }
        out.extend(c.to_lowercase());
    }
    out
}

/// [`normalize`]d text without diacritics ("è" → "e").
pub fn fold(text: &str) -> String {
    normalize(text)
        .nfd()
        .filter(|c| !is_combining_mark(*c))
        .collect()
}

/// Words of already normalised text: runs of letters and digits (apostrophes split words, so
/// "dov'è" gives "dov", "è" and "don't" gives "don", "t").
pub fn words(normalized: &str) -> Vec<&str> {
    normalized
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_accents_and_quotes() {
        assert_eq!(fold("Perché  l\u{2019}ordine È"), "perche l'ordine e");
        assert_eq!(words("dov'è il pacco?"), vec!["dov", "è", "il", "pacco"]);
    }
}
