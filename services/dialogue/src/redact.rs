//! Redaction of personal data before any text reaches a language model or a log: payment card
//! numbers (Luhn-checked), IBANs (mod-97-checked), e-mail addresses, phone numbers and national
//! ids (Italian codice fiscale, UK National Insurance, US SSN) become placeholders.

use std::sync::OnceLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

/// What was redacted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PiiKind {
    /// A payment card number.
    Card,
    /// A bank account number.
    Iban,
    /// An e-mail address.
    Email,
    /// A phone number.
    Phone,
    /// A national identity or tax number.
    NationalId,
}

impl PiiKind {
    /// The placeholder that replaces a value of this kind.
    pub fn placeholder(self) -> &'static str {
        match self {
            PiiKind::Card => "[CARD]",
            PiiKind::Iban => "[IBAN]",
            PiiKind::Email => "[EMAIL]",
            PiiKind::Phone => "[PHONE]",
            PiiKind::NationalId => "[NATIONAL_ID]",
        }
    }
}

/// Text with personal data replaced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redacted {
    /// The safe text.
    pub text: String,
    /// Kinds found, in order of appearance in the output.
    pub found: Vec<PiiKind>,
}

fn re(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
    cell.get_or_init(|| {
        Regex::new(pattern).unwrap_or_else(|e| panic!("bad redaction pattern: {e}"))
    })
}

/// Replaces personal data in `text` with placeholders.
pub fn redact(text: &str) -> Redacted {
    static EMAIL: OnceLock<Regex> = OnceLock::new();
    static IBAN: OnceLock<Regex> = OnceLock::new();
    static CARD: OnceLock<Regex> = OnceLock::new();
    static CF: OnceLock<Regex> = OnceLock::new();
    static NINO: OnceLock<Regex> = OnceLock::new();
    static SSN: OnceLock<Regex> = OnceLock::new();
    static PHONE: OnceLock<Regex> = OnceLock::new();
    let mut found = Vec::new();
    let mut out = text.to_owned();
    let mut pass =
        |out: &mut String, regex: &Regex, kind: PiiKind, check: &dyn Fn(&str) -> bool| {
            let mut result = String::with_capacity(out.len());
            let mut last = 0;
            for m in regex.find_iter(out) {
                if check(m.as_str()) {
                    result.push_str(&out[last..m.start()]);
                    result.push_str(kind.placeholder());
                    found.push(kind);
                    last = m.end();
                }
            }
            result.push_str(&out[last..]);
            *out = result;
        };
    pass(
        &mut out,
        re(&EMAIL, r"(?i)\b[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}\b"),
        PiiKind::Email,
        &|_| true,
    );
    pass(
        &mut out,
        re(&IBAN, r"(?i)\b[a-z]{2}\d{2}(?:[ -]?[a-z0-9]){11,30}\b"),
        PiiKind::Iban,
        &iban_valid,
    );
    pass(
        &mut out,
        re(&CARD, r"\b\d(?:[ -]?\d){12,18}\b"),
        PiiKind::Card,
        &luhn_valid,
    );
    pass(
        &mut out,
        re(
            &CF,
            r"(?i)\b[a-z]{6}\d{2}[abcdehlmprst]\d{2}[a-z]\d{3}[a-z]\b",
        ),
        PiiKind::NationalId,
        &codice_fiscale_valid,
    );
    pass(
        &mut out,
        re(
            &NINO,
            r"(?i)\b[a-ceghj-pr-tw-z]{2} ?\d{2} ?\d{2} ?\d{2} ?[a-d]\b",
        ),
        PiiKind::NationalId,
        &|_| true,
    );
    pass(
        &mut out,
        re(&SSN, r"\b\d{3}-\d{2}-\d{4}\b"),
        PiiKind::NationalId,
        &|_| true,
    );
    // International (+39 ..., 0044 ...) or a national number of nine or more digits: long
    // enough not to catch order ids (five to seven digits) or amounts.
    pass(
        &mut out,
        re(
            &PHONE,
            r"(?:\+|\b00)\d{1,3}[ .-]?(?:\(?\d+\)?[ .-]?){2,6}\d\b|\b\d(?:[ .-]?\d){8,12}\b",
        ),
        PiiKind::Phone,
        &|s| s.chars().filter(|c| c.is_ascii_digit()).count() >= 8,
    );
    Redacted { text: out, found }
}

/// Luhn checksum of the digits of `s` (13–19 digits).
pub fn luhn_valid(s: &str) -> bool {
    let digits: Vec<u32> = s.chars().filter_map(|c| c.to_digit(10)).collect();
    if !(13..=19).contains(&digits.len()) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                if d * 2 > 9 {
                    d * 2 - 9
                } else {
                    d * 2
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// ISO 13616 mod-97 check of an IBAN (spaces and dashes ignored).
pub fn iban_valid(s: &str) -> bool {
    let compact: String = s
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_uppercase();
    if !(15..=34).contains(&compact.len()) {
        return false;
    }
    let (head, tail) = compact.split_at(4);
    let mut rem: u32 = 0;
    for c in tail.chars().chain(head.chars()) {
        let v = match c.to_digit(36) {
            Some(v) => v,
            None => return false,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

/// The check character of an Italian codice fiscale.
pub fn codice_fiscale_valid(s: &str) -> bool {
    const ODD: [u32; 26] = [
        1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24,
        23,
    ];
    let up: Vec<char> = s.to_ascii_uppercase().chars().collect();
    if up.len() != 16 {
        return false;
    }
    let value = |c: char| -> (u32, u32) {
        // (index for odd positions table, value for even positions)
        if let Some(d) = c.to_digit(10) {
            (d, d)
        } else {
            let i = c as u32 - 'A' as u32;
            (i, i)
        }
    };
    let mut sum = 0;
    for (i, &c) in up[..15].iter().enumerate() {
        let (idx, even) = value(c);
        sum += if i % 2 == 0 {
            ODD[idx as usize % 26]
        } else {
            even
        };
    }
    up[15] as u32 == 'A' as u32 + sum % 26
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_each_kind() {
        let r = redact("card 4111 1111 1111 1111, iban IT60 X054 2811 1010 0000 0123 456, mail me at anna.v@example.it or call +39 333 123 4567");
        assert_eq!(
            r.text,
            "card [CARD], iban [IBAN], mail me at [EMAIL] or call [PHONE]"
        );
        assert_eq!(
            r.found,
            [PiiKind::Email, PiiKind::Iban, PiiKind::Card, PiiKind::Phone]
        );
        let cf = redact("il mio codice fiscale è RSSMRA85T10A562S");
        assert_eq!(cf.text, "il mio codice fiscale è [NATIONAL_ID]");
        assert_eq!(
            redact("NI number AB 12 34 56 C").text,
            "NI number [NATIONAL_ID]"
        );
        assert_eq!(
            redact("call me on 020 7946 0000").text,
            "call me on [PHONE]"
        );
    }

    #[test]
    fn leaves_order_ids_amounts_and_invalid_numbers() {
        for t in [
            "order A1042 and 58213 cost 129.00 EUR",
            "card 4111 1111 1111 1112 is wrong",
            "IT60 X054 2811 1010 0000 0123 457",
            "RSSMRA85T10A562X",
        ] {
            let r = redact(t);
            assert!(
                !r.found.contains(&PiiKind::Card)
                    && !r.found.contains(&PiiKind::Iban)
                    && !r.found.contains(&PiiKind::NationalId),
                "{t}: {r:?}"
            );
        }
        assert_eq!(
            redact("order A1042 and 58213 cost 129.00 EUR").text,
            "order A1042 and 58213 cost 129.00 EUR"
        );
    }
}
