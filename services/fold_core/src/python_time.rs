//! Python's `datetime.fromtimestamp(epoch, UTC).isoformat()`, which alerts carry as their times.

/// CPython's `_PyTime_Round` with `_PyTime_ROUND_HALF_EVEN`.
fn round_half_even(x: f64) -> f64 {
    let rounded = x.round();
    if (x - rounded).abs() == 0.5 {
        2.0 * (x / 2.0).round()
    } else {
        rounded
    }
}

/// Days since 1970-01-01 as (year, month, day) of the proleptic Gregorian calendar.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `datetime.fromtimestamp(epoch, UTC).isoformat()`: microseconds rounded half to even as CPython's
/// `_PyTime_ObjectToTimeval` does, and written only when not zero.
pub fn iso(epoch: f64) -> String {
    let mut whole = epoch.trunc(); // modf
    let mut micros = round_half_even((epoch - whole) * 1e6);
    if micros >= 1e6 {
        micros -= 1e6;
        whole += 1.0;
    } else if micros < 0.0 {
        micros += 1e6;
        whole -= 1.0;
    }
    let seconds = whole as i64;
    let (year, month, day) = civil_from_days(seconds.div_euclid(86_400));
    let of_day = seconds.rem_euclid(86_400);
    let (hour, minute, second) = (of_day / 3600, of_day % 3600 / 60, of_day % 60);
    let micros = micros as u32;
    let fraction = if micros == 0 {
        String::new()
    } else {
        format!(".{micros:06}")
    };
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}{fraction}+00:00")
}

#[cfg(test)]
mod tests {
    use super::iso;

    #[test]
    fn as_python_writes_them() {
        // python: datetime.fromtimestamp(t, UTC).isoformat()
        assert_eq!(iso(0.0), "1970-01-01T00:00:00+00:00");
        assert_eq!(iso(1_795_000_000.25), "2026-11-18T11:06:40.250000+00:00");
        assert_eq!(iso(951_782_400.0), "2000-02-29T00:00:00+00:00");
        assert_eq!(iso(-1.5), "1969-12-31T23:59:58.500000+00:00");
        assert_eq!(iso(1.9999999), "1970-01-01T00:00:02+00:00");
    }
}
