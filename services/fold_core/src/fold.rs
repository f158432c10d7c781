//! One event folded into a constituent's state: `apply_event` of services/domain/scoring.py, step for
//! step (that module is the specification; a differential test holds the two to the same floats).

use crate::dedup;
use crate::model::{Model, RETAINED_HOURS, SECONDS_PER_HOUR};
use crate::python_numbers::{floordiv_int, py_eq, round2};
use crate::state::{entry, get, State, Touch};
use serde::Deserialize;
use serde_json::{Map, Value};

pub const OTHER: &str = "other";
const GIVING_PERIOD_SECONDS: f64 = 30.0 * 86400.0;
const GIVING_PERIODS_KEPT: i64 = 12;

#[derive(Deserialize)]
pub struct Event {
    pub event_id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub source: String,
    #[serde(default)]
    pub attributes: Option<Map<String, Value>>,
    #[serde(default)]
    pub occurred_at: Option<String>, // RFC 3339, as sent (alerts carry it)
    #[serde(default)]
    pub department: Option<Value>,
    #[serde(default)]
    pub constituent_id: Option<String>,
    #[serde(default)]
    pub correlation_id: Value, // Null when absent, as `event.get("correlation_id")`
}

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum Outcome {
    Scored,
    Duplicate,
    UnknownType,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Scored => "scored",
            Outcome::Duplicate => "duplicate",
            Outcome::UnknownType => "unknown_type",
        }
    }
}

pub fn apply_event(state: &mut State, event: &Event, event_time: f64, model: &Model) -> Outcome {
    let key = format!("{}:{}", event.source, event.event_id);
    if !dedup::first_time(&mut state.seen, &key, event_time) {
        return Outcome::Duplicate;
    }
    let counted_source = if model.knows_source(&event.source) {
        event.source.as_str()
    } else {
        OTHER
    };
    let impact = model.impacts.get(&event.event_type);
    let counted_type = if impact.is_some() {
        event.event_type.as_str()
    } else {
        OTHER
    };
    state.events += 1;
    count(
        state,
        &format!("{counted_source}|{counted_type}"),
        event_time,
    );
    let newest = entry(&mut state.last_touch, &counted_source.to_owned(), || 0.0);
    *newest = newest.max(event_time);
    remember(
        state,
        (
            event_time,
            event.source.clone(),
            event.event_type.clone(),
            event.event_id.clone(),
        ),
        model,
    );
    if event.event_type == "donation.succeeded" {
        count_gift(state, event, event_time);
    }
    if let Some(rules) = model.roles_by_type.get(&event.event_type) {
        for rule in rules {
            if !state.roles.contains(&rule.role) && matches(&rule.attributes, event) {
                state.roles.push(rule.role.clone());
                state.roles.sort();
            }
        }
    }
    let Some(impact) = impact else {
        return Outcome::UnknownType;
    };
    let weight = if event_time > state.reference_time {
        let factor = model.decay(event_time - state.reference_time);
        for (_, sums) in state.contributions.iter_mut() {
            for value in sums.iter_mut() {
                *value *= factor;
            }
        }
        state.reference_time = event_time;
        1.0
    } else {
        model.decay(state.reference_time - event_time)
    };
    let sums = entry(&mut state.contributions, &event.event_type, || [0.0; 3]);
    sums[0] += weight * impact.content;
    sums[1] += weight * impact.operations;
    sums[2] += weight * impact.principles;
    Outcome::Scored
}

pub fn matches(wanted: &Map<String, Value>, event: &Event) -> bool {
    wanted.iter().all(|(name, value)| {
        let present = event
            .attributes
            .as_ref()
            .and_then(|a| a.get(name))
            .unwrap_or(&Value::Null);
        py_eq(present, value)
    })
}

fn hour_of(epoch: f64) -> i64 {
    floordiv_int(epoch, SECONDS_PER_HOUR)
}

fn count(state: &mut State, key: &str, event_time: f64) {
    *entry(&mut state.counts, &key.to_owned(), || 0) += 1;
    let newest_hour = if state.last_touch.is_empty() {
        hour_of(event_time)
    } else {
        hour_of(state.last_event_at())
    };
    let hour = hour_of(event_time);
    let oldest_kept = newest_hour.max(hour) - RETAINED_HOURS;
    if hour > oldest_kept {
        let bucket = entry(&mut state.hourly, &hour, Vec::new);
        *entry(bucket, &key.to_owned(), || 0) += 1;
    }
    if hour > newest_hour {
        state.hourly.retain(|(h, _)| *h > oldest_kept);
    }
}

fn count_gift(state: &mut State, event: &Event, event_time: f64) {
    let amount = match event.attributes.as_ref().and_then(|a| a.get("amount")) {
        Some(Value::Number(n)) => match n.as_f64() {
            Some(a) if a.is_finite() => a,
            _ => return,
        },
        _ => return,
    };
    let period = floordiv_int(event_time, GIVING_PERIOD_SECONDS);
    let newest = state.giving.iter().map(|(p, _)| *p).max().unwrap_or(period);
    if period <= newest.max(period) - GIVING_PERIODS_KEPT {
        return;
    }
    let held = get(&state.giving, &period).copied().unwrap_or(0.0);
    *entry(&mut state.giving, &period, || 0.0) = round2(held + amount);
    if period > newest {
        state
            .giving
            .retain(|(p, _)| *p > period - GIVING_PERIODS_KEPT);
    }
}

fn touch_cmp(a: &Touch, b: &Touch) -> std::cmp::Ordering {
    a.0.partial_cmp(&b.0)
        .unwrap_or(std::cmp::Ordering::Equal)
        .then_with(|| a.1.cmp(&b.1))
        .then_with(|| a.2.cmp(&b.2))
        .then_with(|| a.3.cmp(&b.3))
}

/// Keep the newest `timeline_length` touchpoints by (event time, id): the same set whatever the order.
fn remember(state: &mut State, touch: Touch, model: &Model) {
    let length = model.timeline_length;
    if length == 0
        || (state.timeline.len() >= length && touch_cmp(&touch, &state.timeline[0]).is_le())
    {
        return;
    }
    let at = state
        .timeline
        .partition_point(|t| touch_cmp(t, &touch).is_le()); // insort: after equals
    state.timeline.insert(at, touch);
    let extra = state.timeline.len().saturating_sub(length);
    state.timeline.drain(..extra);
}

/// The scores at instant `at` (never earlier than the newest scored event): overall, content,
/// operations, principles (`scores_at`).
pub fn scores_at(state: &State, model: &Model, at: f64) -> [f64; 4] {
    let (mut content, mut operations, mut principles) = (0.0, 0.0, 0.0);
    for (_, sums) in &state.contributions {
        content += sums[0];
        operations += sums[1];
        principles += sums[2];
    }
    let factor = if state.contributions.is_empty() {
        1.0
    } else {
        model.decay((at - state.reference_time).max(0.0))
    };
    scores_from_totals(
        model,
        [content * factor, operations * factor, principles * factor],
    )
}

/// `scores_from_totals`: overall, content, operations, principles from impact sums.
pub fn scores_from_totals(model: &Model, totals: [f64; 3]) -> [f64; 4] {
    let dimension = |sum: f64| {
        let room = if sum >= 0.0 {
            100.0 - model.baseline
        } else {
            model.baseline
        };
        model.baseline + room * (sum / model.saturation).tanh()
    };
    let (c, o, p) = (
        dimension(totals[0]),
        dimension(totals[1]),
        dimension(totals[2]),
    );
    let w = model.weights;
    [w.content * c + w.operations * o + w.principles * p, c, o, p]
}

/// `giving_12_months`: what the constituent gave in the twelve 30-day periods up to their newest gift.
pub fn giving_12_months(state: &State) -> f64 {
    round2(
        state
            .giving
            .iter()
            .fold(0.0, |sum, (_, amount)| sum + amount),
    )
}
