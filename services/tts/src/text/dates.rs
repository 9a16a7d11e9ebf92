//! Reading dates aloud in the listener's language (English and Italian).

use super::numbers::{cardinal, en_ordinal, Lang};

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

/// A date in the listener's language. `format` orders the fields as
/// written: "ymd", "dmy", "mdy" (also "md", "dm"); ISO `2026-03-05` is
/// always read as year-month-day. Returns `None` when it is not a date.
pub fn date(s: &str, format: Option<&str>, lang: Lang) -> Option<String> {
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
