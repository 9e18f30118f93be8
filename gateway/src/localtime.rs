//! Times as the practice reads them: French format, metropolitan French
//! time (Europe/Paris: UTC+1, UTC+2 from the last Sunday of March to the
//! last Sunday of October, switching at 01:00 UTC, the EU rule since
//! 1996). No time zone database is needed for that one rule.

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month, day) of days since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// Unix seconds of 01:00 UTC on the last Sunday of `month` of `year`.
fn last_sunday_1am_utc(year: i64, month: u32) -> i64 {
    let last = days_from_civil(year, month, days_in_month(year, month));
    // 1970-01-01 was a Thursday: weekday 0 = Sunday is (days + 4) mod 7.
    let weekday = (last + 4).rem_euclid(7);
    (last - weekday) * 86_400 + 3_600
}

/// Offset of Paris time from UTC at `at`, in seconds.
pub fn paris_offset(at: i64) -> i64 {
    let (year, _, _) = civil_from_days(at.div_euclid(86_400));
    if at >= last_sunday_1am_utc(year, 3) && at < last_sunday_1am_utc(year, 10) {
        7_200
    } else {
        3_600
    }
}

/// `31/03/2026 14:05:09`, Paris time.
pub fn format(at: i64) -> String {
    let local = at + paris_offset(at);
    let (y, m, d) = civil_from_days(local.div_euclid(86_400));
    let secs = local.rem_euclid(86_400);
    format!(
        "{d:02}/{m:02}/{y:04} {:02}:{:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// A date from `<input type="date">` (`YYYY-MM-DD`), checked; years
/// 2000–2999 only (nothing older exists on the box).
/// "20260331-140509" in Paris time.
pub fn file_stamp(unix: i64) -> String {
    // localtime::format gives "31/03/2026 14:05:09".
    let digits: String = format(unix).chars().filter(char::is_ascii_digit).collect();
    if digits.len() == 14 {
        format!(
            "{}{}{}-{}",
            &digits[4..8],
            &digits[2..4],
            &digits[0..2],
            &digits[8..14]
        )
    } else {
        "export".to_string()
    }
}

pub fn parse_date(text: &str) -> Option<(i64, u32, u32)> {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = text.get(r)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    let (y, m, d) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let y = i64::from(y);
    if !(2000..=2999).contains(&y) || !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
        return None;
    }
    Some((y, m, d))
}

/// `2026-03-31`: the UTC date of a unix time (certificate expiry dates,
/// as the fleet server shows them).
pub fn iso_date(at: i64) -> String {
    let (y, m, d) = civil_from_days(at.div_euclid(86_400));
    format!("{y:04}-{m:02}-{d:02}")
}

/// Unix seconds of midnight, Paris time, starting that day.
pub fn paris_midnight((y, m, d): (i64, u32, u32)) -> i64 {
    let utc_midnight = days_from_civil(y, m, d) * 86_400;
    // The change happens at 02:00 or 03:00 local time, never at midnight:
    // the offset 1 hour before UTC midnight is the one of local midnight.
    utc_midnight - paris_offset(utc_midnight - 3_600)
}

/// Unix seconds of the midnight ending that day (Paris time).
pub fn paris_end_of_day(date: (i64, u32, u32)) -> i64 {
    let (y, m, d) = date;
    let next = civil_from_days(days_from_civil(y, m, d) + 1);
    paris_midnight(next)
}

#[cfg(test)]
mod tests {

    #[test]
    fn iso_dates_are_utc_days() {
        assert_eq!(iso_date(0), "1970-01-01");
        assert_eq!(iso_date(1_768_440_600), "2026-01-15");
    }

    use super::*;

    #[test]
    fn civil_round_trip() {
        for days in [-1000, 0, 1, 59, 365, 11_016, 20_000, 30_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
    }

    #[test]
    fn paris_summer_and_winter_time() {
        // 2026-01-01 00:00 UTC = 01:00 in Paris.
        assert_eq!(format(1_767_225_600), "01/01/2026 01:00:00");
        // 2026-07-14 10:00 UTC = 12:00 in Paris.
        assert_eq!(format(1_784_023_200), "14/07/2026 12:00:00");
        // Change on 2026-03-29 at 01:00 UTC.
        assert_eq!(format(1_774_746_000 - 1), "29/03/2026 01:59:59");
        assert_eq!(format(1_774_746_000), "29/03/2026 03:00:00");
        // Back on 2026-10-25 at 01:00 UTC.
        assert_eq!(format(1_792_890_000 - 1), "25/10/2026 02:59:59");
        assert_eq!(format(1_792_890_000), "25/10/2026 02:00:00");
    }

    #[test]
    fn dates_from_forms() {
        assert_eq!(parse_date("2026-02-28"), Some((2026, 2, 28)));
        assert_eq!(parse_date("2028-02-29"), Some((2028, 2, 29)));
        for bad in [
            "2026-02-29",
            "2026-13-01",
            "2026-00-10",
            "26-01-01",
            "2026/01/01",
            "2026-1-011",
            "+026-01-01",
            "1999-12-31",
            "",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
        // Winter: midnight in Paris is 23:00 UTC the day before.
        assert_eq!(paris_midnight((2026, 1, 1)), 1_767_225_600 - 3_600);
        // Summer: 22:00 UTC the day before.
        assert_eq!(paris_midnight((2026, 7, 14)), 1_784_023_200 - 12 * 3600);
        // The day of the change is 23 hours long.
        assert_eq!(
            paris_end_of_day((2026, 3, 29)) - paris_midnight((2026, 3, 29)),
            23 * 3600
        );
        assert_eq!(
            paris_end_of_day((2026, 12, 31)),
            paris_midnight((2027, 1, 1))
        );
    }
}
