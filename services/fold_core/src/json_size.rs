//! An upper bound on the length of a state's JSON (`State::to_json` as serde_json writes it), in one pass
//! over the state without building the JSON: a state's JSON is measured exactly only when this bound comes
//! near `MP_SCORER_MAX_STATE_BYTES` (src/worker.rs, `near_limit`). Strings and whole numbers are counted
//! exactly, every float as the longest float serde_json writes (24 characters), every separator as if a
//! comma followed, a hand-off and an early follow-up field by field (a heavy person holds many: building
//! their JSON was ~80% of the bound); the recovery cases (capped, and rare) are measured exactly.

use crate::handoffs::{EarlyFollowUp, Handoff};
use crate::state::State;

const FLOAT: usize = 24; // "-2.2250738585072014e-308"
const TOKEN_TEXT: usize = (std::mem::size_of::<crate::dedup::Token>() * 4).div_ceil(3); // base64, no padding
/// `State::to_json`'s top-level names, each written `"name":` with a comma after.
const NAMES: [&str; 21] = [
    "constituent_id",
    "reference_time",
    "contributions",
    "seen_event_ids",
    "counts",
    "hourly",
    "last_touch",
    "roles",
    "events",
    "giving",
    "timeline",
    "score_peaks",
    "score_alerts_opened",
    "score_alert_opened_at",
    "failed_transaction",
    "handoffs",
    "early_follow_ups",
    "recovery",
    "recovery_early",
    "report_windows",
    "role_since",
];

/// A JSON string: quotes, the text, and the escapes serde_json writes (`\"`, `\\`; a control character
/// as at most `\u00XX`).
pub fn string(text: &str) -> usize {
    2 + text.len()
        + text
            .bytes()
            .map(|b| match b {
                b'"' | b'\\' => 1,
                0..=0x1f => 5,
                _ => 0,
            })
            .sum::<usize>()
}

/// A whole number as digits, with its sign.
pub fn integer(value: i64) -> usize {
    let mut digits = 1;
    let mut rest = value.unsigned_abs() / 10;
    while rest > 0 {
        digits += 1;
        rest /= 10;
    }
    digits + usize::from(value < 0)
}

fn exactly(value: serde_json::Value) -> usize {
    value.to_string().len()
}

/// A JSON array of `items`, each measured as written.
fn array(items: impl Iterator<Item = serde_json::Value>) -> usize {
    2 + items.map(|item| exactly(item) + 1).sum::<usize>()
}

/// `"name":` with a comma after it.
fn field(name: &str) -> usize {
    name.len() + 4
}

/// A JSON value: null and text counted, anything else measured as written (rare: a correlation id).
fn value(value: &serde_json::Value) -> usize {
    match value {
        serde_json::Value::Null => 4,
        serde_json::Value::String(text) => string(text),
        other => exactly(other.clone()),
    }
}

/// At least the length of `Handoff::to_json` as written, without building it (a heavy person holds many).
pub fn handoff(h: &Handoff) -> usize {
    let text = |name: &str, text: &str| field(name) + string(text);
    let mut total = 2
        + text("rule", &h.rule)
        + text("constituent_id", &h.constituent_id)
        + text("source", &h.source)
        + text("trigger_event_id", &h.trigger_event_id)
        + field("correlation_id")
        + value(&h.correlation_id)
        + field("deadline")
        + FLOAT
        + text("status", h.status.name())
        + field("settled_at")
        + FLOAT; // a time or null
    if h.bounced_at.is_some() {
        total += field("bounced_at") + FLOAT;
    }
    if h.suppressed {
        total += field("suppressed") + 4;
    }
    for (name, written) in [
        ("cancelled_by", &h.cancelled_by),
        ("resolved_at_iso", &h.resolved_at_iso),
        ("broken_at_iso", &h.broken_at_iso),
    ] {
        if let Some(written) = written {
            total += text(name, written);
        }
    }
    total
}

/// At least the length of `EarlyFollowUp::to_json` as written.
pub fn early_follow_up(f: &EarlyFollowUp) -> usize {
    2 + field("rule")
        + string(&f.rule)
        + field("correlation_id")
        + value(&f.correlation_id)
        + if f.bounce { field("bounce") + 4 } else { 0 }
        + field("time")
        + FLOAT
        + field("event_id")
        + string(&f.event_id)
}

impl State {
    /// At least the length of `serde_json::to_vec(&self.to_json())`.
    pub fn json_length_bound(&self) -> usize {
        let text_map =
            |keys: &mut dyn Iterator<Item = usize>| 2 + keys.map(|n| n + 2).sum::<usize>();
        let mut total = 2 + NAMES.iter().map(|name| name.len() + 4).sum::<usize>();
        total += string(&self.constituent_id) + FLOAT;
        total += text_map(
            &mut self
                .contributions
                .iter()
                .map(|(k, _)| string(k) + 2 + 3 * (FLOAT + 1)),
        );
        total += text_map(
            &mut self
                .seen
                .iter()
                .map(|(day, tokens)| integer(*day) + 2 + 2 + tokens.len() * TOKEN_TEXT),
        );
        total += text_map(&mut self.counts.iter().map(|(k, v)| string(k) + integer(*v)));
        total += text_map(&mut self.hourly.iter().map(|(hour, bucket)| {
            integer(*hour) + 2 + text_map(&mut bucket.iter().map(|(k, v)| string(k) + integer(*v)))
        }));
        total += text_map(&mut self.last_touch.iter().map(|(k, _)| string(k) + FLOAT));
        total += 2 + self.roles.iter().map(|r| string(r) + 1).sum::<usize>();
        total += integer(self.events);
        total += text_map(&mut self.giving.iter().map(|(p, _)| integer(*p) + 2 + FLOAT));
        total += 2 + self
            .timeline
            .iter()
            .map(|(_, s, ty, id)| 2 + FLOAT + string(s) + string(ty) + string(id) + 4)
            .sum::<usize>();
        total += text_map(
            &mut self
                .score_peaks
                .iter()
                .map(|(h, _)| integer(*h) + 2 + FLOAT),
        );
        total += integer(self.score_alerts_opened);
        total += self.score_alert_opened_at.as_deref().map_or(4, string);
        total += self
            .failed_transaction
            .as_ref()
            .map_or(4, |f| exactly(f.to_json()));
        total += 2 + self.handoffs.iter().map(|h| handoff(h) + 1).sum::<usize>();
        total += 2 + self
            .early_follow_ups
            .iter()
            .map(|f| early_follow_up(f) + 1)
            .sum::<usize>();
        total += array(self.recovery.iter().map(|c| c.to_json()));
        total += array(self.recovery_early.iter().map(|f| f.to_json()));
        total += text_map(&mut self.report_windows.iter().map(|(window, parts)| {
            string(window)
                + text_map(&mut parts.iter().map(|(part, points)| {
                    string(part) + 2 + points.iter().map(|p| integer(*p) + 1).sum::<usize>()
                }))
        }));
        total += text_map(&mut self.role_since.iter().map(|(role, _)| string(role) + FLOAT));
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handoffs::Status;
    use serde_json::json;

    #[test]
    fn a_handoff_and_an_early_follow_up_are_counted_at_least_as_written() {
        let odd = "quote\" back\\ \u{1} Zoë";
        for (status, optional, correlation) in [
            (Status::Pending, false, json!(null)),
            (Status::Kept, true, json!("c-1")),
            (Status::Broken, true, json!({"nested": [1, 2.5, odd]})),
        ] {
            let handoff_seen = Handoff {
                rule: format!("receipt {odd}"),
                constituent_id: odd.into(),
                source: "donation".into(),
                trigger_event_id: "e-1".into(),
                correlation_id: correlation.clone(),
                deadline: -2.2250738585072014e-308,
                status,
                settled_at: optional.then_some(-1.7976931348623157e308),
                bounced_at: optional.then_some(1_704_067_200.123_456),
                suppressed: optional,
                cancelled_by: optional.then(|| odd.to_string()),
                resolved_at_iso: optional.then(|| "2024-01-01T00:00:00.123456+00:00".into()),
                broken_at_iso: optional.then(|| "2024-01-01T00:00:00+00:00".into()),
            };
            let written = handoff_seen.to_json().to_string().len();
            assert!(handoff(&handoff_seen) >= written, "{status:?}");
            let early = EarlyFollowUp {
                rule: odd.into(),
                correlation_id: correlation,
                bounce: optional,
                time: 0.1,
                event_id: odd.into(),
            };
            assert!(early_follow_up(&early) >= early.to_json().to_string().len());
        }
    }

    #[test]
    fn strings_and_whole_numbers_are_counted_at_least_as_serde_json_writes_them() {
        for text in [
            "",
            "plain",
            "quote\" and \\ back",
            "line\nfeed\ttab\u{1}",
            "Zoë Ångström",
        ] {
            assert!(
                string(text) >= serde_json::to_string(text).unwrap().len(),
                "{text:?}"
            );
        }
        for value in [0, 7, -7, 10, 99, 100, -1000, i64::MAX, i64::MIN] {
            assert_eq!(integer(value), value.to_string().len(), "{value}");
        }
        for value in [
            0.1,
            -2.2250738585072014e-308,
            1e21,
            -1.7976931348623157e308,
            123456.789,
        ] {
            assert!(
                FLOAT >= serde_json::to_string(&value).unwrap().len(),
                "{value}"
            );
        }
    }
}
