//! `mission_pulse_core`: the scorer's per-event fold compiled (issue 35, docs/compiled-core.md).
//!
//! Built by maturin from `make core` (part of `make setup`); where it cannot be built the scorer runs
//! the Python model of services/domain/, which stays the specification and the test oracle
//! (tests/unit/core/: the same streams through both must give the same floats). This first part folds
//! the scoring state; the alert rules, the report and batches of records follow (docs/compiled-core.md).

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

pub mod batch;
pub mod counts;
pub mod dedup;
pub mod fast;
pub mod fold;
pub mod handoff_matrix;
pub mod handoffs;
pub mod json_size;
pub mod layout;
pub mod model;
pub mod published;
pub mod python_numbers;
pub mod python_state;
pub mod python_time;
pub mod records;
pub mod recovery;
pub mod report;
pub mod routing;
pub mod score_drops;
pub mod state;
pub mod transactions;
pub mod watermarks;

mod worker;

/// The core's own allocations (never Python's: what crosses to Python is copied into Python objects) from
/// mimalloc: glibc's malloc and free were ~35% of a batch call (docs/performance.md, "The core's allocator").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A scoring model, read from `ScoringModel.model_dump_json()`.
#[pyclass(frozen, module = "mission_pulse_core")]
struct Model {
    inner: model::Model,
}

#[pymethods]
impl Model {
    #[new]
    fn new(model_json: &str) -> PyResult<Self> {
        model::Model::from_json(model_json)
            .map(|inner| Model { inner })
            .map_err(PyValueError::new_err)
    }
}

/// The failed-transaction rules of the alert rules, read from `FailedTransactionRules.model_dump_json()`.
#[pyclass(frozen, module = "mission_pulse_core")]
struct TransactionRules {
    inner: transactions::TransactionRules,
}

#[pymethods]
impl TransactionRules {
    #[new]
    fn new(rules_json: &str) -> PyResult<Self> {
        serde_json::from_str(rules_json)
            .map(|inner| TransactionRules { inner })
            .map_err(|e| PyValueError::new_err(format!("failed-transaction rules: {e}")))
    }
}

/// The hand-off rules, read from the JSON list of `HandoffRule.model_dump()`s, in their order.
#[pyclass(frozen, module = "mission_pulse_core")]
struct HandoffRules {
    inner: Vec<handoffs::HandoffRule>,
}

#[pymethods]
impl HandoffRules {
    #[new]
    fn new(rules_json: &str) -> PyResult<Self> {
        serde_json::from_str(rules_json)
            .map(|inner| HandoffRules { inner })
            .map_err(|e| PyValueError::new_err(format!("hand-off rules: {e}")))
    }
}

/// The recovery rules, read from `RecoveryRules.model_dump_json()`.
#[pyclass(frozen, module = "mission_pulse_core")]
struct RecoveryRules {
    inner: recovery::RecoveryRules,
}

#[pymethods]
impl RecoveryRules {
    #[new]
    fn new(rules_json: &str) -> PyResult<Self> {
        serde_json::from_str(rules_json)
            .map(|inner| RecoveryRules { inner })
            .map_err(|e| PyValueError::new_err(format!("recovery rules: {e}")))
    }
}

/// A recovery update as Python sees it: the alerts (JSON), cases opened, and the cases closed as
/// (outcome, amount, seconds from the failure, event time of the outcome).
type RecoveryOutcome = (Vec<String>, usize, Vec<(&'static str, f64, f64, f64)>);

fn recovery_outcome(update: recovery::Update) -> RecoveryOutcome {
    let closed = update
        .closed
        .iter()
        .map(|c| (c.outcome, c.amount, c.seconds, c.at))
        .collect();
    (json_texts(update.alerts), update.opened, closed)
}

fn event_of(event_json: &[u8]) -> PyResult<fold::Event> {
    serde_json::from_slice(event_json).map_err(|e| PyValueError::new_err(format!("event: {e}")))
}

fn json_texts(alerts: Vec<serde_json::Value>) -> Vec<String> {
    alerts.iter().map(serde_json::Value::to_string).collect()
}

/// A batch's report counters (`WindowCounters`): window → counter name → value, only ever added to.
#[pyclass(module = "mission_pulse_core")]
#[derive(Default)]
struct ReportCounters {
    inner: report::Counters,
}

#[pymethods]
impl ReportCounters {
    #[new]
    fn new() -> Self {
        ReportCounters::default()
    }

    /// A failed recurring gift recovered at `at` (event time) with `amount`.
    fn recovered(&mut self, at: f64, amount: f64) {
        report::recovered(&mut self.inner, at, amount);
    }

    /// A person newly below the at-risk floor at `at`, with what they gave in the last 12 months.
    fn fell_below_floor(&mut self, at: f64, giving: f64) {
        report::fell_below_floor(&mut self.inner, at, giving);
    }

    /// The counters as Python's: window → counter name → value.
    fn to_dict(&self) -> Vec<(String, Vec<(String, i64)>)> {
        self.inner
            .iter()
            .map(|(w, c)| (w.clone(), c.iter().map(|(k, v)| (k.clone(), *v)).collect()))
            .collect()
    }
}

/// One constituent's scoring state, resident in compiled memory.
#[pyclass(module = "mission_pulse_core")]
struct Constituent {
    state: state::State,
    report_before: Option<report::Before>, // the report's note of this person, this batch
}

#[pymethods]
impl Constituent {
    #[new]
    fn new(constituent_id: &str) -> Self {
        Constituent {
            state: state::State::new(constituent_id),
            report_before: None,
        }
    }

    /// Fold one event (its JSON) at `event_time`: "scored", "duplicate" or "unknown_type".
    fn apply(
        &mut self,
        model: &Model,
        event_json: &[u8],
        event_time: f64,
    ) -> PyResult<&'static str> {
        let event: fold::Event = serde_json::from_slice(event_json)
            .map_err(|e| PyValueError::new_err(format!("event: {e}")))?;
        Ok(fold::apply_event(&mut self.state, &event, event_time, &model.inner).name())
    }

    /// Overall, content, operations and principles at instant `at`.
    fn scores_at(&self, model: &Model, at: f64) -> (f64, f64, f64, f64) {
        let [overall, content, operations, principles] =
            fold::scores_at(&self.state, &model.inner, at);
        (overall, content, operations, principles)
    }

    /// Remember the overall score at `at` among the hourly peaks a drop is measured against.
    fn note_score(&mut self, model: &Model, at: f64, overall: f64) {
        score_drops::note_score(&mut self.state, at, overall, &model.inner);
    }

    /// The `score.dropped` alert (JSON) if the score crossed into or out of a drop, else None; `latest`
    /// is the newest event's JSON.
    fn score_alert_update(
        &mut self,
        model: &Model,
        overall: f64,
        latest: &[u8],
    ) -> PyResult<Option<String>> {
        let event: fold::Event = serde_json::from_slice(latest)
            .map_err(|e| PyValueError::new_err(format!("event: {e}")))?;
        Ok(
            score_drops::score_alert_update(&mut self.state, overall, &model.inner, &event)
                .map(|a| a.to_string()),
        )
    }

    /// Open, escalate or resolve the failed-payment alert on this event (its JSON); the alert (JSON) to
    /// publish, if any.
    fn on_transaction(
        &mut self,
        rules: &TransactionRules,
        event_json: &[u8],
        event_time: f64,
        may_open: bool,
    ) -> PyResult<Option<String>> {
        let event: fold::Event = serde_json::from_slice(event_json)
            .map_err(|e| PyValueError::new_err(format!("event: {e}")))?;
        let alert = transactions::on_transaction(
            &mut self.state,
            &event,
            event_time,
            &rules.inner,
            may_open,
        );
        Ok(alert.map(|a| serde_json::Value::Object(a).to_string()))
    }

    /// Update the hand-offs for one event (its JSON); the alert updates (JSON) it causes.
    fn on_handoff_event(
        &mut self,
        rules: &HandoffRules,
        event_json: &[u8],
        event_time: f64,
    ) -> PyResult<Vec<String>> {
        let event = event_of(event_json)?;
        let state = &mut self.state;
        Ok(json_texts(handoffs::on_event(
            &mut state.handoffs,
            &mut state.early_follow_ups,
            &event,
            event_time,
            &rules.inner,
        )))
    }

    /// Break the hand-offs whose deadline `watermark` passed, forget settled ones; the alerts (JSON).
    fn expire_handoffs(&mut self, rules: &HandoffRules, watermark: f64) -> Vec<String> {
        json_texts(handoffs::expire(
            &mut self.state.handoffs,
            watermark,
            &rules.inner,
        ))
    }

    /// The earliest pending hand-off deadline, if any.
    fn next_deadline(&self) -> Option<f64> {
        handoffs::next_deadline(&self.state.handoffs)
    }

    /// Storm control held back the alert of the hand-off `trigger_event_id` made: its resolution stays
    /// silent too.
    fn suppress_handoff(&mut self, trigger_event_id: &str) {
        handoffs::suppress(&mut self.state.handoffs, trigger_event_id);
    }

    /// Fold one event (its JSON) into the recovery cases, when it concerns them (`recovery.concerns`).
    fn on_recovery_event(
        &mut self,
        rules: &RecoveryRules,
        event_json: &[u8],
        event_time: f64,
    ) -> PyResult<RecoveryOutcome> {
        let event = event_of(event_json)?;
        let none = serde_json::Map::new();
        let step = recovery::Step {
            event_id: &event.event_id,
            event_type: &event.event_type,
            attributes: event.attributes.as_ref().unwrap_or(&none),
        };
        if !recovery::concerns(&step, &rules.inner) {
            return Ok((Vec::new(), 0, Vec::new()));
        }
        let state = &mut self.state;
        Ok(recovery_outcome(recovery::on_event(
            &mut state.recovery,
            &mut state.recovery_early,
            &state.constituent_id,
            &step,
            event_time,
            &rules.inner,
        )))
    }

    /// Stall or lose the open cases whose deadlines `watermark` passed.
    fn expire_recovery(&mut self, rules: &RecoveryRules, watermark: f64) -> RecoveryOutcome {
        let state = &mut self.state;
        recovery_outcome(recovery::expire(
            &mut state.recovery,
            &state.constituent_id,
            watermark,
            &rules.inner,
        ))
    }

    /// When the open recovery cases next need looking at.
    fn next_recovery_deadline(&self) -> Option<f64> {
        recovery::next_deadline(&self.state.recovery)
    }

    /// Fold one scored event (its JSON) into the report: the person's windows (moved in the counters by
    /// `report_flush`), the drivers and failed gifts.
    fn report_event(
        &mut self,
        model: &Model,
        event_json: &[u8],
        event_time: f64,
        mut counters: PyRefMut<'_, ReportCounters>,
    ) -> PyResult<()> {
        let event = event_of(event_json)?;
        report::on_event(
            &mut self.state,
            &mut self.report_before,
            &event,
            event_time,
            &model.inner,
            &mut counters.inner,
        );
        Ok(())
    }

    /// The end of a batch: this person's old window scores out of their groups, the new ones in.
    fn report_flush(&mut self, model: &Model, mut counters: PyRefMut<'_, ReportCounters>) {
        if let Some(before) = self.report_before.take() {
            report::flush(&self.state, before, &model.inner, &mut counters.inner);
        }
    }

    /// The state in the core's binary layout (src/layout.rs): what the changelog will carry.
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &layout::encode(&self.state))
    }

    /// A state from `to_bytes`; a ValueError naming what is wrong for anything else.
    #[staticmethod]
    fn from_bytes(data: &[u8]) -> PyResult<Self> {
        layout::decode(data)
            .map(|state| Constituent {
                state,
                report_before: None,
            })
            .map_err(PyValueError::new_err)
    }

    /// A state the Python model wrote (`ConstituentState.to_dict()` as JSON): its scoring fields.
    #[staticmethod]
    fn from_python_state(state_json: &[u8]) -> PyResult<Self> {
        python_state::from_python_json(state_json)
            .map(|state| Constituent {
                state,
                report_before: None,
            })
            .map_err(PyValueError::new_err)
    }

    /// The state's scoring fields as the Python `ConstituentState.to_dict()` has them, as JSON.
    fn to_json(&self) -> String {
        self.state.to_json().to_string()
    }

    /// At least the length of `to_json()` in bytes, counted without writing it (src/json_size.rs).
    fn json_length_bound(&self) -> usize {
        self.state.json_length_bound()
    }
}

/// Which build this is: the crate's version.
#[pyfunction]
fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

#[pymodule]
fn mission_pulse_core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Model>()?;
    m.add_class::<Constituent>()?;
    m.add_class::<TransactionRules>()?;
    m.add_class::<HandoffRules>()?;
    m.add_class::<RecoveryRules>()?;
    m.add_class::<ReportCounters>()?;
    m.add_class::<worker::Worker>()?;
    m.add_function(wrap_pyfunction!(version, m)?)?;
    Ok(())
}
