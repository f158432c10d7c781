//! The batch processor as Python sees it (`mission_pulse_core.Worker`): records in, what the batch
//! changed out, as plain Python values; states stored as the core's bytes (src/layout.rs), a state the
//! Python model wrote (JSON) read as well.

use crate::batch::{self, Host};
use crate::records::{Incoming, Python as PythonHooks};
use crate::state::State;
use crate::{layout, model, published, python_state};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString};

/// A stored state: the core's layout, or the JSON the Python model wrote (read once, written back as
/// the core's bytes).
pub fn stored_state(data: &[u8]) -> Result<State, String> {
    if data.first() == Some(&b'{') {
        python_state::from_python_json(data)
    } else {
        layout::decode(data)
    }
}

struct PyHost<'py> {
    py: Python<'py>,
    load: Bound<'py, PyAny>,
    event_time: Bound<'py, PyAny>,
    failed: Option<PyErr>, // what the loader raised: raised again, as it was, from `process`
}

impl PythonHooks for PyHost<'_> {
    fn repr_text(&mut self, text: &str) -> String {
        PyString::new(self.py, text)
            .repr()
            .map_or_else(|_| format!("{text:?}"), |r| r.to_string())
    }

    fn repr_bytes(&mut self, data: &[u8]) -> String {
        PyBytes::new(self.py, data)
            .repr()
            .map_or_else(|_| format!("{data:?}"), |r| r.to_string())
    }

    fn event_time(&mut self, occurred_at: &str) -> Result<f64, String> {
        match self.event_time.call1((occurred_at,)) {
            Ok(time) => time.extract::<f64>().map_err(|e| e.to_string()),
            Err(error) => Err(error.value(self.py).to_string()),
        }
    }
}

impl Host for PyHost<'_> {
    fn load(&mut self, constituent_id: &str, partition: u32) -> Result<Option<State>, String> {
        let stored = match self.load.call1((constituent_id, partition)) {
            Ok(stored) => stored,
            Err(error) => {
                let said = format!("loading {constituent_id:?}: {error}");
                self.failed = Some(error);
                return Err(said);
            }
        };
        if stored.is_none() {
            return Ok(None);
        }
        let data = stored
            .cast::<PyBytes>()
            .map_err(|_| format!("loading {constituent_id:?}: not bytes"))?;
        stored_state(data.as_bytes()).map(Some)
    }
}

type Record<'py> = (u32, Option<Bound<'py, PyBytes>>, Bound<'py, PyBytes>, f64);

/// `BatchProcessor` compiled: watermarks, storm budgets and erasures remembered between batches.
#[pyclass(module = "mission_pulse_core")]
pub struct Worker {
    inner: batch::Worker,
    model_version: String,
    max_state_bytes: Option<usize>,
}

#[pymethods]
impl Worker {
    /// From `ScoringModel.model_dump_json()`, its `fingerprint` and `max_future_seconds`, and
    /// `AlertRules.model_dump_json()`; `max_state_bytes`: the limit on a state's JSON (state_bounds.py)
    /// near which a changed person is flagged for the Python model's trimming rule.
    #[new]
    #[pyo3(signature = (model_json, model_version, max_future_s, rules_json, max_state_bytes=None))]
    fn new(
        model_json: &str,
        model_version: &str,
        max_future_s: f64,
        rules_json: &str,
        max_state_bytes: Option<usize>,
    ) -> PyResult<Self> {
        let model = model::Model::from_json(model_json).map_err(PyValueError::new_err)?;
        batch::Worker::new(model, max_future_s, rules_json)
            .map(|inner| Worker {
                inner,
                model_version: model_version.to_owned(),
                max_state_bytes,
            })
            .map_err(PyValueError::new_err)
    }

    /// An erasure record folded (`ErasureRegistry.apply`): touchpoints written up to `at` are dropped.
    fn note_erasure(&mut self, constituent_id: &str, at: f64) {
        self.inner.note_erasure(constituent_id, at);
    }

    /// The partition's watermark now (`Watermarks.watermark`).
    fn watermark(&self, partition: u32, now: f64) -> f64 {
        self.inner.watermarks.watermark(partition, now)
    }

    /// Fold a batch: `records` as (partition, key, value, timestamp); `load(constituent_id, partition)`
    /// gives a stored state's bytes or None; `event_time(text)` is Python's reading of an unusual
    /// `occurred_at` (raising ValueError). A dict of what the batch changed, as `BatchResult` holds it.
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (records, load, event_time, now, due=Vec::new(), partitions=None, erase=Vec::new()))]
    fn process<'py>(
        &mut self,
        py: Python<'py>,
        records: Vec<Record<'py>>,
        load: Bound<'py, PyAny>,
        event_time: Bound<'py, PyAny>,
        now: f64,
        due: Vec<(u32, String)>,
        partitions: Option<u32>,
        erase: Vec<(u32, String)>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let incoming: Vec<Incoming> = records
            .iter()
            .map(|(partition, key, value, timestamp)| Incoming {
                partition: *partition,
                key: key.as_ref().map(|k| k.as_bytes()),
                value: value.as_bytes(),
                timestamp: *timestamp,
            })
            .collect();
        let mut host = PyHost {
            py,
            load,
            event_time,
            failed: None,
        };
        let out = self
            .inner
            .process(&incoming, &mut host, now, &due, partitions, &erase)
            .map_err(|said| {
                host.failed
                    .take()
                    .unwrap_or_else(|| PyValueError::new_err(said))
            })?;
        output(
            py,
            out,
            &self.inner,
            now,
            &self.model_version,
            self.max_state_bytes,
        )
    }
}

type Changed<'a, 'py> = (
    &'a str,
    u32,
    Bound<'py, PyBytes>,
    Bound<'py, PyBytes>,
    Option<Bound<'py, PyBytes>>,
    bool,
);

/// A stored state's JSON is at most this many times its bytes (a safe bound: a hand-off's field names
/// alone are ~15× its bytes); only a state above `limit / JSON_PER_BYTE_BOUND` bytes is measured.
const JSON_PER_BYTE_BOUND: usize = 32;
/// How near the limit a state's JSON as the core writes it may come before the Python model, whose
/// JSON the limit is on, measures it exactly (the two may differ by a few bytes: floats, whole numbers).
const NEAR_LIMIT: usize = 1024;

/// Whether a state of `stored` bytes may be over `limit` as the Python model's JSON.
fn near_limit(state: &crate::state::State, stored: usize, limit: Option<usize>) -> bool {
    match limit {
        Some(limit) if stored * JSON_PER_BYTE_BOUND > limit => {
            if state.json_length_bound().saturating_add(NEAR_LIMIT) <= limit {
                return false; // counted without writing it, and far enough under
            }
            let json = serde_json::to_vec(&state.to_json()).map_or(usize::MAX, |j| j.len());
            json.saturating_add(NEAR_LIMIT) > limit
        }
        _ => false,
    }
}

fn json_bytes<'py>(py: Python<'py>, value: &serde_json::Value) -> Bound<'py, PyBytes> {
    PyBytes::new(py, &serde_json::to_vec(value).unwrap_or_default())
}

/// The batch as Python values. Each changed person: their id, partition, state (the core's bytes), score
/// record, deadline entry (JSON bytes; None when owed nothing) and whether the state is near
/// `max_state_bytes` as JSON (then the Python model's trimming rule decides).
fn output<'py>(
    py: Python<'py>,
    out: batch::Output,
    worker: &batch::Worker,
    now: f64,
    model_version: &str,
    max_state_bytes: Option<usize>,
) -> PyResult<Bound<'py, PyDict>> {
    let model = &worker.model;
    let result = PyDict::new(py);
    let changed: Vec<Changed> = out
        .changed
        .iter()
        .map(|id| {
            let state = &out.people[id].state;
            let partition = out.partitions[id];
            let record = published::score_record(state, model, now, model_version);
            let deadline = published::deadline_entry(state, partition);
            let stored = layout::encode(state);
            let near = near_limit(state, stored.len(), max_state_bytes);
            (
                id.as_str(),
                partition,
                PyBytes::new(py, &stored),
                PyBytes::new(py, &record),
                deadline.map(|d| json_bytes(py, &d)),
                near,
            )
        })
        .collect();
    result.set_item("changed", changed)?;
    let erased: Vec<(&str, u32)> = out
        .erased
        .iter()
        .map(|id| (id.as_str(), out.partitions[id]))
        .collect();
    result.set_item("erased", erased)?;
    let alerts: Vec<(String, f64)> = out
        .alerts
        .into_iter()
        .map(|(alert, at)| (serde_json::Value::Object(alert).to_string(), at))
        .collect();
    result.set_item("alerts", alerts)?;
    let dead: Vec<(Bound<'py, PyBytes>, Option<String>, &str)> = out
        .dead_letters
        .into_iter()
        .map(|d| (PyBytes::new(py, &d.raw), d.reason, d.code))
        .collect();
    result.set_item("dead_letters", dead)?;
    let outcomes: Vec<((String, String, &str), i64)> = out.outcomes.into_iter().collect();
    result.set_item("outcomes", outcomes)?;
    result.set_item("event_times", out.event_times)?;
    let spikes: Vec<(usize, String, i64, i64, i64, Vec<String>)> = out
        .spike_counts
        .into_iter()
        .map(|((rule, key, bucket), p)| (rule, key, bucket, p.attempts, p.failures, p.evidence))
        .collect();
    result.set_item("spike_counts", spikes)?;
    let sources: Vec<(String, Vec<(i64, i64)>)> = out
        .source_counts
        .into_iter()
        .map(|(key, buckets)| (key, buckets.into_iter().collect()))
        .collect();
    result.set_item("source_counts", sources)?;
    result.set_item("suppressed_alerts", out.suppressed_alerts)?;
    result.set_item("recoveries_opened", out.recoveries_opened)?;
    let closed: Vec<(&str, f64, f64, f64)> = out
        .recoveries_closed
        .iter()
        .map(|c| (c.outcome, c.amount, c.seconds, c.at))
        .collect();
    result.set_item("recoveries_closed", closed)?;
    let report: Vec<(String, Vec<(String, i64)>)> = out
        .report
        .into_iter()
        .map(|(window, counted)| (window, counted.into_iter().collect()))
        .collect();
    result.set_item("report", report)?;
    Ok(result)
}
