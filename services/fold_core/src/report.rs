//! What one scored event adds to the Mission Experience report (services/domain/report/contributions.py
//! and counters.py, the specification): a person's points per hour and day window, moved in the
//! window's counters once per batch (`flush`), the drivers, failed gifts, recoveries and people newly
//! at risk — integer counters that only add up.

use crate::fast::IndexMap;
use crate::fold::{matches, scores_from_totals, Event, OTHER};
use crate::model::Model;
use crate::python_numbers::{floordiv_int as floordiv_int_of, py_truthy};
use crate::state::{entry, get, State};
use serde_json::Value;

pub const ALL: &str = "all";
const BINS: i64 = 10;
const HOUR_HORIZON: f64 = 48.0 * 3600.0;
const DAY_HORIZON: f64 = 40.0 * 86400.0;
const SCORE_NAMES: [&str; 4] = ["overall", "content", "operations", "principles"];
const PROCESSORS: [&str; 8] = [
    "stripe",
    "paypal",
    "braintree",
    "adyen",
    "square",
    "gocardless",
    "cash",
    "check",
];
const ERROR_CODES: [&str; 16] = [
    "card_declined",
    "insufficient_funds",
    "expired_card",
    "incorrect_cvc",
    "incorrect_number",
    "processing_error",
    "gateway_timeout",
    "do_not_honor",
    "generic_decline",
    "lost_card",
    "stolen_card",
    "fraudulent",
    "authentication_required",
    "try_again_later",
    "invalid_account",
    "currency_not_supported",
];

pub type Points = [i64; 3]; // content, operations, principles, thousandths of a point
pub type Windows = Vec<(String, Vec<(String, Points)>)>; // window → part → points
type Scores4 = [i64; 4];

/// `WindowCounters`: window → counter name → value.
pub type Counters = IndexMap<String, IndexMap<String, i64>>;

fn counter_of<'a>(counters: &'a mut Counters, window: &str) -> &'a mut IndexMap<String, i64> {
    if !counters.contains_key(window) {
        counters.insert(window.to_owned(), IndexMap::default());
    }
    counters.get_mut(window).expect("just made")
}

fn bump(counted: &mut IndexMap<String, i64>, name: std::fmt::Arguments<'_>, value: i64) {
    // the name written into one reused buffer: a String is made only for a name not counted yet
    thread_local! {
        static NAME: std::cell::RefCell<String> = std::cell::RefCell::new(String::with_capacity(64));
    }
    NAME.with(|buffer| {
        let mut buffer = buffer.borrow_mut();
        buffer.clear();
        std::fmt::Write::write_fmt(&mut *buffer, name).expect("a String takes any text");
        match counted.get_mut(buffer.as_str()) {
            Some(counter) => *counter += value,
            None => {
                counted.insert(buffer.clone(), value);
            }
        }
    });
}

/// `add`: a nonzero value onto a window's counter.
pub fn add(counters: &mut Counters, window: &str, name: std::fmt::Arguments<'_>, value: i64) {
    if value != 0 {
        bump(counter_of(counters, window), name, value);
    }
}

/// `cents` of a float: Python's `round(amount * 100)`.
fn cents(amount: f64) -> i64 {
    (amount * 100.0).round_ties_even() as i64
}

/// `window_bounds(window)[1]`: the end of `h:<hour>` or `d:<day>`.
fn window_end(window: &str) -> f64 {
    let (prefix, index) = window.split_once(':').unwrap_or((window, "0"));
    let index: i64 = index.parse().unwrap_or(0);
    ((index + 1) * if prefix == "h" { 3600 } else { 86400 }) as f64
}

fn horizon_of(window: &str) -> f64 {
    if window.starts_with("h:") {
        HOUR_HORIZON
    } else {
        DAY_HORIZON
    }
}

/// `window_of` for both granularities.
pub fn windows_of(epoch: f64) -> [String; 2] {
    [
        format!("h:{}", floordiv_int_of(epoch, 3600.0)),
        format!("d:{}", floordiv_int_of(epoch, 86400.0)),
    ]
}

/// `_milli`: the type's impact in thousandths of a point, and its weighted total.
fn milli(model: &Model, event_type: &str) -> Option<(Points, i64)> {
    let impact = model.impacts.get(event_type)?;
    let points = [impact.content, impact.operations, impact.principles]
        .map(|p| (p * 1000.0).round_ties_even() as i64);
    let w = model.weights;
    let weighted = 0.0
        + w.content * points[0] as f64
        + w.operations * points[1] as f64
        + w.principles * points[2] as f64;
    Some((points, weighted.round_ties_even() as i64))
}

/// `window_scores`: overall, content, operations, principles in hundredths, from a window's points.
fn window_scores(model: &Model, points: &Points) -> Scores4 {
    let scores = scores_from_totals(model, points.map(|v| v as f64 / 1000.0));
    scores.map(|s| (s * 100.0).round_ties_even() as i64)
}

fn band(overall: i64) -> i64 {
    (BINS - 1).min(overall.div_euclid(10_000 / BINS))
}

/// `_person`: a person in or out of a group.
fn person(counted: &mut IndexMap<String, i64>, group: &str, scores: &Scores4, sign: i64) {
    bump(counted, format_args!("people|{group}"), sign);
    for (name, value) in SCORE_NAMES.iter().zip(scores) {
        bump(counted, format_args!("sum|{group}|{name}"), sign * value);
    }
    bump(
        counted,
        format_args!("hist|{group}|{}", band(scores[0])),
        sign,
    );
}

/// `_move`: a person staying in a group, their window scores changed.
fn shift(counted: &mut IndexMap<String, i64>, group: &str, old: &Scores4, new: &Scores4) {
    for ((name, before), after) in SCORE_NAMES.iter().zip(old).zip(new) {
        if after != before {
            bump(counted, format_args!("sum|{group}|{name}"), after - before);
        }
    }
    let (old_band, new_band) = (band(old[0]), band(new[0]));
    if old_band != new_band {
        bump(counted, format_args!("hist|{group}|{old_band}"), -1);
        bump(counted, format_args!("hist|{group}|{new_band}"), 1);
    }
}

/// `_roles_in`: the role groups held in a window ending at `end`.
fn roles_in(role_since: &[(String, f64)], end: f64) -> Vec<String> {
    let mut held: Vec<&(String, f64)> = role_since.iter().collect();
    held.sort_by(|a, b| a.0.cmp(&b.0));
    held.iter()
        .filter(|(_, since)| *since < end)
        .map(|(role, _)| format!("role:{role}"))
        .collect()
}

/// What a person's windows and roles were before the batch (`Journal.note`).
pub type Before = (Windows, Vec<(String, f64)>);

fn same_map<V: PartialEq>(a: &[(String, V)], b: &[(String, V)]) -> bool {
    a.len() == b.len() && a.iter().all(|(k, v)| get(b, k) == Some(v))
}

/// `on_event`: fold one scored event into the person's windows and the batch's drivers and failed gifts.
/// `before` is the journal's note of this person (taken on their first event of the batch).
pub fn on_event(
    state: &mut State,
    before: &mut Option<Before>,
    event: &Event,
    event_time: f64,
    model: &Model,
    counters: &mut Counters,
) {
    if before.is_none() {
        *before = Some((state.report_windows.clone(), state.role_since.clone()));
    }
    if let Some(rules) = model.roles_by_type.get(&event.event_type) {
        for rule in rules {
            if matches(&rule.attributes, event) {
                let since = entry(&mut state.role_since, &rule.role, || event_time);
                if event_time < *since {
                    *since = event_time; // min(known, event_time)
                }
            }
        }
    }
    let last = state.last_event_at();
    let newest = if event_time > last { event_time } else { last };
    let (hour, day) = (
        floordiv_int_of(event_time, 3600.0),
        floordiv_int_of(event_time, 86400.0),
    );
    let windows = [
        (
            format!("h:{hour}"),
            ((hour + 1) * 3600) as f64 + HOUR_HORIZON,
        ),
        (format!("d:{day}"), ((day + 1) * 86400) as f64 + DAY_HORIZON),
    ];
    if let Some((points, weighted)) = milli(model, &event.event_type) {
        let source = if model.knows_source(&event.source) {
            event.source.as_str()
        } else {
            OTHER
        };
        let part_of_source = format!("source:{source}");
        for (window, closes) in &windows {
            if *closes > newest {
                let parts = entry(&mut state.report_windows, window, Vec::new);
                for part in [ALL, part_of_source.as_str()] {
                    let total = entry(parts, &part.to_owned(), || [0, 0, 0]);
                    for (t, p) in total.iter_mut().zip(points) {
                        *t += p;
                    }
                }
            }
            let counted = counter_of(counters, window);
            bump(
                counted,
                format_args!("driver|{}|points", event.event_type),
                weighted,
            );
            bump(
                counted,
                format_args!("driver|{}|events", event.event_type),
                1,
            );
        }
    }
    if event.event_type == "donation.failed" {
        for (window, _) in &windows {
            failed_gift(counters, window, event);
        }
    }
    if state.report_windows.len() > 4 {
        state
            .report_windows
            .retain(|(window, _)| window_end(window) + horizon_of(window) > newest);
    }
}

fn failed_gift(counters: &mut Counters, window: &str, event: &Event) {
    let none = serde_json::Map::new();
    let attributes = event.attributes.as_ref().unwrap_or(&none);
    let processor = match attributes.get("processor") {
        Some(Value::String(p)) if PROCESSORS.contains(&p.as_str()) => p.as_str(),
        _ => OTHER,
    };
    let code = match attributes.get("error_code") {
        Some(Value::String(c)) if ERROR_CODES.contains(&c.as_str()) => c.as_str(),
        Some(c) if py_truthy(c) => OTHER,
        _ => "none",
    };
    add(
        counters,
        window,
        format_args!("failed|{processor}|{code}|count"),
        1,
    );
    let amount_cents = match attributes.get("amount") {
        Some(Value::Number(n)) => match n.as_i64() {
            Some(whole) => (whole.unsigned_abs() < 1_000_000_000_000).then(|| whole * 100),
            None => n.as_f64().filter(|x| x.abs() < 1e12).map(cents),
        },
        _ => None, // not a number (a bool is not one here)
    };
    if let Some(value) = amount_cents {
        add(
            counters,
            window,
            format_args!("failed|{processor}|{code}|cents"),
            value,
        );
    }
}

/// `Journal.flush` for one person: their old window scores out of their groups, the new ones in.
pub fn flush(state: &State, before: Before, model: &Model, counters: &mut Counters) {
    let (windows_before, roles_before) = before;
    let roles_changed = !same_map(&roles_before, &state.role_since);
    for (window, parts) in &state.report_windows {
        let no_parts = Vec::new();
        let old_parts = get(&windows_before, window).unwrap_or(&no_parts);
        if !roles_changed && same_map(old_parts, parts) {
            continue;
        }
        let end = window_end(window);
        let old_roles = roles_in(&roles_before, end);
        let new_roles = roles_in(&state.role_since, end);
        let counted = counter_of(counters, window);
        for (part, new) in parts {
            let old = get(old_parts, part);
            let groups = |roles: &[String]| -> Vec<String> {
                let mut groups = vec![part.clone()];
                if part == ALL {
                    groups.extend(roles.iter().cloned());
                }
                groups
            };
            let (old_groups, new_groups) = (groups(&old_roles), groups(&new_roles));
            if old == Some(new) && old_groups == new_groups {
                continue;
            }
            let new_scores = window_scores(model, new);
            let Some(old) = old else {
                new_groups
                    .iter()
                    .for_each(|g| person(counted, g, &new_scores, 1));
                continue;
            };
            let old_scores = window_scores(model, old);
            for group in &old_groups {
                if new_groups.contains(group) {
                    shift(counted, group, &old_scores, &new_scores);
                } else {
                    person(counted, group, &old_scores, -1);
                }
            }
            for group in &new_groups {
                if !old_groups.contains(group) {
                    person(counted, group, &new_scores, 1);
                }
            }
        }
    }
}

/// `recovered`: a failed recurring gift recovered at `at` with `amount`.
pub fn recovered(counters: &mut Counters, at: f64, amount: f64) {
    for window in windows_of(at) {
        add(counters, &window, format_args!("recovered|count"), 1);
        add(
            counters,
            &window,
            format_args!("recovered|cents"),
            cents(amount),
        );
    }
}

/// `fell_below_floor`: a person newly below the at-risk floor at `at`, with their last 12 months' giving.
pub fn fell_below_floor(counters: &mut Counters, at: f64, giving: f64) {
    for window in windows_of(at) {
        add(counters, &window, format_args!("at_risk|count"), 1);
        add(
            counters,
            &window,
            format_args!("at_risk|giving_cents"),
            cents(giving),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::band;

    #[test]
    fn a_perfect_window_score_is_in_the_top_band() {
        // `min(BINS - 1, overall // 1000)`: 100.00 shares the last bin with 90.00–99.99
        assert_eq!(
            [band(0), band(999), band(1000), band(9999), band(10_000)],
            [0, 0, 1, 9, 9]
        );
    }
}
