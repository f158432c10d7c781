//! What a batch counts for the systemic rules, which meet across workers: attempts and failures per
//! spike key and 10-second bucket (services/domain/alerts/spikes.py `count_attempts`) and events per
//! watched source key (services/domain/alerts/sources.py `count_sources`).

use crate::fast::IndexMap;
use crate::python_numbers::{floordiv_int, py_truthy};
use serde::Deserialize;
use serde_json::{Map, Value};

pub const BUCKET_SECONDS: f64 = 10.0;
pub const MAX_EVIDENCE: usize = 5;

/// The fields of a `SpikeRule` a batch counts by.
#[derive(Deserialize)]
pub struct SpikeRule {
    pub source: String,
    pub attempt_types: Vec<String>,
    pub failure_types: Vec<String>,
    #[serde(default)]
    pub group_by_attribute: Option<String>,
}

/// `PartialCounts`.
#[derive(Default, Debug, PartialEq)]
pub struct Partial {
    pub attempts: i64,
    pub failures: i64,
    pub evidence: Vec<String>,
}

/// What of a scored event the counts need.
pub struct Counted<'a> {
    pub source: &'a str,
    pub event_type: &'a str,
    pub event_id: &'a str,
    pub attributes: Option<&'a Map<String, Value>>,
    pub time: f64,
}

fn bucket(time: f64) -> i64 {
    floordiv_int(time, BUCKET_SECONDS) * BUCKET_SECONDS as i64
}

fn text_attribute<'a>(attributes: Option<&'a Map<String, Value>>, name: &str) -> Option<&'a str> {
    match attributes?.get(name) {
        Some(Value::String(value)) if !value.is_empty() => Some(value),
        _ => None,
    }
}

/// `spike_key`: `donation`, or `donation/stripe` when the rule groups by an attribute the event names.
fn spike_key(rule: &SpikeRule, event: &Counted) -> String {
    match rule
        .group_by_attribute
        .as_deref()
        .and_then(|name| text_attribute(event.attributes, name))
    {
        Some(value) => format!("{}/{value}", rule.source),
        None => rule.source.clone(),
    }
}

/// `count_attempts`: counts per (rule index, spike key, bucket start).
pub fn count_attempts(
    events: &[Counted],
    rules: &[SpikeRule],
) -> IndexMap<(usize, String, i64), Partial> {
    let mut counts: IndexMap<(usize, String, i64), Partial> = IndexMap::default();
    for event in events {
        for (index, rule) in rules.iter().enumerate() {
            if event.source != rule.source
                || !rule.attempt_types.iter().any(|t| t == event.event_type)
            {
                continue;
            }
            let partial = counts
                .entry((index, spike_key(rule, event), bucket(event.time)))
                .or_default();
            partial.attempts += 1;
            if rule.failure_types.iter().any(|t| t == event.event_type) {
                partial.failures += 1;
                if partial.evidence.len() < MAX_EVIDENCE {
                    partial.evidence.push(event.event_id.to_owned());
                }
            }
        }
    }
    counts
}

/// `source_keys`: `donation` and `donation/stripe` for a Stripe donation event; `web` for a page view.
fn source_keys(event: &Counted) -> Vec<String> {
    let attribute = |name: &str| {
        event
            .attributes
            .and_then(|a| a.get(name))
            .filter(|v| py_truthy(v))
    };
    let by = attribute("processor").or_else(|| attribute("provider"));
    match by {
        Some(Value::String(by)) if !by.is_empty() => {
            vec![event.source.to_owned(), format!("{}/{by}", event.source)]
        }
        _ => vec![event.source.to_owned()],
    }
}

/// `count_sources`: events per watched source key and bucket.
pub fn count_sources(
    events: &[Counted],
    watched: &[String],
) -> IndexMap<String, IndexMap<i64, i64>> {
    let mut counts: IndexMap<String, IndexMap<i64, i64>> = IndexMap::default();
    if watched.is_empty() {
        return counts;
    }
    for event in events {
        for key in source_keys(event) {
            if watched.contains(&key) {
                *counts
                    .entry(key)
                    .or_default()
                    .entry(bucket(event.time))
                    .or_insert(0) += 1;
            }
        }
    }
    counts
}
