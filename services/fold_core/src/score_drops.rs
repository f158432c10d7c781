//! `score.dropped` (services/domain/alerts/score_drops.py): the highest overall score per hour of the drop
//! window, and the alert that opens when the score crosses into a drop or below the floor and resolves on
//! the way back — once per crossing.

use crate::fold::Event;
use crate::model::Model;
use crate::python_numbers::{floordiv_int, format_g, py_truthy};
use crate::state::{entry, State};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// `note_score`: remember the highest overall score per hour, as long as a drop is measured against it.
pub fn note_score(state: &mut State, at: f64, overall: f64, model: &Model) {
    let hour = floordiv_int(at, 3600.0);
    let peak = entry(&mut state.score_peaks, &hour, || overall);
    if overall > *peak {
        *peak = overall;
    }
    let oldest_kept = hour - model.score_alert.drop_window_hours;
    state.score_peaks.retain(|(h, _)| *h > oldest_kept);
}

fn peak(state: &State, overall: f64) -> f64 {
    let mut peaks = state.score_peaks.iter().map(|(_, p)| *p);
    let first = peaks.next().unwrap_or(overall);
    peaks.fold(first, |m, p| if p > m { p } else { m }) // Python's max: the first of equals
}

/// `derive_alert_id`: a stable id from what identifies the alert.
pub fn derive_alert_id(prefix: &str, parts: &[&str]) -> String {
    let digest = Sha256::digest(parts.join("\x1f").as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("{prefix}-{}", &hex[..20])
}

/// `score_alert_update`: the alert (as `new_alert` builds it) when the score crossed, else None.
pub fn score_alert_update(
    state: &mut State,
    overall: f64,
    model: &Model,
    latest: &Event,
) -> Option<Value> {
    let rule = &model.score_alert;
    let peak = peak(state, overall);
    let dropped_by = peak - overall;
    let breached = dropped_by >= rule.drop_points || overall < rule.floor;
    if breached == state.score_alert_opened_at.is_some() {
        return None;
    }
    let occurred_at = latest.occurred_at.clone();
    let opened_at = if breached {
        state.score_alerts_opened += 1;
        state.score_alert_opened_at = occurred_at.clone();
        occurred_at.clone()
    } else {
        state.score_alert_opened_at.take()
    };
    let id = &state.constituent_id;
    let reason = if dropped_by >= rule.drop_points {
        format!(
            "fell {dropped_by:.1} points from {peak:.1} within {} h",
            rule.drop_window_hours
        )
    } else {
        format!("is below the floor of {}", format_g(rule.floor))
    };
    let departments = match &latest.department {
        Some(d) if py_truthy(d) => vec![d.clone()],
        _ => vec![],
    };
    Some(json!({
        "alert_id": derive_alert_id("score", &[id, &state.score_alerts_opened.to_string()]),
        "kind": "score.dropped",
        "severity": "warning",
        "status": if breached { "open" } else { "resolved" },
        "constituent_id": id,
        "source": latest.source,
        "departments": departments,
        "title": format!("Experience score of {id} dropped to {overall:.1}"),
        "detail": format!("The overall experience score {reason}; latest event {}.", latest.event_type),
        "evidence": [latest.event_id],
        "rule": "score-dropped",
        "opened_at": opened_at,
        "resolved_at": if breached { None } else { occurred_at },
    }))
}
