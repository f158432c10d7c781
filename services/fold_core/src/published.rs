//! What the scorer writes for a changed person besides their state: the score record of
//! `constituent-scores` (services/domain/readings.py `score_record`) and the deadline timer's entry
//! (services/scorer/outgoing.py `deadline_entry`), both the specification.

use crate::fold::scores_at;
use crate::handoffs::{self, Status};
use crate::model::Model;
use crate::python_numbers::round2;
use crate::recovery;
use crate::state::State;
use serde_json::{json, Map, Value};

/// What the scorer keeps for itself: not published.
pub const INTERNAL_FIELDS: [&str; 9] = [
    "seen_event_ids",
    "score_peaks",
    "score_alerts_opened",
    "failed_transaction",
    "handoffs",
    "early_follow_ups",
    "recovery_early",
    "report_windows",
    "role_since",
];

/// `score_record`: what the API serves of one constituent.
pub fn score_record(state: &State, model: &Model, updated_at: f64, model_version: &str) -> Value {
    let Value::Object(mut published) = state.to_json() else {
        unreachable!("a state is a JSON object")
    };
    for internal in INTERNAL_FIELDS {
        published.shift_remove(internal);
    }
    let [overall, content, operations, principles] = scores_at(state, model, state.reference_time);
    published.insert(
        "scores".into(),
        json!({
            "overall": round2(overall),
            "content": round2(content),
            "operations": round2(operations),
            "principles": round2(principles),
        }),
    );
    published.insert("updated_at".into(), json!(updated_at));
    published.insert("model_version".into(), json!(model_version));
    Value::Object(published)
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
