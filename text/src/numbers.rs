//! Reading numbers, money, phone numbers and codes aloud in English
//! and Italian: the words a person would say, so both engines read them the
//! same way.

use crate::Lang;

const EN_ONES: [&str; 20] = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
];
const EN_TENS: [&str; 10] = [
    "", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
];
const IT_ONES: [&str; 20] = [
    "zero",
    "uno",
    "due",
    "tre",
    "quattro",
    "cinque",
    "sei",
    "sette",
    "otto",
    "nove",
    "dieci",
    "undici",
    "dodici",
    "tredici",
    "quattordici",
    "quindici",
    "sedici",
    "diciassette",
    "diciotto",
    "diciannove",
];
const IT_TENS: [&str; 10] = [
    "",
    "",
    "venti",
    "trenta",
    "quaranta",
    "cinquanta",
    "sessanta",
    "settanta",
    "ottanta",
    "novanta",
];

fn en_below_1000(n: u64) -> String {
    let mut parts = Vec::new();
    if n >= 100 {
        parts.push(format!("{} hundred", EN_ONES[(n / 100) as usize]));
    }
    let r = n % 100;
    if r > 0 || n == 0 {
        if r < 20 {
            parts.push(EN_ONES[r as usize].to_owned());
        } else if r.is_multiple_of(10) {
            parts.push(EN_TENS[(r / 10) as usize].to_owned());
        } else {
            parts.push(format!(
                "{}-{}",
                EN_TENS[(r / 10) as usize],
                EN_ONES[(r % 10) as usize]
            ));
        }
    }
    parts.join(" ")
}

fn it_below_1000(n: u64) -> String {
    let mut s = String::new();
    let h = n / 100;
    if h == 1 {
        s.push_str("cento");
    } else if h > 1 {
        s.push_str(IT_ONES[h as usize]);
        s.push_str("cento");
    }
    let r = n % 100;
    let tail = if r < 20 {
        if r == 0 && n != 0 {
            String::new()
        } else {
            IT_ONES[r as usize].to_owned()
        }
    } else {
        let mut t = IT_TENS[(r / 10) as usize].to_owned();
        let u = r % 10;
        if u == 1 || u == 8 {
            t.pop(); // ventuno, ventotto
        }
        if u > 0 {
            t.push_str(if u == 3 { "tré" } else { IT_ONES[u as usize] });
        }
        t
    };
    // centootto -> centotto
    if h > 0 && tail.starts_with('o') && r / 10 == 8 {
        s.pop();
    }
    s + &tail
}

/// A whole number in words.
pub fn cardinal(n: u64, lang: Lang) -> String {
    match lang {
        Lang::En => {
            if n < 1000 {
                return en_below_1000(n);
            }
            let scales = [
                (1_000_000_000_000, "trillion"),
                (1_000_000_000, "billion"),
                (1_000_000, "million"),
                (1000, "thousand"),
            ];
            let mut parts = Vec::new();
            let mut rest = n;
            for (size, word) in scales {
                if rest >= size {
                    parts.push(format!("{} {word}", cardinal(rest / size, lang)));
                    rest %= size;
                }
            }
            if rest > 0 {
                parts.push(en_below_1000(rest));
            }
            parts.join(" ")
        }
        Lang::It => {
            if n < 1000 {
                return it_below_1000(n);
            }
            let mut out = String::new();
            let mut rest = n;
            for (size, one, many) in [
                (1_000_000_000u64, "un miliardo ", " miliardi "),
                (1_000_000, "un milione ", " milioni "),
            ] {
                if rest >= size {
                    let q = rest / size;
                    if q == 1 {
                        out.push_str(one);
                    } else {
                        out.push_str(&cardinal(q, lang));
                        out.push_str(many);
                    }
                    rest %= size;
                }
            }
            if rest >= 1000 {
                let q = rest / 1000;
                if q == 1 {
                    out.push_str("mille");
                } else {
                    out.push_str(&it_below_1000(q));
                    out.push_str("mila");
                }
                rest %= 1000;
            }
            if rest > 0 {
                out.push_str(&it_below_1000(rest));
            }
            out.trim().to_owned()
        }
    }
}

/// An English ordinal in words ("fifth", "twenty-first").
pub fn en_ordinal(n: u64) -> String {
    let words = cardinal(n, Lang::En);
    let (head, last) = match words.rfind([' ', '-']) {
        Some(i) => (&words[..=i], &words[i + 1..]),
        None => ("", words.as_str()),
    };
    let last = match last {
        "one" => "first".to_owned(),
        "two" => "second".to_owned(),
        "three" => "third".to_owned(),
        "five" => "fifth".to_owned(),
        "eight" => "eighth".to_owned(),
        "nine" => "ninth".to_owned(),
        "twelve" => "twelfth".to_owned(),
        w if w.ends_with('y') => format!("{}ieth", &w[..w.len() - 1]),
        w => format!("{w}th"),
    };
    format!("{head}{last}")
}

/// Each digit as a word, in groups separated by commas (short pauses).
pub fn digits(s: &str, lang: Lang) -> String {
    let words: Vec<&str> = s
        .chars()
        .filter_map(|c| c.to_digit(10))
        .map(|d| {
            if lang == Lang::En {
                EN_ONES[d as usize]
            } else {
                IT_ONES[d as usize]
            }
        })
        .collect();
    words.join(" ")
}

const EN_LETTERS: [&str; 26] = [
    "ay",
    "bee",
    "see",
    "dee",
    "ee",
    "eff",
    "gee",
    "aitch",
    "eye",
    "jay",
    "kay",
    "el",
    "em",
    "en",
    "oh",
    "pee",
    "cue",
    "ar",
    "ess",
    "tee",
    "you",
    "vee",
    "double you",
    "ex",
    "why",
    "zed",
];
const IT_LETTERS: [&str; 26] = [
    "a",
    "bi",
    "ci",
    "di",
    "e",
    "effe",
    "gi",
    "acca",
    "i",
    "i lunga",
    "cappa",
    "elle",
    "emme",
    "enne",
    "o",
    "pi",
    "cu",
    "erre",
    "esse",
    "ti",
    "u",
    "vu",
    "doppia vu",
    "ics",
    "ipsilon",
    "zeta",
];

/// A code read one character at a time (order ids, postcodes): letters by
/// name, digits as words, groups (as written, and runs of more than five in
/// fours) separated by commas.
pub fn characters(s: &str, lang: Lang) -> String {
    let mut groups: Vec<Vec<&str>> = vec![Vec::new()];
    for c in s.chars() {
        if let Some(d) = c.to_digit(10) {
            if let Some(g) = groups.last_mut() {
                g.push(if lang == Lang::En {
                    EN_ONES[d as usize]
                } else {
                    IT_ONES[d as usize]
                });
            }
        } else if c.is_ascii_alphabetic() {
            let i = (c.to_ascii_lowercase() as u8 - b'a') as usize;
            if let Some(g) = groups.last_mut() {
                g.push(if lang == Lang::En {
                    EN_LETTERS[i]
                } else {
                    IT_LETTERS[i]
                });
            }
        } else if !groups.last().is_some_and(Vec::is_empty) {
            groups.push(Vec::new());
        }
    }
    // A long run ("3F9A0C12" of a return number) is read in fours, as a person spells a code
    // on the phone, so the listener can write it down; "A1042" stays one group.
    groups
        .iter()
        .filter(|g| !g.is_empty())
        .flat_map(|g| {
            let size = if g.len() > 5 { 4 } else { g.len() };
            g.chunks(size).map(|c| c.join(" ")).collect::<Vec<_>>()
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A phone number: "plus" for a leading `+`, then digit groups as written,
/// separated by commas.
pub fn telephone(s: &str, lang: Lang) -> String {
    let mut parts = Vec::new();
    if s.trim_start().starts_with('+') {
        parts.push(if lang == Lang::En {
            "plus".to_owned()
        } else {
            "più".to_owned()
        });
    }
    for group in s
        .split(|c: char| !c.is_ascii_digit())
        .filter(|g| !g.is_empty())
    {
        parts.push(digits(group, lang));
    }
    parts.join(", ")
}

/// An amount of money: `€49.90`, `49,90 €`, `$12`, `EUR 5`.
/// Returns `None` when `s` is not one.
pub fn currency(s: &str, lang: Lang) -> Option<String> {
    let t = s.trim();
    let symbols = [
        ("€", "EUR"),
        ("EUR", "EUR"),
        ("$", "USD"),
        ("USD", "USD"),
        ("£", "GBP"),
        ("GBP", "GBP"),
    ];
    let (code, amount) = symbols.iter().find_map(|(sym, code)| {
        t.strip_prefix(sym)
            .or_else(|| t.strip_suffix(sym))
            .map(|rest| (*code, rest.trim()))
    })?;
    let (whole, cents) = split_amount(amount)?;
    let (one, many, cent_one, cent_many) = match (lang, code) {
        (Lang::En, "EUR") => ("euro", "euros", "cent", "cents"),
        (Lang::En, "USD") => ("dollar", "dollars", "cent", "cents"),
        (Lang::En, _) => ("pound", "pounds", "penny", "pence"),
        (Lang::It, "EUR") => ("euro", "euro", "centesimo", "centesimi"),
        (Lang::It, "USD") => ("dollaro", "dollari", "centesimo", "centesimi"),
        (Lang::It, _) => ("sterlina", "sterline", "penny", "pence"),
    };
    let unit = if whole == 1 { one } else { many };
    let whole_words = if lang == Lang::It && whole == 1 {
        if code == "GBP" {
            "una".to_owned()
        } else {
            "un".to_owned()
        }
    } else {
        cardinal(whole, lang)
    };
    Some(match (whole, cents) {
        (_, 0) => format!("{whole_words} {unit}"),
        (0, c) => format!(
            "{} {}",
            cardinal(c, lang),
            if c == 1 { cent_one } else { cent_many }
        ),
        // "forty-nine euros ninety" / "quarantanove euro e novanta"
        (_, c) if lang == Lang::En => format!("{whole_words} {unit} {}", cardinal(c, lang)),
        (_, c) => format!("{whole_words} {unit} e {}", cardinal(c, lang)),
    })
}

/// Whole and hundredths of an amount written with `.` or `,` decimals and
/// optional thousands separators.
fn split_amount(a: &str) -> Option<(u64, u64)> {
    if a.is_empty()
        || !a
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.' || c == ',')
    {
        return None;
    }
    let last_sep = a.rfind(['.', ',']);
    let (int_part, frac) = match last_sep {
        Some(i) if a.len() - i - 1 <= 2 => (&a[..i], &a[i + 1..]),
        _ => (a, ""),
    };
    let whole: String = int_part.chars().filter(char::is_ascii_digit).collect();
    let whole = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let cents = match frac.len() {
        0 => 0,
        1 => frac.parse::<u64>().ok()? * 10,
        _ => frac.parse().ok()?,
    };
    Some((whole, cents))
}
/// Expands amounts of money in running text ("€49.90", "12,50 €") into
/// words; the engines' own readings of other numbers are kept.
pub fn expand_currency(text: &str, lang: Lang) -> String {
    let mut out = Vec::new();
    let tokens: Vec<&str> = text.split(' ').collect();
    let mut i = 0;
    while i < tokens.len() {
        let tok = tokens[i];
        let trimmed = tok.trim_end_matches(['.', ',', ';', ':', '!', '?']);
        let trail = &tok[trimmed.len()..];
        // "49,90 €" / "49.90 EUR": amount and symbol as two tokens.
        if let Some(next) = tokens.get(i + 1) {
            let next_t = next.trim_end_matches(['.', ',', ';', ':', '!', '?']);
            if matches!(next_t, "€" | "EUR" | "$" | "USD" | "£" | "GBP")
                && trimmed.starts_with(|c: char| c.is_ascii_digit())
            {
                if let Some(words) = currency(&format!("{trimmed}{next_t}"), lang) {
                    out.push(format!("{words}{}", &next[next_t.len()..]));
                    i += 2;
                    continue;
                }
            }
        }
        match currency(trimmed, lang) {
            Some(words) if trimmed.chars().any(|c| c.is_ascii_digit()) => {
                out.push(format!("{words}{trail}"))
            }
            _ => out.push(tok.to_owned()),
        }
        i += 1;
    }
    out.join(" ")
}

/// Temperatures as they are said: "-3 °C" / "5°C" → "-3 degrees" / "5
/// degrees" ("gradi" in Italian), and Fahrenheit named; an engine left to
/// itself reads "°C" as "degrees C".
pub fn expand_units(text: &str, lang: Lang) -> String {
    let (celsius, fahrenheit) = match lang {
        Lang::It => ("gradi", "gradi Fahrenheit"),
        _ => ("degrees", "degrees Fahrenheit"),
    };
    let mut out = String::with_capacity(text.len() + 16);
    let mut rest = text;
    while let Some(at) = rest.find('°') {
        let after = &rest[at + '°'.len_utf8()..];
        let (words, skip) = match after.chars().next() {
            Some('C') => (celsius, 1),
            Some('F') => (fahrenheit, 1),
            _ => (celsius, 0),
        };
        // Only a unit if no letter follows ("°Celsius" is left alone).
        let unit_end = after[skip..]
            .chars()
            .next()
            .is_none_or(|c| !c.is_alphabetic());
        let before = rest[..at].trim_end();
        let after_number = before.ends_with(|c: char| c.is_ascii_digit());
        if unit_end && after_number {
            out.push_str(before);
            out.push(' ');
            out.push_str(words);
            rest = &after[skip..];
        } else {
            out.push_str(&rest[..at + '°'.len_utf8()]);
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// What the engines are given for plain text: amounts of money and units
/// in words ([`expand_currency`], [`expand_units`]).
pub fn expand_for_speech(text: &str, lang: Lang) -> String {
    expand_units(&expand_currency(text, lang), lang)
}

const EN_ORDINALS: [&str; 13] = [
    "", "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth",
    "tenth", "eleventh", "twelfth",
];

/// The value of one cardinal word below a hundred — a unit ("seven", "sette") or a ten
/// ("forty", "quaranta") — the inverse of [`cardinal`] for single words. `None` otherwise.
pub fn cardinal_word(word: &str, lang: Lang) -> Option<u64> {
    let (ones, tens) = match lang {
        Lang::En => (&EN_ONES, &EN_TENS),
        Lang::It => (&IT_ONES, &IT_TENS),
    };
    if let Some(i) = ones.iter().position(|w| *w == word) {
        return Some(i as u64);
    }
    tens.iter()
        .position(|w| !w.is_empty() && *w == word)
        .map(|i| 10 * i as u64)
}

/// Like [`cardinal_word`], and in English also the ordinals up to "twelfth" (as in dates
/// read aloud: "March fifth").
pub fn word_value(word: &str, lang: Lang) -> Option<u64> {
    cardinal_word(word, lang).or_else(|| match lang {
        Lang::En => EN_ORDINALS
            .iter()
            .position(|w| !w.is_empty() && *w == word)
            .map(|i| i as u64),
        Lang::It => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_values_invert_cardinals() {
        for lang in [Lang::En, Lang::It] {
            for n in (0..20).chain((20..100).step_by(10)) {
                assert_eq!(
                    word_value(&cardinal(n, lang), lang),
                    Some(n),
                    "{n} {lang:?}"
                );
            }
        }
        assert_eq!(word_value("twelfth", Lang::En), Some(12));
        assert_eq!(word_value("oh", Lang::En), None);
        assert_eq!(word_value("hundred", Lang::En), None);
        assert_eq!(cardinal_word("twelfth", Lang::En), None);
    }

    #[test]
    fn temperatures_are_said_in_degrees() {
        assert_eq!(
            expand_units("between -3 and 4 °C, rated to -10°C.", Lang::En),
            "between -3 and 4 degrees, rated to -10 degrees."
        );
        assert_eq!(expand_units("da 2 a 9 °C", Lang::It), "da 2 a 9 gradi");
        assert_eq!(
            expand_units("about 40 °F", Lang::En),
            "about 40 degrees Fahrenheit"
        );
        // Not a temperature: left as written.
        assert_eq!(expand_units("angle ° here", Lang::En), "angle ° here");
        assert_eq!(expand_units("5 °Celsius", Lang::En), "5 °Celsius");
        assert_eq!(
            expand_for_speech("It's 12 °C and costs €49.90.", Lang::En),
            "It's 12 degrees and costs forty-nine euros ninety."
        );
    }

    #[test]
    fn a_long_code_is_read_in_groups_of_four() {
        assert_eq!(
            characters("RMA-3F9A0C12", Lang::En),
            "ar em ay, three eff nine ay, zero see one two"
        );
        assert_eq!(characters("A1042", Lang::En), "ay one zero four two");
    }
}
