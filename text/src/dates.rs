//! Dates in the listener's language (English and Italian): the calendar arithmetic on Unix
//! time, the written form for replies ("15 November 2026") and the spoken form for speech
//! ("November fifteenth, twenty twenty-six").

use crate::numbers::{cardinal, en_ordinal};
use crate::Lang;

const EN_MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const IT_MONTHS: [&str; 12] = [
    "gennaio",
    "febbraio",
    "marzo",
    "aprile",
    "maggio",
    "giugno",
    "luglio",
    "agosto",
    "settembre",
    "ottobre",
    "novembre",
    "dicembre",
];

const DAY: i64 = 86_400;

/// The month's name (1-12; out-of-range values clamp) in a language.
pub fn month_name(month: u32, lang: Lang) -> &'static str {
    let i = (month.clamp(1, 12) - 1) as usize;
    match lang {
        Lang::En => EN_MONTHS[i],
        Lang::It => IT_MONTHS[i],
    }
}

/// 1-12 for a month's name in English or Italian, any case; `None` for other words.
pub fn month_number(name: &str) -> Option<u32> {
    let name = name.to_lowercase();
    EN_MONTHS
        .iter()
        .position(|m| m.to_lowercase() == name)
        .or_else(|| IT_MONTHS.iter().position(|m| *m == name))
        .map(|i| i as u32 + 1)
}

/// (year, month 1-12, day 1-31) of Unix seconds, UTC, proleptic Gregorian.
pub fn civil(unix_seconds: i64) -> (i64, u32, u32) {
    let z = unix_seconds.div_euclid(DAY) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Unix seconds of midnight UTC of a `YYYY-MM-DD` date; `None` when it is not one.
pub fn parse_day(text: &str) -> Option<i64> {
    let mut it = text.trim().splitn(3, '-');
    let y: i64 = it.next()?.parse().ok()?;
    let m: i64 = it.next()?.parse().ok()?;
    let d: i64 = it.next()?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let (y2, m2) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * m2 + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some((era * 146_097 + doe - 719_468) * DAY)
}

/// The written date for replies: "15 November 2026" / "15 novembre 2026" (UTC).
pub fn written(unix_seconds: i64, lang: Lang) -> String {
    let (y, m, d) = civil(unix_seconds);
    format!("{d} {} {y}", month_name(m, lang))
}

fn en_year(y: u64) -> String {
    if (2000..2010).contains(&y) || y.is_multiple_of(100) || y >= 10000 {
        cardinal(y, Lang::En)
    } else if y % 100 < 10 {
        format!(
            "{} oh {}",
            cardinal(y / 100, Lang::En),
            cardinal(y % 100, Lang::En)
        )
    } else if y >= 1000 {
        format!(
            "{} {}",
            cardinal(y / 100, Lang::En),
            cardinal(y % 100, Lang::En)
        )
    } else {
        cardinal(y, Lang::En)
    }
}

/// A written date (`2026-03-05`, `5/3/2026`) as the listener says it. `format` orders the fields as
/// written: "ymd", "dmy", "mdy" (also "md", "dm"); ISO `2026-03-05` is
/// always read as year-month-day. Returns `None` when it is not a date.
pub fn spoken(s: &str, format: Option<&str>, lang: Lang) -> Option<String> {
    let fields: Vec<u64> = s
        .split(['-', '/', '.'])
        .map(|f| f.trim().parse().ok())
        .collect::<Option<_>>()?;
    let iso =
        s.contains('-') && fields.len() == 3 && s.split('-').next().is_some_and(|y| y.len() == 4);
    let order = match format {
        _ if iso => "ymd",
        Some(f) => f,
        None if lang == Lang::En => "mdy",
        None => "dmy",
    };
    if order.len() != fields.len() {
        return None;
    }
    let (mut y, mut m, mut d) = (None, 0, 0);
    for (k, v) in order.chars().zip(&fields) {
        match k {
            'y' => y = Some(*v),
            'm' => m = *v,
            'd' => d = *v,
            _ => return None,
        }
    }
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let month = m as usize - 1;
    Some(match lang {
        Lang::En => {
            let mut s = format!("{} {}", EN_MONTHS[month], en_ordinal(d));
            if let Some(y) = y {
                s.push_str(&format!(", {}", en_year(y)));
            }
            s
        }
        Lang::It => {
            let day = if d == 1 {
                "primo".to_owned()
            } else {
                cardinal(d, Lang::It)
            };
            let mut s = format!("{day} {}", IT_MONTHS[month]);
            if let Some(y) = y {
                s.push_str(&format!(" {}", cardinal(y, Lang::It)));
            }
            s
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_round_trips() {
        for day in [
            "1970-01-01",
            "2000-02-29",
            "2026-11-25",
            "1999-12-31",
            "2100-03-01",
        ] {
            let t = parse_day(day).unwrap();
            let (y, m, d) = civil(t);
            assert_eq!(format!("{y:04}-{m:02}-{d:02}"), day);
        }
        assert_eq!(parse_day("2026-13-01"), None);
        assert_eq!(month_number("November"), Some(11));
        assert_eq!(month_number("gennaio"), Some(1));
        assert_eq!(month_number("monday"), None);
        assert_eq!(
            written(parse_day("2026-11-15").unwrap(), Lang::En),
            "15 November 2026"
        );
        assert_eq!(
            written(parse_day("2026-11-15").unwrap(), Lang::It),
            "15 novembre 2026"
        );
    }

    #[test]
    fn dates_are_spoken_per_language() {
        assert_eq!(
            spoken("2026-03-05", None, Lang::En).unwrap(),
            "March fifth, twenty twenty-six"
        );
        assert_eq!(spoken("1/3", Some("dm"), Lang::It).unwrap(), "primo marzo");
        assert_eq!(spoken("31/13/2026", None, Lang::It), None);
    }
}
