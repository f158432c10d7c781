//! What a touchpoints record holds and which of its events can be scored (services/scorer/records.py,
//! the specification): one event or a JSON array of them; the rest become dead letters with their reason.
//! The few texts that need Python's own words (`repr` of a key, `datetime.fromisoformat`'s error for an
//! unusual time) come from the caller's `Python` hooks, called only on those rare paths.

use crate::fold::Event;
use crate::python_numbers::format_g;
use serde_json::Value;

pub const REQUIRED_TEXT_FIELDS: [&str; 5] = [
    "event_id",
    "source",
    "type",
    "occurred_at",
    "constituent_id",
];

/// What only Python can say exactly: `repr()` of a text and of bytes, and an unusual `occurred_at`
/// (`datetime.fromisoformat(text.upper()).timestamp()`, or its error).
pub trait Python {
    fn repr_text(&mut self, text: &str) -> String;
    fn repr_bytes(&mut self, data: &[u8]) -> String;
    fn event_time(&mut self, occurred_at: &str) -> Result<f64, String>;
}

/// A record's dead letter: the raw bytes kept, why, and the reason code.
pub struct DeadLetter {
    pub raw: Vec<u8>,
    pub reason: Option<String>, // None: not JSON (the caller says why in orjson's words)
    pub code: &'static str,
}

/// `murmur2` (Kafka's `Utils.murmur2`).
pub fn murmur2(data: &[u8]) -> u32 {
    const SEED: u32 = 0x9747_B28C;
    const M: u32 = 0x5BD1_E995;
    let mut h = SEED ^ data.len() as u32;
    let mut words = data.chunks_exact(4);
    for word in &mut words {
        let mut k = u32::from_le_bytes([word[0], word[1], word[2], word[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> 24;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M) ^ k;
    }
    let tail = words.remainder();
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h
}

/// `partition_for`: the partition Kafka's default partitioner gives a keyed record.
pub fn partition_for(key: &[u8], partitions: u32) -> u32 {
    (murmur2(key) & 0x7FFF_FFFF) % partitions
}

fn digits(text: &[u8]) -> Option<i64> {
    if text.is_empty() || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(text.iter().fold(0, |n, d| n * 10 + i64::from(d - b'0')))
}

fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `datetime.fromisoformat(text.upper()).timestamp()` for the RFC 3339 form ingest accepts
/// (`YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, "t" and "z" in either case); None for anything else, which
/// the caller asks Python about. Microseconds past the sixth digit are dropped, as Python drops them.
pub fn rfc3339_epoch(text: &str) -> Option<f64> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (year, month, day) = (digits(&b[0..4])?, digits(&b[5..7])?, digits(&b[8..10])?);
    let (hour, minute, second) = (
        digits(&b[11..13])?,
        digits(&b[14..16])?,
        digits(&b[17..19])?,
    );
    if year < 1 || !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut at = 19;
    let mut micros = 0;
    if b[at] == b'.' {
        let end = at
            + 1
            + b[at + 1..]
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .count();
        let fraction = &b[at + 1..end];
        if fraction.is_empty() || fraction.len() > 9 {
            return None;
        }
        let kept = &fraction[..fraction.len().min(6)];
        micros = digits(kept)? * 10_i64.pow(6 - kept.len() as u32);
        at = end;
    }
    let offset = match &b[at..] {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let (h, m) = (digits(&[*h1, *h2])?, digits(&[*m1, *m2])?);
            if h > 23 || m > 59 {
                return None;
            }
            (h * 3600 + m * 60) * if *sign == b'-' { -1 } else { 1 }
        }
        _ => return None,
    };
    let seconds =
        days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset;
    // timedelta.total_seconds(): whole microseconds divided by 10**6, correctly rounded
    Some((seconds * 1_000_000 + micros) as f64 / 1e6)
}

/// `touchpoint_problem`: why a decoded item cannot be scored.
fn touchpoint_problem(
    event: &Value,
    key: Option<&[u8]>,
    python: &mut dyn Python,
) -> Option<String> {
    let Value::Object(fields) = event else {
        return Some("not a JSON object".into());
    };
    let missing: Vec<&str> = REQUIRED_TEXT_FIELDS
        .iter()
        .copied()
        .filter(|name| !matches!(fields.get(*name), Some(Value::String(_))))
        .collect();
    if !missing.is_empty() {
        return Some(format!("missing or not text: {}", missing.join(", ")));
    }
    if !matches!(
        fields.get("attributes"),
        None | Some(Value::Null | Value::Object(_))
    ) {
        return Some("attributes: not a JSON object".into());
    }
    let constituent = fields["constituent_id"].as_str().unwrap_or_default();
    match key {
        Some(key) if constituent.as_bytes() != key => Some(format!(
            "constituent_id {} differs from the record key {}",
            python.repr_text(constituent),
            python.repr_bytes(key)
        )),
        _ => None,
    }
}

/// A record as the scorer receives it.
pub struct Incoming<'a> {
    pub partition: u32,
    pub key: Option<&'a [u8]>,
    pub value: &'a [u8],
    pub timestamp: f64,
}

/// `valid_events`: the valid events of a record with their event times; the rest become `dead_letters`.
/// Err: an event passed every check but is still not an `Event` (a defect, not the sender's).
pub fn valid_events(
    record: &Incoming,
    dead_letters: &mut Vec<DeadLetter>,
    now: f64,
    partitions: Option<u32>,
    max_future_s: f64,
    python: &mut dyn Python,
) -> Result<Vec<(Event, f64)>, String> {
    if let Some(valid) = all_valid(record, now, partitions, max_future_s) {
        return Ok(valid);
    }
    checked_events(record, dead_letters, now, partitions, max_future_s, python)
        .into_iter()
        .map(
            |(value, time)| match serde_json::from_value::<Event>(value) {
                Ok(event) => Ok((event, time)),
                Err(error) => Err(format!("a valid event that is not one: {error}")),
            },
        )
        .collect()
}

/// The common case in one pass: a record whose every event is valid, parsed straight into `Event`s
/// (no `serde_json::Value` tree first: that was ~15% of a batch call). None — anything unusual: not UTF-8
/// or not JSON, an item that is not a complete event, a repeated field, an `occurred_at` only Python
/// reads, a check that fails — and the record takes `checked_events`, which says why in each case. So
/// this path decides nothing on its own: what it accepts, `checked_events` accepts the same way (a unit
/// test holds the two to each other over generated records).
fn all_valid(
    record: &Incoming,
    now: f64,
    partitions: Option<u32>,
    max_future_s: f64,
) -> Option<Vec<(Event, f64)>> {
    // as text first: serde_json checks UTF-8 inside the strings it reads, not inside those it skips
    let text = std::str::from_utf8(record.value).ok()?;
    let events = match text.trim_start().as_bytes().first()? {
        b'[' => serde_json::from_str::<Vec<Event>>(text).ok()?,
        b'{' => vec![serde_json::from_str::<Event>(text).ok()?],
        _ => return None,
    };
    let mut valid = Vec::with_capacity(events.len());
    for event in events {
        let constituent = event.constituent_id.as_deref()?;
        match record.key {
            Some(key) if constituent.as_bytes() != key => return None,
            None => {
                if let Some(partitions) = partitions.filter(|p| *p > 0) {
                    if partition_for(constituent.as_bytes(), partitions) != record.partition {
                        return None;
                    }
                }
            }
            Some(_) => {}
        }
        let time = rfc3339_epoch(event.occurred_at.as_deref()?)?;
        if time - now > max_future_s {
            return None;
        }
        valid.push((event, time));
    }
    Some(valid)
}

/// The events of a record checked one by one, as `services/scorer/records.py` checks them.
fn checked_events(
    record: &Incoming,
    dead_letters: &mut Vec<DeadLetter>,
    now: f64,
    partitions: Option<u32>,
    max_future_s: f64,
    python: &mut dyn Python,
) -> Vec<(Value, f64)> {
    let events = match serde_json::from_slice::<Value>(record.value) {
        Ok(Value::Array(items)) => items,
        Ok(item) => vec![item],
        Err(_) => {
            dead_letters.push(DeadLetter {
                raw: record.value.to_vec(),
                reason: None,
                code: "unparseable",
            });
            return Vec::new();
        }
    };
    let mut valid = Vec::with_capacity(events.len());
    for event in events {
        let mut code = "not_touchpoint";
        let mut problem = touchpoint_problem(&event, record.key, python);
        let mut event_time = 0.0;
        if problem.is_none() && record.key.is_none() {
            if let Some(partitions) = partitions.filter(|p| *p > 0) {
                let constituent = event["constituent_id"].as_str().unwrap_or_default();
                let belongs = partition_for(constituent.as_bytes(), partitions);
                if belongs != record.partition {
                    problem = Some(format!(
                        "constituent {} belongs in partition {belongs}, not {}",
                        python.repr_text(constituent),
                        record.partition
                    ));
                }
            }
        }
        if problem.is_none() {
            let text = event["occurred_at"].as_str().unwrap_or_default();
            match rfc3339_epoch(text).map_or_else(|| python.event_time(text), Ok) {
                Err(error) => problem = Some(format!("occurred_at: {error}")),
                Ok(time) => {
                    event_time = time;
                    let ahead = time - now;
                    if ahead > max_future_s {
                        code = "future";
                        problem = Some(format!(
                            "occurred_at is {ahead:.0} s ahead of the scorer's clock (at most {} s allowed)",
                            format_g(max_future_s)
                        ));
                    }
                }
            }
        }
        match problem {
            None => valid.push((event, event_time)),
            Some(reason) => dead_letters.push(DeadLetter {
                raw: serde_json::to_vec(&event).unwrap_or_default(),
                reason: Some(reason),
                code,
            }),
        }
    }
    valid
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_as_kafka() {
        // org.apache.kafka.common.utils.UtilsTest.testMurmur2
        assert_eq!(murmur2(b"21") as i32, -973_932_308);
        assert_eq!(murmur2(b"foobar") as i32, -790_332_482);
        assert_eq!(murmur2(b"a-little-bit-long-string") as i32, -985_981_536);
        assert_eq!(
            murmur2(b"a-little-bit-longer-string") as i32,
            -1_486_304_829
        );
    }

    #[test]
    fn rfc3339_forms() {
        assert_eq!(rfc3339_epoch("2024-01-01T00:00:00Z"), Some(1_704_067_200.0));
        assert_eq!(
            rfc3339_epoch("2024-01-01t00:00:00.1234567z"),
            Some(1_704_067_200.123456)
        );
        assert_eq!(
            rfc3339_epoch("2024-01-01T05:30:00+05:30"),
            Some(1_704_067_200.0)
        );
        assert_eq!(rfc3339_epoch("2024-02-30T00:00:00Z"), None);
        assert_eq!(rfc3339_epoch("2024-01-01 00:00:00Z"), None);
        assert_eq!(rfc3339_epoch("2024-01-01T00:00:00"), None);
    }
}
