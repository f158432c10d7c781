//! Who acts on an alert and how urgent it is (services/domain/alerts/routing.py, the specification): its
//! rule's owner and acknowledgement deadline, and a priority constituent's alerts one level up.

use crate::fast::HashMap;
use crate::fold::giving_12_months;
use crate::state::State;
use serde::Deserialize;
use serde_json::{Map, Value};

const SPIKE_PREFIX: &str = "spike:";

/// `Routed`: the owner and acknowledgement deadline of a rule (and, for systemic rules, its source).
#[derive(Deserialize)]
pub struct Routed {
    pub owner: String,
    #[serde(default)]
    pub ack_within_minutes: Option<f64>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub source: Option<String>,
}

/// `PriorityRule`.
#[derive(Deserialize)]
pub struct PriorityRule {
    pub name: String,
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub giving_12_months_at_least: Option<f64>,
}

/// The parts of `AlertRules` routing reads.
#[derive(Deserialize)]
pub struct RoutingRules {
    pub failed_transactions: Routed,
    pub score_drops: Routed,
    #[serde(default)]
    pub handoffs: Vec<Routed>,
    #[serde(default)]
    pub spikes: Vec<Routed>,
    #[serde(default)]
    pub recovery: Option<Routed>,
    #[serde(default)]
    pub silence: Vec<Routed>,
    #[serde(default)]
    pub rejecting: Vec<Routed>,
    #[serde(default)]
    pub priority: Vec<PriorityRule>,
}

pub struct Routing {
    routes: HashMap<String, (String, Option<f64>)>,
    priority: Vec<PriorityRule>,
}

fn one_level_up(severity: &str) -> &'static str {
    match severity {
        "info" => "warning",
        _ => "critical",
    }
}

impl Routing {
    pub fn new(rules: RoutingRules) -> Routing {
        let mut routes = HashMap::default();
        let mut put = |name: String, r: &Routed| {
            routes.insert(name, (r.owner.clone(), r.ack_within_minutes));
        };
        put("failed-transaction".into(), &rules.failed_transactions);
        put("score-dropped".into(), &rules.score_drops);
        for rule in &rules.handoffs {
            put(
                format!("handoff:{}", rule.name.as_deref().unwrap_or_default()),
                rule,
            );
        }
        for spike in rules.spikes.iter().rev() {
            put(
                format!(
                    "{SPIKE_PREFIX}{}",
                    spike.source.as_deref().unwrap_or_default()
                ),
                spike,
            );
        }
        if let Some(recovery) = &rules.recovery {
            put("recurring-recovery".into(), recovery);
        }
        for rule in &rules.silence {
            put(
                format!("silence:{}", rule.source.as_deref().unwrap_or_default()),
                rule,
            );
        }
        for rule in &rules.rejecting {
            put(
                format!("rejecting:{}", rule.source.as_deref().unwrap_or_default()),
                rule,
            );
        }
        Routing {
            routes,
            priority: rules.priority,
        }
    }

    fn route_of(&self, rule: &str) -> Option<&(String, Option<f64>)> {
        self.routes.get(rule).or_else(|| {
            rule.strip_prefix(SPIKE_PREFIX)
                .and_then(|_| self.routes.get(rule.split('/').next().unwrap_or(rule)))
        })
    }

    /// `priorities`: the names of the priority rules this constituent meets now.
    fn priorities(&self, state: Option<&State>) -> Vec<Value> {
        let Some(state) = state else {
            return Vec::new();
        };
        let giving = giving_12_months(state);
        self.priority
            .iter()
            .filter(|rule| {
                rule.role
                    .as_ref()
                    .is_some_and(|role| state.roles.contains(role))
                    || rule
                        .giving_12_months_at_least
                        .is_some_and(|least| giving >= least)
            })
            .map(|rule| Value::String(rule.name.clone()))
            .collect()
    }

    /// `route`: the alert with its owner and acknowledgement deadline, and for a priority constituent,
    /// `priority` and its severity one level up.
    pub fn route(
        &self,
        mut alert: Map<String, Value>,
        state: Option<&State>,
    ) -> Map<String, Value> {
        let rule = alert
            .get("rule")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if let Some((owner, ack)) = self.route_of(rule) {
            alert.insert("owner".into(), Value::String(owner.clone()));
            if let Some(ack) = ack {
                alert.insert("ack_within_minutes".into(), Value::from(*ack));
            }
        }
        let because = self.priorities(state);
        if !because.is_empty() {
            let severity = alert
                .get("severity")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let raised = one_level_up(severity);
            alert.insert("priority".into(), Value::Array(because));
            alert.insert("severity".into(), Value::String(raised.into()));
        }
        alert
    }
}
