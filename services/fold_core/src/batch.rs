//! One batch of raw touchpoint records in; changed states, alerts, counts and report increments out
//! (`BatchProcessor.process` of services/scorer/processing.py, the specification, step for step). The
//! worker remembers the watermarks, the storm budgets and the erasures between batches.

use crate::counts::{count_attempts, count_sources, Counted, Partial, SpikeRule};
use crate::fast::{IndexMap, IndexSet};
use crate::fold::{apply_event, giving_12_months, scores_at, Event};
use crate::handoff_matrix::{self, Snapshot};
use crate::handoffs::{self, Handoff, HandoffRule, BOUNCE_TYPE};
use crate::model::Model;
use crate::python_numbers::{floordiv_int, py_truthy};
use crate::records::{valid_events, DeadLetter, Incoming, Python};
use crate::recovery::{self, Closed, RecoveryRules, Step};
use crate::report::{self, Before, Counters};
use crate::routing::{Routing, RoutingRules};
use crate::score_drops::{note_score, score_alert_update};
use crate::state::State;
use crate::transactions::{on_transaction, TransactionRules};
use crate::watermarks::Watermarks;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};

const STORM_MINUTES_KEPT: usize = 1000;
const UNSUPPRESSED: [&str; 2] = ["transaction.failed", "recurring.recovery"];

#[derive(Deserialize)]
struct TimeRules {
    allowed_lateness_seconds: f64,
    idle_seconds: f64,
}

#[derive(Deserialize)]
struct StormRules {
    max_constituent_alerts_per_partition_minute: i64,
}

#[derive(Deserialize)]
struct Watched {
    source: String,
}

/// What of `AlertRules` (its `model_dump_json()`) the batch uses.
#[derive(Deserialize)]
struct Rules {
    time: TimeRules,
    failed_transactions: TransactionRules,
    #[serde(default)]
    spikes: Vec<SpikeRule>,
    storm: StormRules,
    #[serde(default)]
    handoffs: Vec<HandoffRule>,
    #[serde(default)]
    recovery: Option<RecoveryRules>,
    #[serde(default)]
    silence: Vec<Watched>,
    #[serde(default)]
    rejecting: Vec<Watched>,
}

/// Where the batch's people come from, and what only Python can say.
pub trait Host: Python {
    fn load(&mut self, constituent_id: &str, partition: u32) -> Result<Option<State>, String>;
}

/// One person of the batch: their state, and what the report and the hand-off matrix noted of it.
pub struct Person {
    pub state: State,
    report_before: Option<Before>,
    handoffs_before: Option<Snapshot>,
}

#[derive(Default)]
pub struct Output {
    pub people: IndexMap<String, Person>, // every person the batch read, in the order it read them
    pub changed: IndexSet<String>,
    pub partitions: IndexMap<String, u32>,
    pub alerts: Vec<(Map<String, Value>, f64)>, // with the time of the triggering fact
    pub dead_letters: Vec<DeadLetter>,
    pub outcomes: IndexMap<(String, String, &'static str), i64>,
    pub event_times: Vec<f64>,
    pub spike_counts: IndexMap<(usize, String, i64), Partial>,
    pub source_counts: IndexMap<String, IndexMap<i64, i64>>,
    pub suppressed_alerts: i64,
    pub erased: IndexSet<String>,
    pub recoveries_opened: usize,
    pub recoveries_closed: Vec<Closed>,
    pub report: Counters,
}

pub struct Worker {
    pub model: Model,
    max_future_s: f64,
    rules: Rules,
    routing: Routing,
    handoff_types: HashSet<String>,
    watched: Vec<String>,
    pub watermarks: Watermarks,
    opened: IndexMap<(u32, i64), i64>, // (partition, event minute) → alerts opened
    erased_at: HashMap<String, f64>,
}

fn text<'a>(alert: &'a Map<String, Value>, name: &str) -> &'a str {
    alert.get(name).and_then(Value::as_str).unwrap_or_default()
}

fn first_evidence(alert: &Map<String, Value>) -> &str {
    alert
        .get("evidence")
        .and_then(|e| e.get(0))
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// `_deadline_of`: the deadline of the hand-off whose trigger the alert names.
fn deadline_of(alert: &Map<String, Value>, handoffs: &[Handoff]) -> f64 {
    let trigger = first_evidence(alert);
    handoffs
        .iter()
        .find(|h| h.trigger_event_id == trigger)
        .map_or(0.0, |h| h.deadline)
}

fn objects(alerts: Vec<Value>) -> impl Iterator<Item = Map<String, Value>> {
    alerts.into_iter().filter_map(|a| match a {
        Value::Object(map) => Some(map),
        _ => None,
    })
}

fn step_of(event: &Event) -> Step<'_> {
    static NONE: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    Step {
        event_id: &event.event_id,
        event_type: &event.event_type,
        attributes: event
            .attributes
            .as_ref()
            .unwrap_or_else(|| NONE.get_or_init(Map::new)),
    }
}

impl Worker {
    pub fn new(model: Model, max_future_s: f64, rules_json: &str) -> Result<Worker, String> {
        let rules: Rules =
            serde_json::from_str(rules_json).map_err(|e| format!("alert rules: {e}"))?;
        let routing: RoutingRules =
            serde_json::from_str(rules_json).map_err(|e| format!("alert routing: {e}"))?;
        let mut handoff_types: HashSet<String> = HashSet::new();
        for rule in &rules.handoffs {
            handoff_types.insert(rule.trigger.event_type.clone());
            handoff_types.insert(rule.follow_up.event_type.clone());
            if let Some(cancelled) = &rule.cancelled_by {
                handoff_types.insert(cancelled.event_type.clone());
            }
        }
        if handoff_types.contains("email.sent") {
            handoff_types.insert(BOUNCE_TYPE.into());
        }
        let mut watched: Vec<String> = Vec::new();
        for rule in rules.silence.iter().chain(&rules.rejecting) {
            if !watched.contains(&rule.source) {
                watched.push(rule.source.clone());
            }
        }
        Ok(Worker {
            model,
            max_future_s,
            watermarks: Watermarks::new(
                rules.time.allowed_lateness_seconds,
                rules.time.idle_seconds,
            ),
            routing: Routing::new(routing),
            handoff_types,
            watched,
            rules,
            opened: IndexMap::default(),
            erased_at: HashMap::new(),
        })
    }

    /// `ErasureRegistry.apply`: the constituent was erased at `at` (the newest erasure counts).
    pub fn note_erasure(&mut self, constituent_id: &str, at: f64) {
        let erased = self
            .erased_at
            .entry(constituent_id.to_owned())
            .or_insert(at);
        *erased = erased.max(at);
    }

    fn written_before(&self, constituent_id: &str, timestamp: f64) -> bool {
        self.erased_at
            .get(constituent_id)
            .is_some_and(|at| timestamp <= *at)
    }

    /// `BatchProcessor.process`.
    pub fn process(
        &mut self,
        records: &[Incoming],
        host: &mut dyn Host,
        now: f64,
        due: &[(u32, String)],
        partitions: Option<u32>,
        erase: &[(u32, String)],
    ) -> Result<Output, String> {
        let mut out = Output::default();
        let mut people: IndexMap<String, Person> = IndexMap::default();
        for (partition, constituent_id) in erase {
            let person = Person {
                state: State::new(constituent_id),
                report_before: None,
                handoffs_before: None,
            };
            people.insert(constituent_id.clone(), person);
            out.partitions.insert(constituent_id.clone(), *partition);
            out.erased.insert(constituent_id.clone());
        }
        let mut scored: Vec<(Event, f64)> = Vec::new();
        let mut latest: IndexMap<String, (f64, usize)> = IndexMap::default(); // newest event per person
        for record in records {
            let events = valid_events(
                record,
                &mut out.dead_letters,
                now,
                partitions,
                self.max_future_s,
                host,
            );
            for (event, event_time) in events? {
                let constituent_id = event.constituent_id.clone().unwrap_or_default();
                let source_type = (event.source.clone(), event.event_type.clone());
                if self.written_before(&constituent_id, record.timestamp) {
                    *out.outcomes
                        .entry((source_type.0, source_type.1, "erased"))
                        .or_insert(0) += 1;
                    continue;
                }
                let person = self.person(
                    &mut people,
                    &mut out,
                    host,
                    &constituent_id,
                    event_time,
                    record.partition,
                )?;
                let outcome = apply_event(&mut person.state, &event, event_time, &self.model);
                let counted = (source_type.0, source_type.1, outcome.name());
                *out.outcomes.entry(counted).or_insert(0) += 1;
                if outcome == crate::fold::Outcome::Duplicate {
                    continue;
                }
                self.watermarks.observe(record.partition, event_time, now);
                report::on_event(
                    &mut person.state,
                    &mut person.report_before,
                    &event,
                    event_time,
                    &self.model,
                    &mut out.report,
                );
                out.changed.insert(constituent_id.clone());
                out.event_times.push(event_time);
                // deadlines this event's time already passed break first, as they did when it was live
                let watermark = self.watermarks.watermark(record.partition, now);
                for alert in objects(handoffs::expire(
                    &mut person.state.handoffs,
                    watermark,
                    &self.rules.handoffs,
                )) {
                    let deadline = deadline_of(&alert, &person.state.handoffs);
                    if self.admit(
                        &alert,
                        &mut person.state.handoffs,
                        record.partition,
                        deadline,
                        &mut out,
                    ) {
                        out.alerts.push((alert, deadline));
                    }
                }
                self.alert_on_event(
                    &mut person.state,
                    &event,
                    event_time,
                    record.partition,
                    &mut out,
                );
                let newest = latest.get(&constituent_id).map_or(event_time, |(t, _)| *t);
                if event_time >= newest {
                    latest.insert(constituent_id, (event_time, scored.len()));
                }
                scored.push((event, event_time));
            }
        }
        for (partition, constituent_id) in due {
            self.person(&mut people, &mut out, host, constituent_id, now, *partition)?;
        }
        for (constituent_id, person) in people.iter_mut() {
            let partition = out.partitions[constituent_id];
            let watermark = self.watermarks.watermark(partition, now);
            let state = &mut person.state;
            let expired: Vec<_> = objects(handoffs::expire(
                &mut state.handoffs,
                watermark,
                &self.rules.handoffs,
            ))
            .collect();
            let any_expired = !expired.is_empty();
            for alert in expired {
                let deadline = deadline_of(&alert, &state.handoffs);
                if self.admit(&alert, &mut state.handoffs, partition, deadline, &mut out) {
                    out.alerts.push((alert, deadline));
                }
            }
            let stalled = self.expire_recovery(state, watermark, &mut out);
            if any_expired || stalled {
                out.changed.insert(constituent_id.clone());
            }
            if !state.handoffs.is_empty() || person.handoffs_before.is_some() {
                let before = person.handoffs_before.take().unwrap_or_default();
                handoff_matrix::changes(
                    &before,
                    &state.handoffs,
                    &self.rules.handoffs,
                    &mut out.report,
                );
            }
        }
        for (constituent_id, (_, index)) in &latest {
            let state = &mut people[constituent_id].state;
            let at = state.reference_time;
            let overall = scores_at(state, &self.model, at)[0];
            note_score(state, at, overall, &self.model);
            if let Some(Value::Object(alert)) =
                score_alert_update(state, overall, &self.model, &scored[*index].0)
            {
                if text(&alert, "status") == "open" && overall < self.model.score_alert.floor {
                    report::fell_below_floor(&mut out.report, at, giving_12_months(state));
                }
                out.alerts.push((alert, at));
            }
        }
        for closed in &out.recoveries_closed {
            if closed.outcome == "recovered" {
                report::recovered(&mut out.report, closed.at, closed.amount);
            }
        }
        for person in people.values_mut() {
            if let Some(before) = person.report_before.take() {
                report::flush(&person.state, before, &self.model, &mut out.report);
            }
        }
        let counted: Vec<Counted> = scored
            .iter()
            .map(|(event, time)| Counted {
                source: &event.source,
                event_type: &event.event_type,
                event_id: &event.event_id,
                attributes: event.attributes.as_ref(),
                time: *time,
            })
            .collect();
        out.spike_counts = count_attempts(&counted, &self.rules.spikes);
        out.source_counts = count_sources(&counted, &self.watched);
        let alerts = std::mem::take(&mut out.alerts);
        out.alerts = alerts
            .into_iter()
            .map(|(alert, at)| {
                let person = people.get(text(&alert, "constituent_id"));
                (self.routing.route(alert, person.map(|p| &p.state)), at)
            })
            .collect();
        out.people = people;
        Ok(out)
    }

    /// `_Loaded.state_of`: the person, read once per batch, their score before it noted.
    fn person<'a>(
        &self,
        people: &'a mut IndexMap<String, Person>,
        out: &mut Output,
        host: &mut dyn Host,
        constituent_id: &str,
        at: f64,
        partition: u32,
    ) -> Result<&'a mut Person, String> {
        if !out.partitions.contains_key(constituent_id) {
            out.partitions.insert(constituent_id.to_owned(), partition);
        }
        if !people.contains_key(constituent_id) {
            let mut state = host
                .load(constituent_id, partition)?
                .unwrap_or_else(|| State::new(constituent_id));
            let seen_at = if state.events != 0 {
                state.reference_time
            } else {
                at
            };
            let overall = scores_at(&state, &self.model, seen_at)[0];
            note_score(&mut state, seen_at, overall, &self.model);
            let handoffs_before = (!state.handoffs.is_empty())
                .then(|| handoff_matrix::snapshot(&state.handoffs, &self.rules.handoffs));
            let person = Person {
                state,
                report_before: None,
                handoffs_before,
            };
            people.insert(constituent_id.to_owned(), person);
        }
        Ok(&mut people[constituent_id])
    }

    fn alert_on_event(
        &mut self,
        state: &mut State,
        event: &Event,
        event_time: f64,
        partition: u32,
        out: &mut Output,
    ) {
        let minute = (partition, floordiv_int(event_time, 60.0));
        let may_open = self.opened.get(&minute).copied().unwrap_or(0)
            < self.rules.storm.max_constituent_alerts_per_partition_minute;
        let mut alerts: Vec<Map<String, Value>> = if self.handoff_types.contains(&event.event_type)
        {
            objects(handoffs::on_event(
                &mut state.handoffs,
                &mut state.early_follow_ups,
                event,
                event_time,
                &self.rules.handoffs,
            ))
            .collect()
        } else {
            Vec::new()
        };
        if let Some(rules) = &self.rules.recovery {
            let step = step_of(event);
            if recovery::concerns(&step, rules) {
                let update = recovery::on_event(
                    &mut state.recovery,
                    &mut state.recovery_early,
                    &state.constituent_id,
                    &step,
                    event_time,
                    rules,
                );
                alerts.extend(objects(update.alerts));
                out.recoveries_opened += update.opened;
                out.recoveries_closed.extend(update.closed);
            }
        }
        let transaction = on_transaction(
            state,
            event,
            event_time,
            &self.rules.failed_transactions,
            may_open,
        );
        match transaction {
            Some(alert) => alerts.push(alert),
            None => {
                if !may_open
                    && event.event_type == "donation.failed"
                    && state.failed_transaction.is_none()
                {
                    out.suppressed_alerts += 1;
                }
            }
        }
        for alert in alerts {
            if self.admit(&alert, &mut state.handoffs, partition, event_time, out) {
                out.alerts.push((alert, event_time));
            }
        }
    }

    /// `_expire_recovery`: stall or lose the cases whose deadlines the watermark passed; true if any changed.
    fn expire_recovery(&self, state: &mut State, watermark: f64, out: &mut Output) -> bool {
        let Some(rules) = &self.rules.recovery else {
            return false;
        };
        if state.recovery.is_empty() {
            return false;
        }
        let before = state.recovery.clone();
        let update = recovery::expire(&mut state.recovery, &state.constituent_id, watermark, rules);
        out.alerts
            .extend(objects(update.alerts).map(|alert| (alert, watermark)));
        out.recoveries_closed.extend(update.closed);
        state.recovery != before
    }

    /// `_admit`: storm control — at most the configured number of per-constituent alerts opened per
    /// partition and minute of event time; a held-back hand-off alert marks its hand-off.
    fn admit(
        &mut self,
        alert: &Map<String, Value>,
        handoffs: &mut [Handoff],
        partition: u32,
        fact_time: f64,
        out: &mut Output,
    ) -> bool {
        if text(alert, "status") != "open" || alert.get("escalated").is_some_and(py_truthy) {
            return true;
        }
        let key = (partition, floordiv_int(fact_time, 60.0));
        let budget = self.rules.storm.max_constituent_alerts_per_partition_minute;
        if self.opened.get(&key).copied().unwrap_or(0) >= budget
            && !UNSUPPRESSED.contains(&text(alert, "kind"))
        {
            handoffs::suppress(handoffs, first_evidence(alert));
            out.suppressed_alerts += 1;
            return false;
        }
        *self.opened.entry(key).or_insert(0) += 1;
        if self.opened.len() > STORM_MINUTES_KEPT {
            let mut keys: Vec<(u32, i64)> = self.opened.keys().copied().collect();
            keys.sort_by_key(|key| key.1); // stable: the first opened of a minute go first
            let stale: HashSet<(u32, i64)> =
                keys.into_iter().take(STORM_MINUTES_KEPT / 2).collect();
            self.opened.retain(|key, _| !stale.contains(key));
        }
        true
    }
}
