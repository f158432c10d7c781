//! The scoring model as the fold needs it: `ScoringModel` of services/domain/scoring_model.py, read from
//! its JSON (`model.model_dump_json()`), validated there.

use crate::fast::HashMap;
use serde::Deserialize;
use serde_json::{Map, Value};

pub const SECONDS_PER_HOUR: f64 = 3600.0;
pub const RETAINED_HOURS: i64 = 30 * 24; // the longest rolling window the API reports

#[derive(Deserialize, Clone, Copy)]
pub struct Dimensions {
    #[serde(default)]
    pub content: f64,
    #[serde(default)]
    pub operations: f64,
    #[serde(default)]
    pub principles: f64,
}

#[derive(Deserialize)]
pub struct RoleRule {
    #[serde(rename = "type")]
    pub event_type: String,
    #[serde(default)]
    pub attributes: Map<String, Value>,
    pub role: String,
}

#[derive(Deserialize, Clone)]
pub struct ScoreAlertRule {
    pub drop_points: f64,
    pub drop_window_hours: i64,
    pub floor: f64,
}

#[derive(Deserialize)]
struct ModelJson {
    baseline: f64,
    half_life_hours: f64,
    saturation: f64,
    timeline_length: usize,
    sources: Vec<String>,
    weights: Dimensions,
    impacts: HashMap<String, Dimensions>,
    #[serde(default)]
    roles: Vec<RoleRule>,
    score_alert: ScoreAlertRule,
}

pub struct Model {
    pub baseline: f64,
    pub half_life_hours: f64,
    pub saturation: f64,
    pub timeline_length: usize,
    pub sources: Vec<String>,
    pub weights: Dimensions,
    pub impacts: HashMap<String, Dimensions>,
    pub score_alert: ScoreAlertRule,
    pub roles_by_type: HashMap<String, Vec<RoleRule>>, // the rules an event of each type could match
}

impl Model {
    pub fn from_json(text: &str) -> Result<Model, String> {
        let parsed: ModelJson =
            serde_json::from_str(text).map_err(|e| format!("scoring model: {e}"))?;
        let mut roles_by_type: HashMap<String, Vec<RoleRule>> = HashMap::default();
        for rule in parsed.roles {
            roles_by_type
                .entry(rule.event_type.clone())
                .or_default()
                .push(rule);
        }
        Ok(Model {
            baseline: parsed.baseline,
            half_life_hours: parsed.half_life_hours,
            saturation: parsed.saturation,
            timeline_length: parsed.timeline_length,
            sources: parsed.sources,
            weights: parsed.weights,
            impacts: parsed.impacts,
            score_alert: parsed.score_alert,
            roles_by_type,
        })
    }

    /// The factor an impact keeps after `seconds` of event time (`scoring.decay`).
    pub fn decay(&self, seconds: f64) -> f64 {
        // The C library's pow, as Python's `0.5 ** x`: with the base a constant LLVM would call exp2(-x)
        // instead, which differs from pow in the last bit for some x (the differential test found one).
        std::hint::black_box(0.5f64).powf(seconds / (self.half_life_hours * SECONDS_PER_HOUR))
    }

    pub fn knows_source(&self, source: &str) -> bool {
        self.sources.iter().any(|s| s == source)
    }
}
