//! Timestamps: RuView writes ISO-8601 UTC strings with milliseconds; older tools wrote numbers
//! (seconds or milliseconds since the epoch). Everything inside countscope is seconds since the Unix
//! epoch as `f64`, and goes back out as ISO-8601 so a person can read it.
//!
//! Written by hand (no chrono) because the grammar RuView uses is small and the core must stay
//! dependency-light for the wasm builds.

/// Numbers at or above this are taken as milliseconds: 1e11 seconds is the year 5138, 1e11 ms is 1973.
const MILLIS_THRESHOLD: f64 = 1e11;

/// Interpret a numeric timestamp, seconds or milliseconds since the epoch, as seconds.
pub fn from_number(v: f64) -> Option<f64> {
    if !v.is_finite() || v < 0.0 {
        return None;
    }
    Some(if v >= MILLIS_THRESHOLD { v / 1000.0 } else { v })
}

/// Parse `YYYY-MM-DD[T ]HH:MM:SS[.fff…][Z|±HH:MM|±HHMM]` (no zone means UTC) into epoch seconds.
pub fn parse_iso8601(s: &str) -> Option<f64> {
    let b = s.trim().as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = b.get(r)?;
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || !(b[10] == b'T' || b[10] == b't' || b[10] == b' ')
    {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 60
    {
        return None;
    }
    let mut i = 19;
    let mut frac = 0.0;
    if b.get(i) == Some(&b'.') || b.get(i) == Some(&b',') {
        let start = i + 1;
        i = start;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return None;
        }
        frac = std::str::from_utf8(&b[start - 1..i])
            .ok()?
            .replace(',', ".")
            .parse::<f64>()
            .ok()?;
    }
    let offset_s = match b.get(i) {
        None => 0,
        Some(b'Z') | Some(b'z') if i + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) => {
            let rest = &b[i + 1..];
            let (oh, om) = match rest.len() {
                5 if rest[2] == b':' => (num(i + 1..i + 3)?, num(i + 4..i + 6)?),
                4 => (num(i + 1..i + 3)?, num(i + 3..i + 5)?),
                2 => (num(i + 1..i + 3)?, 0),
                _ => return None,
            };
            if oh > 23 || om > 59 {
                return None;
            }
            let o = oh * 3600 + om * 60;
            if sign == b'+' {
                o
            } else {
                -o
            }
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo, d);
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec - offset_s;
    Some(secs as f64 + frac)
}

/// Format epoch seconds as `YYYY-MM-DDTHH:MM:SS.mmmZ`, the form RuView writes.
pub fn format_iso8601(t: f64) -> String {
    let ms_total = (t * 1000.0).round() as i64;
    let (days, ms_of_day) = (
        ms_total.div_euclid(86_400_000),
        ms_total.rem_euclid(86_400_000),
    );
    let (y, m, d) = civil_from_days(days);
    let (h, rem) = (ms_of_day / 3_600_000, ms_of_day % 3_600_000);
    let (mi, rem) = (rem / 60_000, rem % 60_000);
    format!(
        "{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{:02}.{:03}Z",
        rem / 1000,
        rem % 1000
    )
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ruview_timestamps_and_round_trips() {
        let t = parse_iso8601("2026-05-20T14:31:07.412Z").unwrap();
        assert_eq!(format_iso8601(t), "2026-05-20T14:31:07.412Z");
        assert_eq!(parse_iso8601("1970-01-01T00:00:00Z"), Some(0.0));
        assert_eq!(parse_iso8601("1970-01-01T01:00:00+01:00"), Some(0.0));
        assert_eq!(parse_iso8601("2000-03-01 00:00:00"), Some(951_868_800.0));
    }

    #[test]
    fn rejects_impossible_dates() {
        for s in [
            "2026-02-30T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-05-20T24:00:00Z",
            "20260520T1431",
            "",
            "2026-05-20T14:31:07.Zx",
        ] {
            assert_eq!(parse_iso8601(s), None, "{s}");
        }
    }

    #[test]
    fn numbers_are_seconds_or_milliseconds() {
        assert_eq!(from_number(1_779_287_467.412), Some(1_779_287_467.412));
        assert_eq!(from_number(1_779_287_467_412.0), Some(1_779_287_467.412));
        assert_eq!(from_number(f64::NAN), None);
    }
}
