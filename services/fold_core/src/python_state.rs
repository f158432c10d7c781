//! A state written by the Python model (`ConstituentState.to_dict()`, as the changelog holds it today)
//! read into the core: how a restore moves from the Python scorer's states to the core's bytes. The
//! scoring fields only, for now; their order is kept (serde_json's `preserve_order`), as the sums need.

use crate::dedup::Token;
use crate::handoffs::{EarlyFollowUp, Handoff, Status};
use crate::recovery::{Case, Early};
use crate::state::State;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;

#[derive(Deserialize)]
struct PythonFailedTransaction {
    alert: serde_json::Map<String, Value>,
    failures: Vec<(f64, String)>,
}

/// A hand-off as the Python model's dict holds it (the optional keys absent until set).
#[derive(Deserialize)]
struct PythonHandoff {
    rule: String,
    constituent_id: String,
    source: String,
    trigger_event_id: String,
    #[serde(default)]
    correlation_id: Value,
    deadline: f64,
    status: String,
    settled_at: Option<f64>,
    #[serde(default)]
    bounced_at: Option<f64>,
    #[serde(default)]
    suppressed: bool,
    #[serde(default)]
    cancelled_by: Option<String>,
    #[serde(default)]
    resolved_at_iso: Option<String>,
    #[serde(default)]
    broken_at_iso: Option<String>,
}

#[derive(Deserialize)]
struct PythonEarlyFollowUp {
    rule: String,
    #[serde(default)]
    correlation_id: Value,
    #[serde(default)]
    bounce: bool,
    time: f64,
    event_id: String,
}

#[derive(Deserialize)]
struct PythonState {
    constituent_id: String,
    #[serde(default)]
    reference_time: f64,
    #[serde(default)]
    contributions: indexmap::IndexMap<String, [f64; 3]>,
    #[serde(default)]
    seen_event_ids: indexmap::IndexMap<String, String>,
    #[serde(default)]
    counts: indexmap::IndexMap<String, i64>,
    #[serde(default)]
    hourly: indexmap::IndexMap<String, indexmap::IndexMap<String, i64>>,
    #[serde(default)]
    last_touch: indexmap::IndexMap<String, f64>,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    events: i64,
    #[serde(default)]
    giving: indexmap::IndexMap<String, f64>,
    #[serde(default)]
    timeline: Vec<(f64, String, String, String)>,
    #[serde(default)]
    score_peaks: indexmap::IndexMap<String, f64>,
    #[serde(default)]
    score_alerts_opened: i64,
    #[serde(default)]
    score_alert_opened_at: Option<String>,
    #[serde(default)]
    failed_transaction: Option<PythonFailedTransaction>,
    #[serde(default)]
    handoffs: Vec<PythonHandoff>,
    #[serde(default)]
    early_follow_ups: Vec<PythonEarlyFollowUp>,
    #[serde(default)]
    recovery: Vec<Value>,
    #[serde(default)]
    recovery_early: Vec<Value>,
    #[serde(default)]
    report_windows: indexmap::IndexMap<String, indexmap::IndexMap<String, [i64; 3]>>,
    #[serde(default)]
    role_since: indexmap::IndexMap<String, f64>,
    #[serde(flatten)]
    _rest: HashMap<String, Value>, // the fields the core does not fold yet
}

fn number(key: &str, what: &str) -> Result<i64, String> {
    key.parse()
        .map_err(|_| format!("{what} {key:?} is not a whole number"))
}

fn tokens(text: &str) -> Result<Vec<Token>, String> {
    if !text.len().is_multiple_of(11) {
        return Err("seen_event_ids: tokens are 11 characters each".into());
    }
    (0..text.len())
        .step_by(11)
        .map(|at| {
            let bytes = URL_SAFE_NO_PAD
                .decode(&text[at..at + 11])
                .map_err(|e| format!("seen_event_ids: {e}"))?;
            bytes
                .try_into()
                .map_err(|_| "seen_event_ids: a token is not 8 bytes".to_string())
        })
        .collect()
}

pub fn from_python_json(text: &[u8]) -> Result<State, String> {
    let p: PythonState = serde_json::from_slice(text).map_err(|e| format!("state: {e}"))?;
    let mut state = State::new(&p.constituent_id);
    state.reference_time = p.reference_time;
    state.contributions = p.contributions.into_iter().collect();
    state.seen = p
        .seen_event_ids
        .iter()
        .map(|(day, text)| Ok((number(day, "day")?, tokens(text)?)))
        .collect::<Result<_, String>>()?;
    state.counts = p.counts.into_iter().collect();
    state.hourly = p
        .hourly
        .into_iter()
        .map(|(hour, bucket)| Ok((number(&hour, "hour")?, bucket.into_iter().collect())))
        .collect::<Result<_, String>>()?;
    state.last_touch = p.last_touch.into_iter().collect();
    state.roles = p.roles;
    state.events = p.events;
    state.giving = p
        .giving
        .into_iter()
        .map(|(period, amount)| Ok((number(&period, "giving period")?, amount)))
        .collect::<Result<_, String>>()?;
    state.timeline = p.timeline;
    state.score_peaks = p
        .score_peaks
        .into_iter()
        .map(|(hour, peak)| Ok((number(&hour, "score peak hour")?, peak)))
        .collect::<Result<_, String>>()?;
    state.score_alerts_opened = p.score_alerts_opened;
    state.score_alert_opened_at = p.score_alert_opened_at;
    state.failed_transaction =
        p.failed_transaction
            .map(|f| crate::transactions::FailedTransaction {
                alert: f.alert,
                failures: f.failures,
            });
    state.handoffs = p
        .handoffs
        .into_iter()
        .map(|h| {
            Ok(Handoff {
                status: Status::from_name(&h.status)
                    .ok_or_else(|| format!("handoffs: status {:?}", h.status))?,
                rule: h.rule,
                constituent_id: h.constituent_id,
                source: h.source,
                trigger_event_id: h.trigger_event_id,
                correlation_id: h.correlation_id,
                deadline: h.deadline,
                settled_at: h.settled_at,
                bounced_at: h.bounced_at,
                suppressed: h.suppressed,
                cancelled_by: h.cancelled_by,
                resolved_at_iso: h.resolved_at_iso,
                broken_at_iso: h.broken_at_iso,
            })
        })
        .collect::<Result<_, String>>()?;
    state.early_follow_ups = p
        .early_follow_ups
        .into_iter()
        .map(|f| EarlyFollowUp {
            rule: f.rule,
            correlation_id: f.correlation_id,
            bounce: f.bounce,
            time: f.time,
            event_id: f.event_id,
        })
        .collect();
    state.recovery = p
        .recovery
        .iter()
        .map(Case::from_json)
        .collect::<Result<_, String>>()?;
    state.recovery_early = p
        .recovery_early
        .iter()
        .map(Early::from_json)
        .collect::<Result<_, String>>()?;
    state.report_windows = p
        .report_windows
        .into_iter()
        .map(|(window, parts)| (window, parts.into_iter().collect()))
        .collect();
    state.role_since = p.role_since.into_iter().collect();
    Ok(state)
}
