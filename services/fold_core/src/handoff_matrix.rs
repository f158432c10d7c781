//! The hand-off matrix of the report: per rule and department pair, how the hand-offs triggered in a
//! window ended (services/domain/report/handoff_matrix.py, the specification).

use crate::handoffs::{Handoff, HandoffRule, Status};
use crate::report::{add, windows_of, Counters};

const TOOK_BUCKETS: [f64; 11] = [
    60.0,
    300.0,
    900.0,
    1800.0,
    3600.0,
    3.0 * 3600.0,
    6.0 * 3600.0,
    12.0 * 3600.0,
    86400.0,
    3.0 * 86400.0,
    7.0 * 86400.0,
];

/// (outcome, took bucket) of one hand-off.
pub type Outcome = (&'static str, Option<i64>);
/// `Snapshot`: (rule, trigger) → outcome, in the hand-offs' order.
pub type Snapshot = Vec<((String, String), Outcome)>;

fn took_bucket(seconds: f64) -> i64 {
    TOOK_BUCKETS
        .iter()
        .find(|bound| seconds <= **bound)
        .map_or(0, |bound| *bound as i64)
}

fn rule_of<'a>(rules: &'a [HandoffRule], name: &str) -> Option<&'a HandoffRule> {
    rules.iter().rev().find(|r| r.name == name) // a dict by name: the last one wins
}

fn outcome(handoff: &Handoff, rule: &HandoffRule) -> Outcome {
    match handoff.status {
        Status::Pending => return ("pending", None),
        Status::Broken => return ("broken", None),
        _ => {}
    }
    if handoff
        .cancelled_by
        .as_deref()
        .is_some_and(|c| !c.is_empty())
    {
        return ("cancelled", None);
    }
    let settled = handoff.settled_at.unwrap_or(0.0);
    let triggered = handoff.deadline - rule.deadline_seconds();
    let took = (settled - triggered).max(0.0);
    let name = if settled <= handoff.deadline {
        "in_time"
    } else {
        "late"
    };
    (name, Some(took_bucket(took)))
}

/// `snapshot`: each hand-off's outcome before a batch.
pub fn snapshot(handoffs: &[Handoff], rules: &[HandoffRule]) -> Snapshot {
    let mut taken: Snapshot = Vec::with_capacity(handoffs.len());
    for h in handoffs {
        if let Some(rule) = rule_of(rules, &h.rule) {
            let key = (h.rule.clone(), h.trigger_event_id.clone());
            let now = outcome(h, rule);
            match taken.iter_mut().find(|(k, _)| *k == key) {
                Some(entry) => entry.1 = now,
                None => taken.push((key, now)),
            }
        }
    }
    taken
}

/// `changes`: counter increments for what changed since `before`.
pub fn changes(
    before: &Snapshot,
    handoffs: &[Handoff],
    rules: &[HandoffRule],
    counters: &mut Counters,
) {
    for handoff in handoffs {
        let Some(rule) = rule_of(rules, &handoff.rule) else {
            continue;
        };
        let now = outcome(handoff, rule);
        let was = before
            .iter()
            .find(|((r, t), _)| *r == handoff.rule && *t == handoff.trigger_event_id)
            .map(|(_, o)| *o);
        if was == Some(now) {
            continue;
        }
        let prefix = format!(
            "handoff|{}|{}>{}",
            rule.name, rule.departments.0, rule.departments.1
        );
        let triggered = handoff.deadline - rule.deadline_seconds();
        for window in windows_of(triggered) {
            match was {
                None => add(counters, &window, format_args!("{prefix}|triggered"), 1),
                Some((name, took)) => {
                    add(counters, &window, format_args!("{prefix}|{name}"), -1);
                    if let Some(took) = took {
                        add(counters, &window, format_args!("{prefix}|took|{took}"), -1);
                    }
                }
            }
            add(counters, &window, format_args!("{prefix}|{}", now.0), 1);
            if let Some(took) = now.1 {
                add(counters, &window, format_args!("{prefix}|took|{took}"), 1);
            }
        }
    }
}
