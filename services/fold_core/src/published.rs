//! What the scorer writes for a changed person besides their state: the score record of
//! `constituent-scores` (services/domain/readings.py `score_record`) and the deadline timer's entry
//! (services/scorer/outgoing.py `deadline_entry`), both the specification.

use crate::fold::scores_at;
use crate::handoffs::{self, Status};
use crate::model::Model;
use crate::python_numbers::round2;
use crate::recovery;
use crate::state::State;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{json, Map, Value};

/// Pairs kept in a vector, written as a JSON object (keys as text; integer keys quoted, as Python's).
struct AsMap<'a, K, V>(&'a [(K, V)]);

impl<K: Serialize, V: Serialize> Serialize for AsMap<'_, K, V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// The hourly buckets: hour → "source|type" → count.
struct Hourly<'a>(&'a [(i64, Vec<(String, i64)>)]);

impl Serialize for Hourly<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (hour, bucket) in self.0 {
            map.serialize_entry(hour, &AsMap(bucket))?;
        }
        map.end()
    }
}

/// `score_record`: what the API serves of one constituent, as JSON — the state's public fields (its
/// `to_json` without readings.py's `INTERNAL_FIELDS`, written directly rather than built as a tree and
/// pruned) and its scores, when, by which model.
pub fn score_record(state: &State, model: &Model, updated_at: f64, model_version: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(1024);
    let written = write_record(&mut out, state, model, updated_at, model_version);
    debug_assert!(written.is_ok());
    out
}

fn write_record(
    out: &mut Vec<u8>,
    state: &State,
    model: &Model,
    updated_at: f64,
    model_version: &str,
) -> Result<(), serde_json::Error> {
    let mut serializer = serde_json::Serializer::new(out);
    let mut map = serializer.serialize_map(None)?;
    map.serialize_entry("constituent_id", &state.constituent_id)?;
    map.serialize_entry("reference_time", &state.reference_time)?;
    map.serialize_entry("contributions", &AsMap(&state.contributions))?;
    map.serialize_entry("counts", &AsMap(&state.counts))?;
    map.serialize_entry("hourly", &Hourly(&state.hourly))?;
    map.serialize_entry("last_touch", &AsMap(&state.last_touch))?;
    map.serialize_entry("roles", &state.roles)?;
    map.serialize_entry("events", &state.events)?;
    map.serialize_entry("giving", &AsMap(&state.giving))?;
    map.serialize_entry("timeline", &state.timeline)?;
    map.serialize_entry("score_alert_opened_at", &state.score_alert_opened_at)?;
    let recovery: Vec<Value> = state.recovery.iter().map(|c| c.to_json()).collect();
    map.serialize_entry("recovery", &recovery)?;
    let [overall, content, operations, principles] = scores_at(state, model, state.reference_time);
    let scores = [
        ("overall", round2(overall)),
        ("content", round2(content)),
        ("operations", round2(operations)),
        ("principles", round2(principles)),
    ];
    map.serialize_entry("scores", &AsMap(&scores))?;
    map.serialize_entry("updated_at", &updated_at)?;
    map.serialize_entry("model_version", model_version)?;
    map.end()
}

/// `deadline_entry`: the earliest deadline, where to send its tick, and the pending hand-offs by rule;
/// None when the person is owed nothing.
pub fn deadline_entry(state: &State, partition: u32) -> Option<Value> {
    let deadline = [
        handoffs::next_deadline(&state.handoffs),
        recovery::next_deadline(&state.recovery),
    ]
    .into_iter()
    .flatten()
    .filter(|d| *d != 0.0)
    .reduce(f64::min)?;
    let mut owed: Map<String, Value> = Map::new();
    for handoff in state
        .handoffs
        .iter()
        .filter(|h| h.status == Status::Pending)
    {
        let count = owed.get(&handoff.rule).and_then(Value::as_i64).unwrap_or(0);
        owed.insert(handoff.rule.clone(), json!(count + 1));
    }
    Some(json!({"deadline": deadline, "partition": partition, "rules": owed}))
}
