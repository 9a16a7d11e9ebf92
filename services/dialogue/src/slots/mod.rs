//! Slots by rules: order ids (typed "A1042", "58213", or spoken "A one zero four two" / "a uno
//! zero quattro due"), dates, amounts with currency, sizes, product mentions and colours, in
//! English and Italian. Values are normalised so flows can compare them with CRM records.

use std::sync::OnceLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::text;

mod vocab;

use vocab::{COLOURS, MONTHS, PRODUCTS, RELATIVE};

/// What a slot holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlotKind {
    /// An order id, upper-case ("A1042", "58213").
    OrderId,
    /// A date: ISO `YYYY-MM-DD` when complete, else a normalised phrase ("monday", "day-6").
    Date,
    /// An amount: "100.00 EUR".
    Amount,
    /// A clothing size: "M", "XL", or a number ("42").
    Size,
    /// A product noun, canonical English ("jacket").
    Product,
    /// A colour, canonical English ("navy").
    Colour,
}

impl SlotKind {
    /// snake_case name, used as the key in the proto's slot map.
    pub fn as_str(self) -> &'static str {
        match self {
            SlotKind::OrderId => "order_id",
            SlotKind::Date => "date",
            SlotKind::Amount => "amount",
            SlotKind::Size => "size",
            SlotKind::Product => "product",
            SlotKind::Colour => "colour",
        }
    }
}

/// One extracted value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    /// Kind of value.
    pub kind: SlotKind,
    /// Normalised value.
    pub value: String,
}

fn re(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pattern).unwrap_or_else(|e| panic!("bad slot pattern: {e}")))
}

/// Extracts every slot found in `raw` (deduplicated, in order of kind then position).
pub fn extract(raw: &str) -> Vec<Slot> {
    let folded = text::fold(raw);
    let mut out = Vec::new();
    for value in order_ids(&folded) {
        push(&mut out, SlotKind::OrderId, value);
    }
    for value in dates(&folded) {
        push(&mut out, SlotKind::Date, value);
    }
    for value in amounts(&folded) {
        push(&mut out, SlotKind::Amount, value);
    }
    for value in sizes(raw, &folded) {
        push(&mut out, SlotKind::Size, value);
    }
    let words = text::words(&folded);
    for w in &words {
        if let Some(p) = lookup(PRODUCTS, w) {
            push(&mut out, SlotKind::Product, p.to_owned());
        }
        if let Some(c) = lookup(COLOURS, w) {
            push(&mut out, SlotKind::Colour, c.to_owned());
        }
    }
    out
}

fn push(out: &mut Vec<Slot>, kind: SlotKind, value: String) {
    if !out.iter().any(|s| s.kind == kind && s.value == value) {
        out.push(Slot { kind, value });
    }
}

fn lookup(table: &[(&str, &'static str)], word: &str) -> Option<&'static str> {
    table.iter().find(|(w, _)| *w == word).map(|(_, c)| *c)
}

fn digit_word(w: &str) -> Option<char> {
    Some(match w {
        "zero" | "oh" | "o" => '0',
        "one" | "uno" | "un" => '1',
        "two" | "due" => '2',
        "three" | "tre" => '3',
        "four" | "quattro" => '4',
        "five" | "cinque" => '5',
        "six" | "sei" => '6',
        "seven" | "sette" => '7',
        "eight" | "otto" => '8',
        "nine" | "nove" => '9',
        d if d.len() == 1 && d.as_bytes()[0].is_ascii_digit() => d.chars().next()?,
        _ => return None,
    })
}

fn order_ids(folded: &str) -> Vec<String> {
    static TYPED: OnceLock<Regex> = OnceLock::new();
    static NUMERIC: OnceLock<Regex> = OnceLock::new();
    let mut out = Vec::new();
    for c in re(&TYPED, r"\b([a-z]{1,2})[- ]?(\d{4,7})\b").captures_iter(folded) {
        out.push(format!("{}{}", c[1].to_uppercase(), &c[2]));
    }
    // A bare 5–7 digit number, not an amount, a year or part of a longer number.
    for m in re(
        &NUMERIC,
        r"(?:^|[^\w.,])(\d{5,7})\b(?:\s*(?:€|\$|£|eur|euro|usd|gbp|dollar|pound))?",
    )
    .captures_iter(folded)
    {
        let whole = m.get(0).map(|x| x.as_str()).unwrap_or("");
        let digits = &m[1];
        if !whole.trim_end().ends_with(|c: char| !c.is_ascii_digit())
            && !out.iter().any(|o: &String| o.ends_with(digits))
        {
            out.push(digits.to_owned());
        }
    }
    // Spoken: an optional single letter then four or more digit words ("double five" counts twice).
    let words = text::words(folded);
    let mut i = 0;
    while i < words.len() {
        let letter = (words[i].len() == 1 && words[i].as_bytes()[0].is_ascii_alphabetic())
            .then(|| words[i].to_uppercase());
        let start = if letter.is_some() { i + 1 } else { i };
        let (digits, used) = spoken_digits(&words[start.min(words.len())..]);
        if digits.len() >= 4 {
            let id = format!("{}{digits}", letter.unwrap_or_default());
            if !out.contains(&id) {
                out.push(id);
            }
            i = start + used.max(1);
        } else {
            i += 1;
        }
    }
    out
}

/// Leading digit words of `words` as digits, and how many words they took.
fn spoken_digits(words: &[&str]) -> (String, usize) {
    let (mut out, mut used, mut repeat) = (String::new(), 0, 1);
    for w in words {
        match *w {
            "double" | "doppio" => repeat = 2,
            "triple" | "triplo" => repeat = 3,
            _ => match digit_word(w) {
                Some(d) => (0..repeat).for_each(|_| out.push(d)),
                None => break,
            },
        }
        if !matches!(*w, "double" | "doppio" | "triple" | "triplo") {
            repeat = 1;
        }
        used += 1;
    }
    (out, used)
}

fn dates(folded: &str) -> Vec<String> {
    static ISO: OnceLock<Regex> = OnceLock::new();
    static NUMERIC: OnceLock<Regex> = OnceLock::new();
    static DAY_MONTH: OnceLock<Regex> = OnceLock::new();
    static ORDINAL: OnceLock<Regex> = OnceLock::new();
    let mut out = Vec::new();
    for c in re(&ISO, r"\b(\d{4})-(\d{2})-(\d{2})\b").captures_iter(folded) {
        out.push(format!("{}-{}-{}", &c[1], &c[2], &c[3]));
    }
    for c in re(&NUMERIC, r"\b(\d{1,2})/(\d{1,2})(?:/(\d{2,4}))?\b").captures_iter(folded) {
        let (d, m) = (
            c[1].parse::<u32>().unwrap_or(0),
            c[2].parse::<u32>().unwrap_or(0),
        );
        if (1..=31).contains(&d) && (1..=12).contains(&m) {
            out.push(match c.get(3) {
                Some(y) if y.as_str().len() == 4 => format!("{}-{m:02}-{d:02}", y.as_str()),
                Some(y) => format!("20{}-{m:02}-{d:02}", y.as_str()),
                None => format!("--{m:02}-{d:02}"),
            });
        }
    }
    let month_names = MONTHS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join("|");
    let dm = re(
        &DAY_MONTH,
        &format!(
            r"\b(?:(\d{{1,2}})(?:st|nd|rd|th)?(?: of)? ({month_names})|({month_names}) (\d{{1,2}})(?:st|nd|rd|th)?)\b"
        ),
    );
    for c in dm.captures_iter(folded) {
        let (day, month) = match (c.get(1), c.get(2), c.get(3), c.get(4)) {
            (Some(d), Some(m), _, _) | (_, _, Some(m), Some(d)) => (d.as_str(), m.as_str()),
            _ => continue,
        };
        let m = MONTHS
            .iter()
            .find(|(n, _)| *n == month)
            .map(|(_, m)| *m)
            .unwrap_or(0);
        if let Ok(d) = day.parse::<u32>() {
            if (1..=31).contains(&d) {
                out.push(format!("--{m:02}-{d:02}"));
            }
        }
    }
    if out.is_empty() {
        for c in re(
            &ORDINAL,
            r"\b(?:the|il|l|on the) (\d{1,2})(?:st|nd|rd|th)?\b",
        )
        .captures_iter(folded)
        {
            if let Ok(d) = c[1].parse::<u32>() {
                if (1..=31).contains(&d)
                    && (c[0].contains("the") || c[0].ends_with(|ch: char| ch.is_ascii_digit()))
                {
                    out.push(format!("day-{d}"));
                }
            }
        }
    }
    for (phrase, value) in RELATIVE {
        if contains_phrase(folded, phrase) {
            out.push((*value).to_owned());
        }
    }
    out
}

fn contains_phrase(folded: &str, phrase: &str) -> bool {
    folded.match_indices(phrase).any(|(i, _)| {
        let before = folded[..i]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric());
        let after = folded[i + phrase.len()..]
            .chars()
            .next()
            .is_none_or(|c| !c.is_alphanumeric());
        before && after
    })
}

fn amounts(folded: &str) -> Vec<String> {
    static PREFIX: OnceLock<Regex> = OnceLock::new();
    static SUFFIX: OnceLock<Regex> = OnceLock::new();
    let mut out = Vec::new();
    let currency = |s: &str| match s {
        "€" | "eur" | "euro" | "euros" => "EUR",
        "$" | "usd" | "dollar" | "dollars" => "USD",
        _ => "GBP",
    };
    let number = |s: &str| -> Option<String> {
        let n: f64 = s.replace(',', ".").parse().ok()?;
        Some(format!("{n:.2}"))
    };
    for c in re(&PREFIX, r"(€|\$|£)\s?(\d+(?:[.,]\d{1,2})?)").captures_iter(folded) {
        if let Some(n) = number(&c[2]) {
            out.push(format!("{n} {}", currency(&c[1])));
        }
    }
    for c in re(&SUFFIX, r"\b(\d+(?:[.,]\d{1,2})?)\s?(€|\$|£|eur|euro|euros|usd|dollars?|pounds?|gbp|sterline|sterlina)(?:\W|$)").captures_iter(folded) {
        if let Some(n) = number(&c[1]) {
            out.push(format!("{n} {}", currency(&c[2])));
        }
    }
    out
}

fn sizes(raw: &str, folded: &str) -> Vec<String> {
    static LETTER: OnceLock<Regex> = OnceLock::new();
    static CONTEXT: OnceLock<Regex> = OnceLock::new();
    static WORDS: OnceLock<Regex> = OnceLock::new();
    let mut out = Vec::new();
    // Capital letter sizes as written ("M", "XL"), but not "L'ordine" or "I'M".
    for c in re(
        &LETTER,
        r"(?:^|[^\w'])(XXS|XS|S|M|L|XL|XXL|XXXL)(?:$|[^\w'])",
    )
    .captures_iter(raw)
    {
        out.push(c[1].to_owned());
    }
    for c in re(
        &CONTEXT,
        r"\b(?:size|taglia|misura|numero|a|an|the|la|una|in) (xxs|xs|s|m|l|xl|xxl|xxxl|\d{2})\b",
    )
    .captures_iter(folded)
    {
        let v = c[1].to_uppercase();
        let sized = c[0].starts_with("size")
            || c[0].starts_with("taglia")
            || c[0].starts_with("misura")
            || c[0].starts_with("numero");
        if (v.chars().all(|ch| ch.is_ascii_alphabetic()) || sized) && !out.contains(&v) {
            out.push(v);
        }
    }
    for c in re(
        &WORDS,
        r"\b(extra small|extra large|small|medium|large|piccola|media|grande|extra large)\b",
    )
    .captures_iter(folded)
    {
        let v = match &c[1] {
            "extra small" => "XS",
            "small" | "piccola" => "S",
            "medium" | "media" => "M",
            "large" | "grande" => "L",
            _ => "XL",
        };
        // "grande" and "large" are only sizes after "taglia"/"size" or in "in large".
        let ctx = &folded[..c.get(0).map(|m| m.start()).unwrap_or(0)];
        let near = ctx.trim_end().ends_with("taglia")
            || ctx.trim_end().ends_with("size")
            || ctx.trim_end().ends_with(" in")
            || ctx.trim_end().ends_with(" a")
            || ctx.trim_end().ends_with(" la")
            || ctx.trim_end().ends_with(" una");
        if (matches!(v, "M" | "XL" | "XS") && &c[1] != "media" || near)
            && !out.iter().any(|o| o == v)
        {
            out.push(v.to_owned());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(text: &str, kind: SlotKind) -> Vec<String> {
        extract(text)
            .into_iter()
            .filter(|s| s.kind == kind)
            .map(|s| s.value)
            .collect()
    }

    #[test]
    fn order_ids_typed_and_spoken() {
        assert_eq!(
            values("Where is my order A1042?", SlotKind::OrderId),
            ["A1042"]
        );
        assert_eq!(
            values("l'ordine 58213 quando arriva", SlotKind::OrderId),
            ["58213"]
        );
        assert_eq!(
            values("it's A one zero four two", SlotKind::OrderId),
            ["A1042"]
        );
        assert_eq!(
            values("ordine d cinque cinque tre uno", SlotKind::OrderId),
            ["D5531"]
        );
        assert!(values("I paid 100 euro", SlotKind::OrderId).is_empty());
    }

    #[test]
    fn dates_amounts_sizes() {
        assert_eq!(
            values("it was due on 2026-11-06", SlotKind::Date),
            ["2026-11-06"]
        );
        assert_eq!(
            values("supposed to be here on the 6th", SlotKind::Date),
            ["day-6"]
        );
        assert_eq!(values("arriva il 6 novembre", SlotKind::Date), ["--11-06"]);
        assert!(values("doveva arrivare lunedì", SlotKind::Date).contains(&"monday".to_owned()));
        assert_eq!(
            values("a refund of 100 euro", SlotKind::Amount),
            ["100.00 EUR"]
        );
        assert_eq!(
            values("charged €49,90 twice", SlotKind::Amount),
            ["49.90 EUR"]
        );
        assert_eq!(
            values("swap it for the parka in medium", SlotKind::Size),
            ["M"]
        );
        assert_eq!(values("tra la M e la L", SlotKind::Size), ["M", "L"]);
        assert_eq!(values("vorrei la taglia xl", SlotKind::Size), ["XL"]);
        assert!(values("I'm fine. L'ordine?", SlotKind::Size).is_empty());
        assert_eq!(values("the blue jacket", SlotKind::Product), ["jacket"]);
        assert_eq!(
            values("avevo ordinato nero non blu", SlotKind::Colour),
            ["black", "blue"]
        );
    }
}
