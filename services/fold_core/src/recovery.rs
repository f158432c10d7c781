//! Recurring-gift recovery (services/domain/alerts/recovery.py, the specification, step for step): a
//! failed instalment opens a case that follows the dunning path — failed → recovery email sent →
//! delivered (or bounced) → payment method updated → recovered, or lost — and stalls with one alert.

use crate::python_numbers::{format_g, py_eq, py_rstrip, py_str, py_truthy};
use crate::python_time::iso;
use crate::score_drops::derive_alert_id;
use serde::Deserialize;
use serde_json::{json, Map, Value};

pub const MAX_CASES: usize = 5;
pub const MAX_EARLY: usize = 10;
pub const EARLY_KEPT_S: f64 = 2.0 * 86400.0;
pub const CLOSED_KEPT_FOR_S: f64 = 30.0 * 86400.0;
const DAY: f64 = 86400.0;
const HOUR: f64 = 3600.0;
const EVENT_TYPES: [&str; 7] = [
    "donation.failed",
    "donation.succeeded",
    "donation.recurring_cancelled",
    "donation.payment_method_updated",
    "email.sent",
    "email.delivered",
    "email.bounced",
];

/// `RecoveryRules`, read from its `model_dump_json()`.
#[derive(Deserialize)]
pub struct RecoveryRules {
    pub email_template: String,
    pub email_within_hours: f64,
    pub update_within_days: f64,
    pub lost_after_days: f64,
    pub severity: String,
}

/// What of an event recovery reads: its id, type and attributes (an object, else none).
pub struct Step<'a> {
    pub event_id: &'a str,
    pub event_type: &'a str,
    pub attributes: &'a Map<String, Value>,
}

/// One case (the Python model's dict; keys it sets later as options, in the order it first sets them).
#[derive(Clone, Debug, PartialEq)]
pub struct Case {
    pub case_id: String,
    pub subscription: Option<String>,
    pub opened_at: f64,
    pub amount: f64,
    pub currency: Value,
    pub attempts: i64,
    pub facts: Vec<(String, f64)>,
    pub evidence: Vec<String>,
    pub extra: Map<String, Value>, // outcome, closed_at, lost_reason, recovered_amount, alerted, stall…, due_at
}

/// A step seen before its failure: the event as kept (id, type, the attributes recovery reads) and when.
#[derive(Clone, Debug, PartialEq)]
pub struct Early {
    pub event_id: String,
    pub event_type: String,
    pub attributes: Map<String, Value>,
    pub time: f64,
}

/// A case that ended in an update, for the metrics and the report.
#[derive(Clone, Debug, PartialEq)]
pub struct Closed {
    pub outcome: &'static str,
    pub amount: f64,
    pub seconds: f64,
    pub at: f64,
}

#[derive(Default)]
pub struct Update {
    pub alerts: Vec<Value>,
    pub opened: usize,
    pub closed: Vec<Closed>,
}

impl Case {
    fn get(&self, key: &str) -> Option<&Value> {
        self.extra.get(key)
    }

    fn outcome(&self) -> Option<&str> {
        self.get("outcome")
            .filter(|v| py_truthy(v))
            .and_then(Value::as_str)
    }

    fn alerted(&self) -> bool {
        self.get("alerted").is_some_and(py_truthy)
    }

    fn fact(&self, name: &str) -> Option<f64> {
        self.facts.iter().find(|(k, _)| k == name).map(|(_, t)| *t)
    }

    fn set(&mut self, key: &str, value: Value) {
        self.extra.insert(key.to_owned(), value);
    }

    fn float(&self, key: &str) -> Option<f64> {
        self.get(key).and_then(Value::as_f64)
    }

    pub fn to_json(&self) -> Value {
        let mut map = Map::new();
        map.insert("case_id".into(), json!(self.case_id));
        map.insert("subscription".into(), json!(self.subscription));
        map.insert("opened_at".into(), json!(self.opened_at));
        map.insert("amount".into(), json!(self.amount));
        map.insert("currency".into(), self.currency.clone());
        map.insert("attempts".into(), json!(self.attempts));
        let facts: Map<String, Value> = self
            .facts
            .iter()
            .map(|(k, t)| (k.clone(), json!(t)))
            .collect();
        map.insert("facts".into(), Value::Object(facts));
        map.insert("evidence".into(), json!(self.evidence));
        map.extend(self.extra.clone());
        Value::Object(map)
    }

    pub fn from_json(value: &Value) -> Result<Case, String> {
        let mut map = value
            .as_object()
            .ok_or("a recovery case that is not an object")?
            .clone();
        let mut take = |key: &str| {
            map.remove(key)
                .ok_or(format!("a recovery case without {key}"))
        };
        let number = |v: Value, key: &str| {
            v.as_f64()
                .ok_or(format!("recovery case {key}: not a number"))
        };
        let case_id = take("case_id")?
            .as_str()
            .ok_or("a case_id that is not text")?
            .to_owned();
        let subscription = take("subscription")?.as_str().map(str::to_owned);
        let opened_at = number(take("opened_at")?, "opened_at")?;
        let amount = number(take("amount")?, "amount")?;
        let currency = take("currency")?;
        let attempts = take("attempts")?
            .as_i64()
            .ok_or("recovery case attempts: not a whole number")?;
        let facts = match take("facts")? {
            Value::Object(facts) => facts
                .into_iter()
                .map(|(k, t)| Ok((k, number(t, "fact")?)))
                .collect::<Result<_, String>>()?,
            _ => return Err("recovery case facts: not an object".into()),
        };
        let evidence =
            serde_json::from_value(take("evidence")?).map_err(|e| format!("evidence: {e}"))?;
        Ok(Case {
            case_id,
            subscription,
            opened_at,
            amount,
            currency,
            attempts,
            facts,
            evidence,
            extra: map,
        })
    }
}

impl Early {
    pub fn to_json(&self) -> Value {
        json!({
            "event": {"event_id": self.event_id, "type": self.event_type, "attributes": self.attributes},
            "time": self.time,
        })
    }

    pub fn from_json(value: &Value) -> Result<Early, String> {
        let event = value
            .get("event")
            .ok_or("an early recovery step without its event")?;
        let text = |key: &str| event.get(key).and_then(Value::as_str).map(str::to_owned);
        Ok(Early {
            event_id: text("event_id").ok_or("an early step without event_id")?,
            event_type: text("type").ok_or("an early step without type")?,
            attributes: event
                .get("attributes")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
            time: value
                .get("time")
                .and_then(Value::as_f64)
                .ok_or("an early step without time")?,
        })
    }

    fn step(&self) -> Step<'_> {
        Step {
            event_id: &self.event_id,
            event_type: &self.event_type,
            attributes: &self.attributes,
        }
    }
}

/// `_number`: an int or float (not a bool) as a float.
fn number(value: Option<&Value>) -> Option<f64> {
    match value? {
        Value::Number(n) => n.as_f64(),
        _ => None,
    }
}

/// `x or y` of a float: y when x is none or 0.
fn or_else(x: Option<f64>, y: f64) -> f64 {
    x.filter(|&v| v != 0.0).unwrap_or(y)
}

fn subscription(attributes: &Map<String, Value>) -> Option<String> {
    attributes
        .get("subscription")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

fn recurring(attributes: &Map<String, Value>) -> bool {
    attributes.get("recurring") == Some(&Value::Bool(true))
}

/// `step_of`.
pub fn step_of(case: &Case) -> &str {
    if let Some(outcome) = case.outcome() {
        return outcome;
    }
    if case.fact("method_updated_at").is_some() {
        return "method_updated";
    }
    if let Some(bounced) = case.fact("bounced_at") {
        if bounced >= case.fact("delivered_at").unwrap_or(f64::NEG_INFINITY) {
            return "email_bounced";
        }
    }
    if case.fact("delivered_at").is_some() {
        return "email_delivered";
    }
    if case.fact("email_sent_at").is_some() {
        return "email_sent";
    }
    "failed"
}

fn email_fact(event_type: &str) -> Option<&'static str> {
    match event_type {
        "email.sent" => Some("email_sent_at"),
        "email.delivered" => Some("delivered_at"),
        "email.bounced" => Some("bounced_at"),
        _ => None,
    }
}

/// `_is_step`: a step of the dunning path (not a failure).
fn is_step(step: &Step, rules: &RecoveryRules) -> bool {
    let template = step.attributes.get("template").unwrap_or(&Value::Null);
    (email_fact(step.event_type).is_some() && py_eq(template, &json!(rules.email_template)))
        || matches!(
            step.event_type,
            "donation.payment_method_updated" | "donation.recurring_cancelled"
        )
        || (step.event_type == "donation.succeeded" && recurring(step.attributes))
}

/// `concerns`: whether `on_event` could act on the event.
pub fn concerns(step: &Step, rules: &RecoveryRules) -> bool {
    if !EVENT_TYPES.contains(&step.event_type) {
        return false;
    }
    if step.event_type == "donation.failed" {
        return recurring(step.attributes);
    }
    is_step(step, rules)
}

/// `on_event`: fold one event into the person's cases; the alert updates and outcomes it causes.
pub fn on_event(
    cases: &mut Vec<Case>,
    early: &mut Vec<Early>,
    constituent_id: &str,
    step: &Step,
    event_time: f64,
    rules: &RecoveryRules,
) -> Update {
    let mut update = Update::default();
    if step.event_type == "donation.failed" && recurring(step.attributes) {
        let opened_at = open(cases, step, event_time, &mut update);
        let mut due: Vec<Early> = early
            .iter()
            .filter(|f| f.time >= opened_at)
            .cloned()
            .collect();
        due.sort_by(|a, b| {
            a.time
                .partial_cmp(&b.time)
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        for fact in due {
            if apply(
                cases,
                &fact.step(),
                fact.time,
                rules,
                &mut update,
                constituent_id,
            ) {
                if let Some(at) = early.iter().position(|f| *f == fact) {
                    early.remove(at);
                }
            }
        }
    } else if !apply(cases, step, event_time, rules, &mut update, constituent_id)
        && is_step(step, rules)
    {
        let wanted = [
            "template",
            "recurring",
            "subscription",
            "amount",
            "currency",
        ];
        let attributes = wanted
            .iter()
            .filter_map(|&name| {
                step.attributes
                    .get(name)
                    .map(|v| (name.to_owned(), v.clone()))
            })
            .collect();
        early.push(Early {
            event_id: step.event_id.to_owned(),
            event_type: step.event_type.to_owned(),
            attributes,
            time: event_time,
        });
        let newest = early
            .iter()
            .map(|f| f.time)
            .fold(f64::NEG_INFINITY, f64::max);
        early.retain(|f| f.time > newest - EARLY_KEPT_S);
        let extra = early.len().saturating_sub(MAX_EARLY);
        early.drain(..extra);
    }
    for case in cases.iter_mut() {
        if case.outcome().is_none() && step_of(case) == "email_bounced" && !case.alerted() {
            let why = "the recovery email bounced";
            update
                .alerts
                .push(stalled(case, constituent_id, event_time, rules, why));
        }
    }
    forget(cases, None);
    schedule(cases, rules);
    update
}

/// `_open`: the open case of this failure's subscription (a new one if none), the failure counted; its
/// `opened_at`.
fn open(cases: &mut Vec<Case>, step: &Step, event_time: f64, update: &mut Update) -> f64 {
    let subscription = subscription(step.attributes);
    let at = match open_cases(cases, subscription.as_deref()).first() {
        Some(&at) => at,
        None => {
            let id_of = match &subscription {
                Some(named) if !named.is_empty() => named.clone(), // `subscription or event_id`
                _ => step.event_id.to_owned(),
            };
            let currency = match step.attributes.get("currency") {
                Some(c) if py_truthy(c) => c.clone(),
                _ => json!(""),
            };
            cases.push(Case {
                case_id: derive_alert_id("case", &[&id_of])[5..].to_owned(),
                subscription,
                opened_at: event_time,
                amount: or_else(number(step.attributes.get("amount")), 0.0),
                currency,
                attempts: 0,
                facts: Vec::new(),
                evidence: Vec::new(),
                extra: Map::new(),
            });
            update.opened += 1;
            cases.len() - 1
        }
    };
    let case = &mut cases[at];
    if event_time < case.opened_at {
        case.opened_at = event_time; // min()
    }
    let attempt = or_else(number(step.attributes.get("attempt")), 0.0).trunc() as i64; // int(attempt or 0)
    case.attempts = (case.attempts + 1).max(attempt);
    evidence(case, step.event_id);
    case.opened_at
}

/// `_open_cases`: indices of the open cases of a subscription (any, when none is named).
fn open_cases(cases: &[Case], subscription: Option<&str>) -> Vec<usize> {
    (0..cases.len())
        .filter(|&n| {
            let c = &cases[n];
            c.outcome().is_none()
                && (subscription.is_none()
                    || c.subscription.is_none()
                    || c.subscription.as_deref() == subscription)
        })
        .collect()
}

/// `_apply`: a step of the path applied to the cases it concerns (those it comes after); true if any.
fn apply(
    cases: &mut [Case],
    step: &Step,
    event_time: f64,
    rules: &RecoveryRules,
    update: &mut Update,
    constituent_id: &str,
) -> bool {
    if !is_step(step, rules) {
        return false;
    }
    let kind = step.event_type;
    let noted = email_fact(kind).is_some() || kind == "donation.payment_method_updated";
    let mine: Vec<usize> = if noted {
        let subscription = if kind == "donation.payment_method_updated" {
            None
        } else {
            subscription(step.attributes)
        };
        (0..cases.len())
            .filter(|&n| {
                let c = &cases[n];
                c.opened_at <= event_time
                    && event_time <= c.float("closed_at").unwrap_or(event_time)
                    && (subscription.is_none()
                        || c.subscription.is_none()
                        || c.subscription == subscription)
            })
            .collect()
    } else {
        open_cases(cases, subscription(step.attributes).as_deref())
            .into_iter()
            .filter(|&n| cases[n].opened_at <= event_time)
            .collect()
    };
    for &n in &mine {
        let case = &mut cases[n];
        if noted {
            note(
                case,
                email_fact(kind).unwrap_or("method_updated_at"),
                event_time,
                step.event_id,
            );
        } else if kind == "donation.succeeded" {
            let recovered = or_else(number(step.attributes.get("amount")), case.amount);
            case.set("recovered_amount", json!(recovered));
            close(
                case,
                "recovered",
                event_time,
                Some(step.event_id),
                rules,
                update,
                constituent_id,
                "",
            );
        } else {
            close(
                case,
                "lost",
                event_time,
                Some(step.event_id),
                rules,
                update,
                constituent_id,
                "cancelled",
            );
        }
    }
    !mine.is_empty()
}

fn note(case: &mut Case, fact: &str, event_time: f64, event_id: &str) {
    match case.facts.iter_mut().find(|(k, _)| k == fact) {
        Some((_, t)) => {
            if event_time > *t {
                *t = event_time; // max(facts.get(fact, event_time), event_time)
            }
        }
        None => case.facts.push((fact.to_owned(), event_time)),
    }
    evidence(case, event_id);
}

fn evidence(case: &mut Case, event_id: &str) {
    if !case.evidence.iter().any(|e| e == event_id) {
        case.evidence.push(event_id.to_owned());
        let extra = case.evidence.len().saturating_sub(10);
        case.evidence.drain(..extra);
    }
}

#[allow(clippy::too_many_arguments)]
fn close(
    case: &mut Case,
    outcome: &'static str,
    at: f64,
    event_id: Option<&str>,
    rules: &RecoveryRules,
    update: &mut Update,
    constituent_id: &str,
    reason: &str,
) {
    if case.outcome().is_some() {
        return;
    }
    case.set("outcome", json!(outcome));
    case.set("closed_at", json!(at));
    if !reason.is_empty() {
        case.set("lost_reason", json!(reason));
    }
    if let Some(event_id) = event_id {
        evidence(case, event_id);
    }
    let amount = if outcome == "recovered" {
        or_else(case.float("recovered_amount"), case.amount)
    } else {
        case.amount
    };
    let days = (at - case.opened_at) / DAY;
    let seconds = at - case.opened_at;
    update.closed.push(Closed {
        outcome,
        amount,
        seconds: if seconds > 0.0 { seconds } else { 0.0 },
        at,
    });
    if case.alerted() {
        let how = if outcome == "recovered" {
            let currency = py_str(&case.currency);
            format!(
                "Recovered: {} {currency} received {days:.1} days after the failure.",
                format_g(amount)
            )
        } else {
            let why = if reason == "cancelled" {
                "the subscription was cancelled"
            } else {
                "no recovery in time"
            };
            format!("Lost: {why}.")
        };
        update
            .alerts
            .push(alert(case, constituent_id, rules, "resolved", &how, at));
        case.set("alerted", json!(false));
    }
}

fn stalled(
    case: &mut Case,
    constituent_id: &str,
    at: f64,
    rules: &RecoveryRules,
    why: &str,
) -> Value {
    case.set("alerted", json!(true));
    case.set("stalled_at", json!(at));
    case.set("stall", json!(why));
    alert(case, constituent_id, rules, "open", "", at)
}

/// `_alert`: the `recurring.recovery` alert of a case.
fn alert(
    case: &Case,
    constituent_id: &str,
    rules: &RecoveryRules,
    status: &str,
    outcome: &str,
    at: f64,
) -> Value {
    let amount = py_rstrip(&format!(
        "{} {}",
        format_g(case.amount),
        py_str(&case.currency)
    ))
    .to_owned();
    let why = case.get("stall").map(py_str).unwrap_or_default();
    let detail = format!(
        "A failed recurring gift of {amount} ({} failed attempt(s)) stalled: {why}.",
        case.attempts
    );
    json!({
        "alert_id": derive_alert_id("recovery", &[constituent_id, &case.case_id]),
        "kind": "recurring.recovery",
        "severity": rules.severity,
        "status": status,
        "constituent_id": constituent_id,
        "source": "donation",
        "departments": ["fundraising", "marketing"],
        "title": format!("Recurring gift of {amount} not being recovered: {why}"),
        "detail": py_rstrip(&format!("{detail} {outcome}")),
        "evidence": case.evidence,
        "rule": "recurring-recovery",
        "opened_at": iso(case.float("stalled_at").unwrap_or(at)),
        "resolved_at": if status == "resolved" { Some(iso(at)) } else { None },
    })
}

/// `expire`: stall or lose the open cases whose deadlines the watermark passed.
pub fn expire(
    cases: &mut Vec<Case>,
    constituent_id: &str,
    watermark: f64,
    rules: &RecoveryRules,
) -> Update {
    let mut update = Update::default();
    for case in cases.iter_mut() {
        if case.outcome().is_some() {
            continue;
        }
        let lost_at = case.opened_at + rules.lost_after_days * DAY;
        if lost_at <= watermark {
            close(
                case,
                "lost",
                lost_at,
                None,
                rules,
                &mut update,
                constituent_id,
                "deadline",
            );
            continue;
        }
        if let Some((due, why)) = stall_due(case, rules) {
            if due <= watermark && !case.alerted() {
                update
                    .alerts
                    .push(stalled(case, constituent_id, due, rules, &why));
            }
        }
    }
    forget(cases, Some(watermark));
    schedule(cases, rules);
    update
}

/// `_stall_due`: when the case stalls at its step if nothing more happens, and why.
fn stall_due(case: &Case, rules: &RecoveryRules) -> Option<(f64, String)> {
    match step_of(case) {
        "failed" => Some((
            case.opened_at + rules.email_within_hours * HOUR,
            format!(
                "no recovery email within {} h",
                format_g(rules.email_within_hours)
            ),
        )),
        "email_sent" | "email_delivered" => {
            let sent = case
                .fact("delivered_at")
                .or_else(|| case.fact("email_sent_at"))?;
            Some((
                sent + rules.update_within_days * DAY,
                format!(
                    "no payment method update within {} days of the recovery email",
                    format_g(rules.update_within_days)
                ),
            ))
        }
        _ => None,
    }
}

/// `_schedule`: note on each open case when it next needs looking at (`due_at`).
fn schedule(cases: &mut [Case], rules: &RecoveryRules) {
    for case in cases.iter_mut() {
        if case.outcome().is_some() {
            case.extra.shift_remove("due_at");
            continue;
        }
        let mut due = case.opened_at + rules.lost_after_days * DAY;
        if let Some((stall, _)) = stall_due(case, rules) {
            if !case.alerted() && stall < due {
                due = stall;
            }
        }
        case.set("due_at", json!(due));
    }
}

/// `next_deadline`: when the open cases next need looking at.
pub fn next_deadline(cases: &[Case]) -> Option<f64> {
    cases
        .iter()
        .filter_map(|c| c.float("due_at"))
        .fold(None, |m: Option<f64>, d| {
            Some(m.map_or(d, |m| if d < m { d } else { m }))
        })
}

/// `_forget`: closed cases go after `CLOSED_KEPT_FOR_S`, and the oldest closed first beyond `MAX_CASES`.
fn forget(cases: &mut Vec<Case>, watermark: Option<f64>) {
    if let Some(watermark) = watermark {
        cases.retain(|c| {
            c.outcome().is_none()
                || c.float("closed_at").unwrap_or(0.0) + CLOSED_KEPT_FOR_S > watermark
        });
    }
    while cases.len() > MAX_CASES {
        let closed: Vec<usize> = (0..cases.len())
            .filter(|&n| cases[n].outcome().is_some())
            .collect();
        let pool: Vec<usize> = if closed.is_empty() {
            (0..cases.len()).collect()
        } else {
            closed
        };
        let oldest = pool
            .into_iter()
            .fold(None, |first: Option<usize>, n| match first {
                Some(f) if cases[f].opened_at <= cases[n].opened_at => Some(f),
                _ => Some(n),
            })
            .expect("more than MAX_CASES cases");
        cases.remove(oldest);
    }
}
