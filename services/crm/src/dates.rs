//! Dates as fixtures and demo data write them, turned into milliseconds
//! since the epoch (UTC) without a calendar dependency.

use crate::error::{CrmError, Result};
use crate::model::Millis;

/// Parses `YYYY-MM-DD` (noon UTC, so the date reads the same in every
/// European and American time zone) or `YYYY-MM-DDTHH:MM` (UTC).
pub fn parse_time(s: &str) -> Result<Millis> {
    let bad = || CrmError::invalid("date", "must be YYYY-MM-DD or YYYY-MM-DDTHH:MM");
    let (date, time) = match s.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (s, None),
    };
    let mut parts = date.split('-').map(|p| p.parse::<i64>().map_err(|_| bad()));
    let (y, m, d) = (
        parts.next().ok_or_else(bad)??,
        parts.next().ok_or_else(bad)??,
        parts.next().ok_or_else(bad)??,
    );
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return Err(bad());
    }
    let (hh, mm) = match time {
        None => (12, 0),
        Some(t) => {
            let (h, m) = t.split_once(':').ok_or_else(bad)?;
            (
                h.parse::<i64>().map_err(|_| bad())?,
                m.get(..2).unwrap_or(m).parse::<i64>().map_err(|_| bad())?,
            )
        }
    };
    Ok(((days_from_civil(y, m, d) * 24 + hh) * 60 + mm) * 60_000)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_parse() {
        assert_eq!(parse_time("1970-01-01T00:00").unwrap(), 0);
        assert_eq!(parse_time("2026-11-12").unwrap(), 1_794_484_800_000);
        assert!(parse_time("2026-13-01").is_err());
    }
}
