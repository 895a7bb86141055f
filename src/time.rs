//! Packet time: nanoseconds since the Unix epoch as `i64`, and RFC 3339 formatting.
//!
//! All flow timing (timeouts, durations, expiry) runs on packet time, never on the
//! wall clock, so a replay gives the same flows on every machine and at every speed.

/// Nanoseconds since 1970-01-01T00:00:00Z.
pub type Nanos = i64;

pub const NANOS_PER_SEC: i64 = 1_000_000_000;

/// Seconds (possibly fractional) as packet-time nanoseconds.
pub fn secs(s: f64) -> Nanos {
    (s * NANOS_PER_SEC as f64) as Nanos
}

/// Appends `t` as RFC 3339 UTC with microseconds, e.g. `2024-05-01T12:00:00.123456Z`.
pub fn write_rfc3339_micros(out: &mut String, t: Nanos) {
    let b = rfc3339_micros_bytes(t);
    // The buffer holds ASCII digits and punctuation only.
    out.push_str(std::str::from_utf8(&b).unwrap_or("1970-01-01T00:00:00.000000Z"));
}

/// `t` as the 27 ASCII bytes of RFC 3339 UTC with microseconds.  Digits are placed by
/// hand two at a time from a table, the date part remembered per thread (consecutive
/// timestamps nearly always fall on the same day): `write!` made timestamp formatting
/// 8% of a replay in `perf`, and a division per digit cost 213 instructions a call
/// (callgrind, mixed.pcap: 100M for 470k calls).
pub fn rfc3339_micros_bytes(t: Nanos) -> [u8; 27] {
    let secs = t.div_euclid(NANOS_PER_SEC);
    let micros = (t.rem_euclid(NANOS_PER_SEC) / 1_000) as u32;
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400) as u32;
    let mut b = *b"0000-00-00T00:00:00.000000Z";
    b[..10].copy_from_slice(&cached_date(days));
    b[11..13].copy_from_slice(&two_digits(sod / 3600));
    b[14..16].copy_from_slice(&two_digits(sod / 60 % 60));
    b[17..19].copy_from_slice(&two_digits(sod % 60));
    b[20..26].copy_from_slice(&six_digits(micros));
    b
}

/// `v` (below 1,000,000) as six digits with leading zeros.
#[inline]
pub(crate) fn six_digits(v: u32) -> [u8; 6] {
    let (hi, lo) = (v / 10_000, v % 10_000);
    let (a, b, c) = (two_digits(hi), two_digits(lo / 100), two_digits(lo % 100));
    [a[0], a[1], b[0], b[1], c[0], c[1]]
}

/// `v % 100` as two digits.
#[inline]
fn two_digits(v: u32) -> [u8; 2] {
    PAIRS[(v % 100) as usize]
}

/// "00", "01", ... "99".
static PAIRS: [[u8; 2]; 100] = {
    let mut t = [[0u8; 2]; 100];
    let mut i = 0;
    while i < 100 {
        t[i] = [b'0' + (i / 10) as u8, b'0' + (i % 10) as u8];
        i += 1;
    }
    t
};

/// RFC 3339 UTC with nanoseconds, as Falco writes alert times.
pub fn rfc3339_nanos(t: Nanos) -> String {
    let b = rfc3339_micros_bytes(t);
    let date_time = std::str::from_utf8(&b[..20]).unwrap_or("1970-01-01T00:00:00.");
    format!("{date_time}{:09}Z", t.rem_euclid(NANOS_PER_SEC))
}

/// RFC 3339 UTC with microseconds as a new string.
pub fn rfc3339_micros(t: Nanos) -> String {
    let mut s = String::with_capacity(27);
    write_rfc3339_micros(&mut s, t);
    s
}

/// `YYYY-MM-DD` of `days` since the epoch, with the last answer remembered per
/// thread: consecutive timestamps nearly always fall on the same day.
fn cached_date(days: i64) -> [u8; 10] {
    thread_local! {
        static LAST: std::cell::Cell<(i64, [u8; 10])> =
            const { std::cell::Cell::new((0, *b"1970-01-01")) };
    }
    LAST.with(|last| {
        let (d, date) = last.get();
        if d == days {
            return date;
        }
        let (y, m, d) = civil_from_days(days);
        let y = y.clamp(0, 9999) as u32;
        let (yh, yl, m, d) = (
            two_digits(y / 100),
            two_digits(y),
            two_digits(m),
            two_digits(d),
        );
        let date = [
            yh[0], yh[1], yl[0], yl[1], b'-', m[0], m[1], b'-', d[0], d[1],
        ];
        last.set((days, date));
        date
    })
}

/// Days since the epoch to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nanosecond_form() {
        assert_eq!(
            rfc3339_nanos(1_000_000_001),
            "1970-01-01T00:00:01.000000001Z"
        );
        assert_eq!(rfc3339_nanos(-1), "1969-12-31T23:59:59.999999999Z");
    }

    #[test]
    fn formats_epoch_and_known_dates() {
        assert_eq!(rfc3339_micros(0), "1970-01-01T00:00:00.000000Z");
        // 2024-02-29T23:59:59.999999Z (leap day)
        assert_eq!(
            rfc3339_micros(1_709_251_199_999_999_000),
            "2024-02-29T23:59:59.999999Z"
        );
        assert_eq!(rfc3339_micros(-1_000), "1969-12-31T23:59:59.999999Z");
        // The ends of the range; the day cache follows the day.
        assert_eq!(rfc3339_micros(i64::MAX), "2262-04-11T23:47:16.854775Z");
        assert_eq!(rfc3339_micros(i64::MIN), "1677-09-21T00:12:43.145224Z");
        assert_eq!(
            rfc3339_micros(86_399_000_000_000),
            "1970-01-01T23:59:59.000000Z"
        );
        assert_eq!(
            rfc3339_micros(86_400_000_000_000),
            "1970-01-02T00:00:00.000000Z"
        );
    }

    #[test]
    fn every_second_of_a_day_and_micro_digits_match_the_reference() {
        // The digit tables against chrono-free arithmetic: fmt's zero padding.
        for sod in (0..86_400i64).step_by(7) {
            let t = (19_000 * 86_400 + sod) * NANOS_PER_SEC + 123_456_789;
            let s = rfc3339_micros(t);
            let want = format!(
                "2022-01-08T{:02}:{:02}:{:02}.123456Z",
                sod / 3600,
                sod / 60 % 60,
                sod % 60
            );
            assert_eq!(s, want);
        }
        for v in [0, 1, 9, 10, 99, 100, 9_999, 10_000, 123_456, 999_999] {
            assert_eq!(six_digits(v), *format!("{v:06}").as_bytes());
        }
    }
}
