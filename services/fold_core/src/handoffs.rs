//! Broken hand-offs (services/domain/alerts/handoffs.py, the specification, step for step): a trigger
//! owes a follow-up for the same person before a deadline; `pending` → `kept` or `broken`, a late
//! follow-up resolving a broken one; a follow-up seen before its trigger is remembered briefly.

use crate::fold::{matches, Event};
use crate::python_numbers::{format_g, py_eq, py_str};
use crate::python_time::iso;
use crate::score_drops::derive_alert_id;
use serde::Deserialize;
use serde_json::{json, Map, Value};

pub const KEPT_FOR_SECONDS: f64 = 3600.0;
pub const BROKEN_KEPT_FOR_SECONDS: f64 = 7.0 * 86400.0;
pub const MAX_HANDOFFS: usize = 50;
pub const MAX_EARLY_FOLLOW_UPS: usize = 20;
pub const BOUNCE_TYPE: &str = "email.bounced";

/// `EventMatch`: a type and the attributes an event must carry.
#[derive(Deserialize, Clone)]
pub struct EventMatch {
    #[serde(rename = "type")]
    pub event_type: String,
    #[serde(default)]
    pub attributes: Map<String, Value>,
}

impl EventMatch {
    /// `matching.matches(rule, event, as_type)`.
    fn matches(&self, event: &Event, as_type: Option<&str>) -> bool {
        event.event_type == as_type.unwrap_or(&self.event_type) && matches(&self.attributes, event)
    }
}

/// `HandoffRule`, read from its `model_dump_json()` (what routing adds is not the fold's).
#[derive(Deserialize, Clone)]
pub struct HandoffRule {
    pub name: String,
    pub trigger: EventMatch,
    pub follow_up: EventMatch,
    #[serde(default)]
    pub same_correlation_id: bool,
    pub deadline_minutes: f64,
    pub departments: (String, String),
    pub severity: String,
    #[serde(default)]
    pub cancelled_by: Option<EventMatch>,
}

impl HandoffRule {
    pub fn deadline_seconds(&self) -> f64 {
        self.deadline_minutes * 60.0
    }

    fn repeats(&self) -> bool {
        self.trigger.event_type == self.follow_up.event_type
    }

    /// `_correlated`: the rule does not ask for it, or the same correlation id on both.
    fn correlated(&self, held: &Value, other: &Value) -> bool {
        !self.same_correlation_id || (!held.is_null() && py_eq(held, other))
    }

    /// `_deadline_text`.
    fn deadline_text(&self) -> String {
        let minutes = self.deadline_minutes;
        if minutes >= 60.0 {
            format!("{} h", format_g(minutes / 60.0))
        } else {
            format!("{} min", format_g(minutes))
        }
    }

    /// `_describe(follow_up.attributes)`: "name=value " for each.
    fn described_follow_up(&self) -> String {
        let attributes = &self.follow_up.attributes;
        attributes
            .iter()
            .map(|(name, value)| format!("{name}={} ", py_str(value)))
            .collect()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Pending,
    Kept,
    Broken,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Kept => "kept",
            Status::Broken => "broken",
        }
    }

    pub fn from_name(name: &str) -> Option<Status> {
        [Status::Pending, Status::Kept, Status::Broken]
            .into_iter()
            .find(|s| s.name() == name)
    }
}

/// One hand-off a person owes (the Python model's dict; the optional keys as options).
#[derive(Clone, Debug, PartialEq)]
pub struct Handoff {
    pub rule: String,
    pub constituent_id: String,
    pub source: String,
    pub trigger_event_id: String,
    pub correlation_id: Value,
    pub deadline: f64,
    pub status: Status,
    pub settled_at: Option<f64>,
    pub bounced_at: Option<f64>,
    pub suppressed: bool,
    pub cancelled_by: Option<String>,
    pub resolved_at_iso: Option<String>,
    pub broken_at_iso: Option<String>,
}

/// A follow-up (or a bounce) seen before its trigger.
#[derive(Clone, Debug, PartialEq)]
pub struct EarlyFollowUp {
    pub rule: String,
    pub correlation_id: Value,
    pub bounce: bool,
    pub time: f64,
    pub event_id: String,
}

impl Handoff {
    pub fn to_json(&self) -> Value {
        let mut held = json!({
            "rule": self.rule, "constituent_id": self.constituent_id, "source": self.source,
            "trigger_event_id": self.trigger_event_id, "correlation_id": self.correlation_id,
            "deadline": self.deadline, "status": self.status.name(), "settled_at": self.settled_at,
        });
        let map = held.as_object_mut().expect("an object");
        if let Some(at) = self.bounced_at {
            map.insert("bounced_at".into(), json!(at));
        }
        if self.suppressed {
            map.insert("suppressed".into(), json!(true));
        }
        for (name, value) in [
            ("cancelled_by", &self.cancelled_by),
            ("resolved_at_iso", &self.resolved_at_iso),
            ("broken_at_iso", &self.broken_at_iso),
        ] {
            if let Some(value) = value {
                map.insert(name.into(), json!(value));
            }
        }
        held
    }
}

impl EarlyFollowUp {
    pub fn to_json(&self) -> Value {
        let mut seen = json!({"rule": self.rule, "correlation_id": self.correlation_id});
        let map = seen.as_object_mut().expect("an object");
        if self.bounce {
            map.insert("bounce".into(), json!(true));
        }
        map.insert("time".into(), json!(self.time));
        map.insert("event_id".into(), json!(self.event_id));
        seen
    }
}

/// `_alert`: the alert (as `new_alert` builds it) about one hand-off.
fn alert(
    rule: &HandoffRule,
    handoff: &Handoff,
    status: &str,
    detail: String,
    evidence: &[&str],
) -> Value {
    json!({
        "alert_id": derive_alert_id("handoff", &[&rule.name, &handoff.trigger_event_id]),
        "kind": "handoff.broken",
        "severity": rule.severity,
        "status": status,
        "constituent_id": handoff.constituent_id,
        "source": handoff.source,
        "departments": [rule.departments.0, rule.departments.1],
        "title": format!("{}: {} {}missing", rule.name, rule.follow_up.event_type, rule.described_follow_up()),
        "detail": detail,
        "evidence": evidence,
        "rule": format!("handoff:{}", rule.name),
        "opened_at": handoff.broken_at_iso,
        "resolved_at": handoff.resolved_at_iso,
    })
}

fn remember(early: &mut Vec<EarlyFollowUp>, seen: EarlyFollowUp) {
    early.push(seen);
    let extra = early.len().saturating_sub(MAX_EARLY_FOLLOW_UPS);
    early.drain(..extra);
}

/// `on_event`: update a person's hand-offs for one event; the alert updates it causes.
pub fn on_event(
    handoffs: &mut Vec<Handoff>,
    early: &mut Vec<EarlyFollowUp>,
    event: &Event,
    event_time: f64,
    rules: &[HandoffRule],
) -> Vec<Value> {
    let mut alerts = Vec::new();
    for rule in rules {
        if let Some(cancelled_by) = &rule.cancelled_by {
            if cancelled_by.matches(event, None) {
                cancel(rule, handoffs, event, event_time);
            }
        }
        let kind = event.event_type.as_str();
        if kind != rule.trigger.event_type
            && kind != rule.follow_up.event_type
            && kind != BOUNCE_TYPE
        {
            continue;
        }
        let is_follow_up = rule.follow_up.matches(event, None);
        let is_bounce = rule.follow_up.event_type == "email.sent"
            && rule.follow_up.matches(event, Some(BOUNCE_TYPE));
        if is_follow_up || is_bounce {
            let candidates: Vec<usize> = (0..handoffs.len())
                .filter(|&n| {
                    let h = &handoffs[n];
                    h.rule == rule.name
                        && rule.correlated(&h.correlation_id, &event.correlation_id)
                        && (!rule.repeats() || h.deadline - rule.deadline_seconds() < event_time)
                })
                .collect();
            let seen = |bounce| EarlyFollowUp {
                rule: rule.name.clone(),
                correlation_id: event.correlation_id.clone(),
                bounce,
                time: event_time,
                event_id: event.event_id.clone(),
            };
            if is_bounce {
                if candidates.is_empty() {
                    remember(early, seen(true)); // before its trigger: breaks what the trigger makes
                } else {
                    alerts.extend(bounce(
                        rule,
                        handoffs,
                        &candidates,
                        &event.event_id,
                        event_time,
                    ));
                }
            } else {
                // the first owed by deadline (a stable sort's first), not one bounced at or after it
                let owed = candidates
                    .iter()
                    .copied()
                    .filter(|&n| {
                        let h = &handoffs[n];
                        h.status != Status::Kept
                            && h.bounced_at.unwrap_or(f64::NEG_INFINITY) < event_time
                    })
                    .fold(None, |first: Option<usize>, n| match first {
                        Some(f) if handoffs[f].deadline <= handoffs[n].deadline => Some(f),
                        _ => Some(n),
                    });
                match owed {
                    Some(n) => {
                        alerts.extend(fulfil(rule, &mut handoffs[n], &event.event_id, event_time))
                    }
                    None => remember(early, seen(false)),
                }
            }
        }
        let triggered = rule.trigger.matches(event, None)
            && !handoffs
                .iter()
                .any(|h| h.trigger_event_id == event.event_id && h.rule == rule.name);
        if triggered {
            alerts.extend(trigger(rule, handoffs, early, event, event_time));
        }
    }
    let extra = handoffs.len().saturating_sub(MAX_HANDOFFS);
    handoffs.drain(..extra);
    alerts
}

/// A trigger: the hand-off it makes, kept or broken at once by what came before it.
fn trigger(
    rule: &HandoffRule,
    handoffs: &mut Vec<Handoff>,
    early: &mut Vec<EarlyFollowUp>,
    event: &Event,
    event_time: f64,
) -> Vec<Value> {
    let mut alerts = Vec::new();
    handoffs.push(Handoff {
        rule: rule.name.clone(),
        constituent_id: event.constituent_id.clone().unwrap_or_default(),
        source: event.source.clone(),
        trigger_event_id: event.event_id.clone(),
        correlation_id: event.correlation_id.clone(),
        deadline: event_time + rule.deadline_seconds(),
        status: Status::Pending,
        settled_at: None,
        bounced_at: None,
        suppressed: false,
        cancelled_by: None,
        resolved_at_iso: None,
        broken_at_iso: None,
    });
    let last = handoffs.len() - 1;
    let correlation = handoffs[last].correlation_id.clone();
    let fulfilled_early = early.iter().position(|f| {
        f.rule == rule.name
            && !f.bounce
            && rule.correlated(&correlation, &f.correlation_id)
            && if rule.repeats() {
                f.time > event_time
            } else {
                f.time >= event_time
            }
    });
    if let Some(at) = fulfilled_early {
        let seen = early.remove(at);
        alerts.extend(fulfil(rule, &mut handoffs[last], &seen.event_id, seen.time));
    }
    let bounced: Vec<EarlyFollowUp> = early
        .iter()
        .filter(|f| {
            f.bounce
                && f.rule == rule.name
                && rule.correlated(&correlation, &f.correlation_id)
                && f.time >= event_time
        })
        .cloned()
        .collect();
    for seen in bounced {
        if let Some(at) = early.iter().position(|f| *f == seen) {
            early.remove(at);
        }
        alerts.extend(bounce(rule, handoffs, &[last], &seen.event_id, seen.time));
    }
    alerts
}

/// `_fulfil`: the follow-up came; an alert only when it resolves a broken (announced) hand-off.
fn fulfil(
    rule: &HandoffRule,
    handoff: &mut Handoff,
    event_id: &str,
    event_time: f64,
) -> Option<Value> {
    let was = handoff.status;
    handoff.status = Status::Kept;
    handoff.settled_at = Some(event_time);
    if (was == Status::Pending && event_time <= handoff.deadline) || handoff.suppressed {
        return None;
    }
    let late_by = event_time - handoff.deadline;
    handoff.resolved_at_iso = Some(iso(event_time));
    if handoff.broken_at_iso.is_none() {
        handoff.broken_at_iso = Some(iso(handoff.deadline));
    }
    let detail = if late_by > 0.0 {
        format!(
            "The follow-up arrived {:.0} min after the {} deadline (late).",
            late_by / 60.0,
            rule.deadline_text()
        )
    } else {
        format!(
            "The follow-up is dated within the {} deadline but reached Mission Pulse after it had passed \
             (a delayed delivery: the hand-off was kept, the pipe was slow).",
            rule.deadline_text()
        )
    };
    let trigger = handoff.trigger_event_id.clone();
    Some(alert(
        rule,
        handoff,
        "resolved",
        detail,
        &[&trigger, event_id],
    ))
}

/// `_cancel`: what the trigger started has ended; pending ones started by then settle silently.
fn cancel(rule: &HandoffRule, handoffs: &mut [Handoff], event: &Event, event_time: f64) {
    for handoff in handoffs.iter_mut() {
        let started = handoff.deadline - rule.deadline_seconds();
        if handoff.rule == rule.name
            && handoff.status == Status::Pending
            && started <= event_time
            && rule.correlated(&handoff.correlation_id, &event.correlation_id)
        {
            handoff.status = Status::Kept;
            handoff.settled_at = Some(event_time);
            handoff.cancelled_by = Some(event.event_id.clone());
        }
    }
}

/// `_bounce`: the follow-up bounced; each candidate not broken already breaks.
fn bounce(
    rule: &HandoffRule,
    handoffs: &mut [Handoff],
    candidates: &[usize],
    event_id: &str,
    event_time: f64,
) -> Vec<Value> {
    let mut alerts = Vec::new();
    for &n in candidates {
        let handoff = &mut handoffs[n];
        let before = handoff.bounced_at.unwrap_or(event_time);
        handoff.bounced_at = Some(if event_time > before {
            event_time
        } else {
            before
        }); // max()
        if handoff.status == Status::Broken {
            continue;
        }
        handoff.status = Status::Broken;
        handoff.settled_at = Some(event_time);
        handoff.broken_at_iso = Some(iso(event_time));
        handoff.resolved_at_iso = None;
        let detail = format!(
            "The {} follow-up bounced; the constituent never received it.",
            rule.follow_up.event_type
        );
        let trigger = handoff.trigger_event_id.clone();
        alerts.push(alert(rule, handoff, "open", detail, &[&trigger, event_id]));
    }
    alerts
}

/// `expire`: break every pending hand-off whose deadline the watermark passed; forget settled ones.
pub fn expire(handoffs: &mut Vec<Handoff>, watermark: f64, rules: &[HandoffRule]) -> Vec<Value> {
    let mut alerts = Vec::new();
    let mut kept = Vec::with_capacity(handoffs.len());
    for mut handoff in handoffs.drain(..) {
        let Some(rule) = rules.iter().rev().find(|r| r.name == handoff.rule) else {
            continue; // the rule was removed from the configuration
        };
        if handoff.status == Status::Pending && handoff.deadline <= watermark {
            handoff.status = Status::Broken;
            handoff.settled_at = Some(handoff.deadline);
            handoff.broken_at_iso = Some(iso(handoff.deadline));
            let expected = format!(
                "{} {}",
                rule.follow_up.event_type,
                rule.described_follow_up()
            );
            let detail = format!("No {expected}within {}.", rule.deadline_text());
            let trigger = handoff.trigger_event_id.clone();
            alerts.push(alert(rule, &handoff, "open", detail, &[&trigger]));
        } else if handoff.status != Status::Pending {
            let kept_for = if handoff.status == Status::Kept {
                KEPT_FOR_SECONDS
            } else {
                BROKEN_KEPT_FOR_SECONDS
            };
            if handoff.settled_at.unwrap_or(f64::NEG_INFINITY) + kept_for <= watermark {
                continue;
            }
        }
        kept.push(handoff);
    }
    *handoffs = kept;
    alerts
}

/// `next_deadline`: the earliest pending deadline.
pub fn next_deadline(handoffs: &[Handoff]) -> Option<f64> {
    handoffs
        .iter()
        .filter(|h| h.status == Status::Pending)
        .map(|h| h.deadline)
        .fold(None, |m: Option<f64>, d| {
            Some(m.map_or(d, |m| if d < m { d } else { m }))
        })
}

/// Storm control held the alert of the hand-off `trigger_event_id` made back: its resolution stays
/// silent too (`BatchProcessor._admit`).
pub fn suppress(handoffs: &mut [Handoff], trigger_event_id: &str) {
    for handoff in handoffs
        .iter_mut()
        .filter(|h| h.trigger_event_id == trigger_event_id)
    {
        handoff.suppressed = true;
    }
}
