//! What the fold keeps per constituent, typed and compact: the scoring part of `ConstituentState`
//! (services/domain/scoring.py). Maps the Python model keeps as dicts are small vectors here, kept in the
//! order the dict would have (first insertion), because float sums are added in that order.

use crate::dedup::Token;
use serde_json::{json, Map, Value};

pub type Touch = (f64, String, String, String); // occurred_at epoch, source, type, event id

#[derive(Default, Clone)]
pub struct State {
    pub constituent_id: String,
    pub reference_time: f64,
    pub contributions: Vec<(String, [f64; 3])>, // event type -> decayed impact sums
    pub seen: Vec<(i64, Vec<Token>)>,           // day of event time -> the events counted that day
    pub counts: Vec<(String, i64)>,             // "source|type" -> lifetime count
    pub hourly: Vec<(i64, Vec<(String, i64)>)>, // hour -> "source|type" -> count
    pub last_touch: Vec<(String, f64)>,         // source -> newest event time
    pub roles: Vec<String>,                     // sorted
    pub events: i64,
    pub giving: Vec<(i64, f64)>, // 30-day period -> donation.succeeded amounts
    pub timeline: Vec<Touch>,    // the newest touchpoints, in (time, source, type, id) order
    pub score_peaks: Vec<(i64, f64)>, // hour -> highest overall score (score.dropped)
    pub score_alerts_opened: i64,
    pub score_alert_opened_at: Option<String>,
    pub failed_transaction: Option<crate::transactions::FailedTransaction>,
    pub handoffs: Vec<crate::handoffs::Handoff>,
    pub early_follow_ups: Vec<crate::handoffs::EarlyFollowUp>,
    pub recovery: Vec<crate::recovery::Case>,
    pub recovery_early: Vec<crate::recovery::Early>,
    pub report_windows: crate::report::Windows, // window → part → points (thousandths)
    pub role_since: Vec<(String, f64)>,         // role → event time of the first event that gave it
}

pub fn entry<'a, K: PartialEq + Clone, V>(
    map: &'a mut Vec<(K, V)>,
    key: &K,
    new: impl FnOnce() -> V,
) -> &'a mut V {
    let at = match map.iter().position(|(k, _)| k == key) {
        Some(at) => at,
        None => {
            map.push((key.clone(), new()));
            map.len() - 1
        }
    };
    &mut map[at].1
}

pub fn get<'a, K: PartialEq, V>(map: &'a [(K, V)], key: &K) -> Option<&'a V> {
    map.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

impl State {
    pub fn new(constituent_id: &str) -> State {
        State {
            constituent_id: constituent_id.to_owned(),
            ..State::default()
        }
    }

    /// `ConstituentState.last_event_at`: the newest event time of any source (0 with none).
    pub fn last_event_at(&self) -> f64 {
        self.last_touch
            .iter()
            .map(|(_, t)| *t)
            .fold(None, |m: Option<f64>, t| Some(m.map_or(t, |m| m.max(t))))
            .unwrap_or(0.0)
    }

    /// The fields the Python `to_dict` gives for the scoring part, in its JSON shape (days, hours and
    /// periods as text, event ids as their 11-character tokens run together).
    pub fn to_json(&self) -> Value {
        let pairs =
            |items: Vec<(String, Value)>| Value::Object(items.into_iter().collect::<Map<_, _>>());
        json!({
            "constituent_id": self.constituent_id,
            "reference_time": self.reference_time,
            "contributions": pairs(self.contributions.iter().map(|(k, v)| (k.clone(), json!(v))).collect()),
            "seen_event_ids": pairs(self.seen.iter().map(|(day, tokens)| {
                (day.to_string(), Value::String(tokens.iter().map(crate::dedup::text).collect()))
            }).collect()),
            "counts": pairs(self.counts.iter().map(|(k, v)| (k.clone(), json!(v))).collect()),
            "hourly": pairs(self.hourly.iter().map(|(hour, bucket)| {
                (hour.to_string(), pairs(bucket.iter().map(|(k, v)| (k.clone(), json!(v))).collect()))
            }).collect()),
            "last_touch": pairs(self.last_touch.iter().map(|(k, v)| (k.clone(), json!(v))).collect()),
            "roles": self.roles,
            "events": self.events,
            "giving": pairs(self.giving.iter().map(|(p, v)| (p.to_string(), json!(v))).collect()),
            "timeline": self.timeline.iter().map(|(t, s, ty, id)| json!([t, s, ty, id])).collect::<Vec<_>>(),
            "score_peaks": pairs(self.score_peaks.iter().map(|(h, p)| (h.to_string(), json!(p))).collect()),
            "score_alerts_opened": self.score_alerts_opened,
            "score_alert_opened_at": self.score_alert_opened_at,
            "failed_transaction": self.failed_transaction.as_ref().map(|f| f.to_json()),
            "handoffs": self.handoffs.iter().map(|h| h.to_json()).collect::<Vec<_>>(),
            "early_follow_ups": self.early_follow_ups.iter().map(|f| f.to_json()).collect::<Vec<_>>(),
            "recovery": self.recovery.iter().map(|c| c.to_json()).collect::<Vec<_>>(),
            "recovery_early": self.recovery_early.iter().map(|f| f.to_json()).collect::<Vec<_>>(),
            "report_windows": pairs(self.report_windows.iter().map(|(window, parts)| {
                (window.clone(), pairs(parts.iter().map(|(part, points)| (part.clone(), json!(points))).collect()))
            }).collect()),
            "role_since": pairs(self.role_since.iter().map(|(role, at)| (role.clone(), json!(at))).collect()),
        })
    }
}
