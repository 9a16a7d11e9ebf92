//! Dates for `<say-as interpret-as="date">`: the numeric forms parla-text
//! reads (`2026-03-05`, `5/3/2026` with a `format`) and the written forms
//! the dialogue manager puts in its replies ("15 November 2026",
//! "15 novembre 2026", "November 15, 2026", "Sunday 15 November", "March
//! 3rd"), all spoken in the listener's language.

use super::{dates, Lang};

const WEEKDAYS: [&str; 14] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "lunedì",
    "martedì",
    "mercoledì",
    "giovedì",
    "venerdì",
    "sabato",
    "domenica",
];

/// Words a written date may carry that are not part of its value.
const FILLERS: [&str; 4] = ["the", "of", "il", "del"];

/// `text` as a date spoken in `lang`, or `None` when it is not a date.
/// `format` ("dmy", "mdy", "ymd", ...) orders the fields of numeric dates.
pub fn spoken_date(text: &str, format: Option<&str>, lang: Lang) -> Option<String> {
    dates::spoken(text, format, lang).or_else(|| written(text, lang))
}

/// A date written with its month's name, in English or Italian, any field
/// order: a month name, a day (1-31, optionally an ordinal: "3rd", "1º")
/// and optionally a four-digit year; weekday names are skipped.
fn written(text: &str, lang: Lang) -> Option<String> {
    let (mut year, mut month, mut day) = (None, None, None);
    let words = text
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty());
    for word in words {
        let lower = word.trim_end_matches('.').to_lowercase();
        if WEEKDAYS.contains(&lower.as_str()) || FILLERS.contains(&lower.as_str()) {
            continue;
        }
        if let Some(m) = dates::month_number(&lower) {
            if month.replace(m).is_some() {
                return None;
            }
            continue;
        }
        let digits = ordinal_digits(&lower)?;
        let value: u32 = digits.parse().ok()?;
        if digits.len() == 4 && year.is_none() {
            year = Some(value);
        } else if (1..=31).contains(&value) && digits.len() <= 2 && day.is_none() {
            day = Some(value);
        } else {
            return None;
        }
    }
    let (month, day) = (month?, day?);
    match year {
        Some(y) => dates::spoken(&format!("{y:04}-{month:02}-{day:02}"), None, lang),
        None => dates::spoken(&format!("{month}/{day}"), Some("md"), lang),
    }
}

/// The digits of "15", "3rd", "21st", "1º", "1°"; `None` for other words.
fn ordinal_digits(word: &str) -> Option<&str> {
    let end = word
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(word.len());
    let (digits, suffix) = word.split_at(end);
    let ordinal = ["", "st", "nd", "rd", "th", "º", "°", "ª"];
    (!digits.is_empty() && ordinal.contains(&suffix)).then_some(digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_dates_are_read_in_the_listeners_language() {
        assert_eq!(
            spoken_date("15 November 2026", None, Lang::En).as_deref(),
            Some("November fifteenth, twenty twenty-six")
        );
        assert_eq!(
            spoken_date("15 novembre 2026", None, Lang::It).as_deref(),
            Some("quindici novembre duemilaventisei")
        );
        assert_eq!(
            spoken_date("Sunday, November 15th, 2026", None, Lang::En).as_deref(),
            Some("November fifteenth, twenty twenty-six")
        );
        assert_eq!(
            spoken_date("1º marzo", None, Lang::It).as_deref(),
            Some("primo marzo")
        );
        assert_eq!(
            spoken_date("March 3rd", None, Lang::En).as_deref(),
            Some("March third")
        );
    }

    #[test]
    fn what_is_not_a_date_is_refused() {
        for text in [
            "15 November 40000",
            "32 March",
            "November",
            "15 2026",
            "soon",
            "March April 3",
        ] {
            assert_eq!(spoken_date(text, None, Lang::En), None, "{text}");
        }
    }
}
