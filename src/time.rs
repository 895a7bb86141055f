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
/// hand: `write!` made timestamp formatting 8% of a replay in `perf`.
pub fn rfc3339_micros_bytes(t: Nanos) -> [u8; 27] {
    let secs = t.div_euclid(NANOS_PER_SEC);
    let micros = t.rem_euclid(NANOS_PER_SEC) / 1_000;
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = cached_civil_from_days(days);
    let mut b = *b"0000-00-00T00:00:00.000000Z";
    fn put(b: &mut [u8], mut v: u64, at: usize, width: usize) {
        for i in (at..at + width).rev() {
            b[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    }
    put(&mut b, y.clamp(0, 9999) as u64, 0, 4);
    put(&mut b, m as u64, 5, 2);
    put(&mut b, d as u64, 8, 2);
    put(&mut b, (sod / 3600) as u64, 11, 2);
    put(&mut b, ((sod % 3600) / 60) as u64, 14, 2);
    put(&mut b, (sod % 60) as u64, 17, 2);
    put(&mut b, micros as u64, 20, 6);
    b
}

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

/// [`civil_from_days`] with the last answer remembered per thread: consecutive
/// timestamps nearly always fall on the same day.
fn cached_civil_from_days(days: i64) -> (i64, u32, u32) {
    thread_local! {
        static LAST: std::cell::Cell<(i64, (i64, u32, u32))> =
            const { std::cell::Cell::new((0, (1970, 1, 1))) };
    }
    LAST.with(|last| {
        let (d, ymd) = last.get();
        if d == days {
            return ymd;
        }
        let ymd = civil_from_days(days);
        last.set((days, ymd));
        ymd
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
    }
}
