//! Failed transactions (services/domain/alerts/transactions.py): one alert per person's failing payment,
//! escalated once on repeated failures, resolved by a later success.

use crate::fold::Event;
use crate::python_numbers::{format_g, py_rstrip, py_str, py_truthy};
use crate::score_drops::derive_alert_id;
use crate::state::State;
use serde::Deserialize;
use serde_json::{json, Map, Value};

pub const MAX_EVIDENCE: usize = 20;

/// `FailedTransactionRules`, read from its `model_dump_json()`.
#[derive(Deserialize)]
pub struct TransactionRules {
    pub critical_amount: f64,
    pub escalate_after: usize,
    pub escalate_within_minutes: f64,
}

/// `state.failed_transaction`: the open alert and the failures behind it, (event time, event id) in order.
#[derive(Clone, Debug, PartialEq)]
pub struct FailedTransaction {
    pub alert: Map<String, Value>,
    pub failures: Vec<(f64, String)>,
}

impl FailedTransaction {
    pub fn to_json(&self) -> Value {
        json!({"alert": self.alert, "failures": self.failures.iter().map(|(t, id)| json!([t, id])).collect::<Vec<_>>()})
    }
}

fn amount(event: &Event) -> Option<f64> {
    match event.attributes.as_ref()?.get("amount")? {
        Value::Number(n) => n.as_f64(),
        _ => None,
    }
}

fn attribute<'a>(event: &'a Event, name: &str) -> Option<&'a Value> {
    event.attributes.as_ref().and_then(|a| a.get(name))
}

/// `failed_transaction_alert`: the alert a `donation.failed` opens, critical for recurring or large gifts.
fn opening_alert(event: &Event, rules: &TransactionRules) -> Map<String, Value> {
    let amount = amount(event);
    let recurring = attribute(event, "recurring") == Some(&Value::Bool(true));
    let large = amount.is_some_and(|a| a >= rules.critical_amount);
    let mut what = format!("{}donation", if recurring { "recurring " } else { "" });
    if let Some(amount) = amount {
        let currency = attribute(event, "currency").map(py_str).unwrap_or_default();
        what += py_rstrip(&format!(" of {} {currency}", format_g(amount)));
    }
    let reason = match attribute(event, "error_code") {
        Some(code) if py_truthy(code) => py_str(code),
        _ => "no reason given".to_owned(),
    };
    let constituent = event.constituent_id.clone().unwrap_or_default();
    let departments = match &event.department {
        Some(d) if py_truthy(d) => vec![d.clone()],
        _ => vec![],
    };
    let alert = json!({
        "alert_id": derive_alert_id("transaction", &[&event.source, &event.event_id]),
        "kind": "transaction.failed",
        "severity": if recurring || large { "critical" } else { "warning" },
        "status": "open",
        "constituent_id": constituent,
        "source": event.source,
        "departments": departments,
        "title": format!("Failed {what}"),
        "detail": format!("A {what} by {constituent} failed ({reason})."),
        "evidence": [event.event_id],
        "rule": "failed-transaction",
        "opened_at": event.occurred_at,
        "resolved_at": null,
    });
    match alert {
        Value::Object(map) => map,
        _ => unreachable!("an object"),
    }
}

/// `on_transaction`: open, escalate (once) or resolve the person's failed-payment alert; the alert to
/// publish, if any. `may_open` is false during a storm: a failure is counted, not alerted.
pub fn on_transaction(
    state: &mut State,
    event: &Event,
    event_time: f64,
    rules: &TransactionRules,
    may_open: bool,
) -> Option<Map<String, Value>> {
    if event.event_type == "donation.failed" {
        let Some(current) = state.failed_transaction.as_mut() else {
            if !may_open {
                return None;
            }
            let alert = opening_alert(event, rules);
            state.failed_transaction = Some(FailedTransaction {
                alert: alert.clone(),
                failures: vec![(event_time, event.event_id.clone())],
            });
            return Some(alert);
        };
        current.failures.push((event_time, event.event_id.clone()));
        current.failures.sort_by(|a, b| {
            a.0.partial_cmp(&b.0)
                .unwrap_or(std::cmp::Ordering::Equal)
                .then_with(|| a.1.cmp(&b.1))
        });
        let extra = current.failures.len().saturating_sub(MAX_EVIDENCE);
        current.failures.drain(..extra);
        let window = rules.escalate_within_minutes * 60.0;
        let recent = current
            .failures
            .iter()
            .filter(|(t, _)| event_time - window <= *t && *t <= event_time)
            .count();
        let escalated_already = current.alert.get("escalated").is_some_and(py_truthy);
        if recent < rules.escalate_after || escalated_already {
            return None;
        }
        let minutes = format_g(rules.escalate_within_minutes);
        let mut escalated = current.alert.clone();
        escalated.insert("severity".into(), json!("critical"));
        escalated.insert("escalated".into(), json!(true));
        escalated.insert(
            "title".into(),
            json!(format!("{recent} failed donations within {minutes} min")),
        );
        escalated.insert(
            "detail".into(),
            json!(format!(
                "{} failed to give {recent} times within {minutes} min; the latest failure was at {}.",
                state.constituent_id,
                event.occurred_at.as_deref().map_or("None".to_owned(), str::to_owned)
            )),
        );
        escalated.insert(
            "evidence".into(),
            json!(current
                .failures
                .iter()
                .map(|(_, id)| id)
                .collect::<Vec<_>>()),
        );
        current.alert = escalated.clone();
        return Some(escalated);
    }
    let current = state.failed_transaction.as_ref()?;
    if event.event_type != "donation.succeeded" || event_time < current.failures[0].0 {
        return None;
    }
    let current = state.failed_transaction.take()?;
    let mut last = current.alert;
    let detail = format!(
        "{} Resolved: a later donation succeeded.",
        last.get("detail").map(py_str).unwrap_or_default()
    );
    last.insert("status".into(), json!("resolved"));
    last.insert("resolved_at".into(), json!(event.occurred_at));
    last.insert("detail".into(), json!(detail));
    let mut evidence: Vec<&str> = current.failures.iter().map(|(_, id)| id.as_str()).collect();
    evidence.push(&event.event_id);
    last.insert("evidence".into(), json!(evidence));
    Some(last)
}
