//! A constituent's state as bytes: what the changelog will carry and a restore will load straight back
//! (issue 35: versioned, compact, dedup as fixed-size hashes). Version 1 holds the scoring state.
//!
//! Layout (integers as LEB128 varints, signed ones zigzagged; floats as 8 little-endian bytes):
//!
//! ```text
//! version (1) | id (a kind byte: 1 a UUID as 16 bytes, 0 text) | strings: n, each len + UTF-8
//! reference_time | events
//! contributions: n, each (type: string index, a mask of the sums not +0.0, those floats)
//! seen: n days, each (day, n tokens, 8 bytes each)
//! counts: n, each (source index, type index, count)      "source|type" split at the first "|"
//! hourly: n hours, each (hour, n, each (source, type, count))   days and hours: steps from the last
//! last_touch: n, each (source index, float)
//! roles: n, each string index
//! giving: n, each (period, float)
//! timeline: n, each (time: whole ms after the previous, or the float; source; type; event id as above)
//! score_peaks: n, each (hour as a step, float) | score_alerts_opened | score_alert_opened_at (0, or 1 + text)
//! failed_transaction: 0, or 1 + its alert as JSON text + n failures, each (float, event id)
//! handoffs: n, each (rule index, a byte of flags: status in bits 6–7, which options follow in bits 0–5;
//!   constituent id, source index, trigger event id, correlation, deadline, then the options present:
//!   settled_at, bounced_at, cancelled_by, resolved_at_iso, broken_at_iso)
//! early_follow_ups: n, each (rule index, bounce byte, correlation, time, event id)
//! correlation: 0 none, 1 + text, 2 + any other JSON value as text
//! recovery, recovery_early: 0 none, else 1 + the list as JSON text (rare: failed recurring gifts)
//! report_windows: n, each (a byte 'h' or 'd', index as a step from the last, n parts, each (part index,
//!   three signed points)) | role_since: n, each (role index, float)
//! ```
//!
//! Maps keep their order (first insertion), which the float sums depend on.

use crate::handoffs::{EarlyFollowUp, Handoff, Status};
use crate::recovery::{Case, Early};
use crate::state::State;
use crate::transactions::FailedTransaction;
use serde_json::Value;

pub const VERSION: u8 = 1;

#[derive(Default)]
struct Writer {
    out: Vec<u8>,
    strings: Vec<String>,
}

impl Writer {
    fn varint(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.out.push((value as u8) | 0x80);
            value >>= 7;
        }
        self.out.push(value as u8);
    }

    fn signed(&mut self, value: i64) {
        self.varint((value.wrapping_shl(1) ^ (value >> 63)) as u64);
    }

    fn float(&mut self, value: f64) {
        self.out.extend_from_slice(&value.to_le_bytes());
    }

    fn text(&mut self, value: &str) {
        self.varint(value.len() as u64);
        self.out.extend_from_slice(value.as_bytes());
    }

    /// An id: 16 bytes when it is a UUID written the canonical way (lowercase, hyphenated), else text.
    fn id(&mut self, value: &str) {
        match uuid_bytes(value) {
            Some(bytes) => {
                self.out.push(1);
                self.out.extend_from_slice(&bytes);
            }
            None => {
                self.out.push(0);
                self.text(value);
            }
        }
    }

    /// A time after `previous`: whole milliseconds as a varint of the step when that is exact, else the
    /// float itself (the low bit says which).
    fn time_after(&mut self, previous: f64, value: f64) {
        let ms = (value * 1000.0).round();
        let prev_ms = (previous * 1000.0).round();
        if ms / 1000.0 == value
            && prev_ms / 1000.0 == previous
            && ms >= prev_ms
            && ms - prev_ms < 2f64.powi(52)
        {
            self.varint(((ms - prev_ms) as u64) << 1);
        } else {
            self.varint(1);
            self.float(value);
        }
    }

    /// A correlation id: none, text, or (never sent by the schema, kept all the same) another JSON value.
    fn correlation(&mut self, value: &Value) {
        match value {
            Value::Null => self.out.push(0),
            Value::String(text) => {
                self.out.push(1);
                self.text(text);
            }
            other => {
                self.out.push(2);
                self.text(&other.to_string());
            }
        }
    }

    fn handoff(&mut self, h: &Handoff) {
        self.index(&h.rule);
        let status = match h.status {
            Status::Pending => 0u8,
            Status::Kept => 1,
            Status::Broken => 2,
        };
        let present = [
            h.settled_at.is_some(),
            h.bounced_at.is_some(),
            h.suppressed,
            h.cancelled_by.is_some(),
            h.resolved_at_iso.is_some(),
            h.broken_at_iso.is_some(),
        ];
        let flags = present
            .iter()
            .enumerate()
            .fold(status << 6, |f, (i, &p)| if p { f | 1 << i } else { f });
        self.out.push(flags);
        self.id(&h.constituent_id);
        self.index(&h.source);
        self.id(&h.trigger_event_id);
        self.correlation(&h.correlation_id);
        self.float(h.deadline);
        h.settled_at
            .iter()
            .chain(&h.bounced_at)
            .for_each(|&t| self.float(t));
        if let Some(id) = &h.cancelled_by {
            self.id(id);
        }
        h.resolved_at_iso
            .iter()
            .chain(&h.broken_at_iso)
            .for_each(|t| self.text(t));
    }

    fn index(&mut self, name: &str) {
        let at = self
            .strings
            .iter()
            .position(|s| s == name)
            .expect("every name is in the table");
        self.varint(at as u64);
    }
}

/// The names a state uses (sources, types, roles), each once, in first-seen order.
fn names(state: &State) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let mut add = |name: &str| {
        if !names.iter().any(|n| n == name) {
            names.push(name.to_owned());
        }
    };
    state.contributions.iter().for_each(|(t, _)| add(t));
    for (key, _) in state
        .counts
        .iter()
        .chain(state.hourly.iter().flat_map(|(_, b)| b.iter()))
    {
        let (source, event_type) = split(key);
        add(source);
        add(event_type);
    }
    state.last_touch.iter().for_each(|(s, _)| add(s));
    state.roles.iter().for_each(|r| add(r));
    for (_, source, event_type, _) in &state.timeline {
        add(source);
        add(event_type);
    }
    for handoff in &state.handoffs {
        add(&handoff.rule);
        add(&handoff.source);
    }
    state.early_follow_ups.iter().for_each(|f| add(&f.rule));
    for (_, parts) in &state.report_windows {
        parts.iter().for_each(|(part, _)| add(part));
    }
    state.role_since.iter().for_each(|(role, _)| add(role));
    names
}

fn split(key: &str) -> (&str, &str) {
    key.split_once('|').unwrap_or((key, ""))
}

fn uuid_bytes(value: &str) -> Option<[u8; 16]> {
    let b = value.as_bytes();
    if b.len() != 36 || [8, 13, 18, 23].iter().any(|&i| b[i] != b'-') {
        return None;
    }
    let hex: Vec<u8> = b.iter().copied().filter(|&c| c != b'-').collect();
    let mut out = [0u8; 16];
    for (i, pair) in hex.chunks_exact(2).enumerate() {
        let digit = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None, // upper case is not canonical: kept as text, so it reads back as written
        };
        out[i] = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}

fn uuid_text(bytes: &[u8]) -> String {
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

pub fn encode(state: &State) -> Vec<u8> {
    let mut w = Writer {
        out: Vec::with_capacity(256),
        strings: names(state),
    };
    w.out.push(VERSION);
    w.id(&state.constituent_id);
    w.varint(w.strings.len() as u64);
    for name in w.strings.clone() {
        w.text(&name);
    }
    w.float(state.reference_time);
    w.signed(state.events);
    w.varint(state.contributions.len() as u64);
    for (event_type, sums) in &state.contributions {
        w.index(event_type);
        let mask = sums.iter().enumerate().fold(
            0u8,
            |m, (i, v)| if v.to_bits() == 0 { m } else { m | 1 << i },
        );
        w.out.push(mask); // which of the three sums are not +0.0 (only those are written)
        sums.iter()
            .filter(|v| v.to_bits() != 0)
            .for_each(|&v| w.float(v));
    }
    w.varint(state.seen.len() as u64);
    let mut previous = 0i64; // days and hours as steps from the one before: a byte or two each
    for (day, tokens) in &state.seen {
        w.signed(day.wrapping_sub(previous));
        previous = *day;
        w.varint(tokens.len() as u64);
        tokens.iter().for_each(|t| w.out.extend_from_slice(t));
    }
    let counted = |w: &mut Writer, items: &[(String, i64)]| {
        w.varint(items.len() as u64);
        for (key, count) in items {
            let (source, event_type) = split(key);
            w.index(source);
            w.index(event_type);
            w.signed(*count);
        }
    };
    counted(&mut w, &state.counts);
    w.varint(state.hourly.len() as u64);
    let mut previous = 0i64;
    for (hour, bucket) in &state.hourly {
        w.signed(hour.wrapping_sub(previous));
        previous = *hour;
        counted(&mut w, bucket);
    }
    w.varint(state.last_touch.len() as u64);
    for (source, at) in &state.last_touch {
        w.index(source);
        w.float(*at);
    }
    w.varint(state.roles.len() as u64);
    state.roles.iter().for_each(|r| w.index(r));
    w.varint(state.giving.len() as u64);
    for (period, amount) in &state.giving {
        w.signed(*period);
        w.float(*amount);
    }
    w.varint(state.timeline.len() as u64);
    let mut previous = 0.0;
    for (at, source, event_type, event_id) in &state.timeline {
        w.time_after(previous, *at);
        previous = *at;
        w.index(source);
        w.index(event_type);
        w.id(event_id);
    }
    w.varint(state.score_peaks.len() as u64);
    let mut previous = 0i64;
    for (hour, peak) in &state.score_peaks {
        w.signed(hour.wrapping_sub(previous));
        previous = *hour;
        w.float(*peak);
    }
    w.signed(state.score_alerts_opened);
    match &state.score_alert_opened_at {
        None => w.out.push(0),
        Some(at) => {
            w.out.push(1);
            w.text(at);
        }
    }
    match &state.failed_transaction {
        None => w.out.push(0),
        Some(failed) => {
            w.out.push(1);
            w.text(&Value::Object(failed.alert.clone()).to_string()); // rare: kept as its JSON
            w.varint(failed.failures.len() as u64);
            for (at, event_id) in &failed.failures {
                w.float(*at);
                w.id(event_id);
            }
        }
    }
    w.varint(state.handoffs.len() as u64);
    state.handoffs.iter().for_each(|h| w.handoff(h));
    w.varint(state.early_follow_ups.len() as u64);
    for seen in &state.early_follow_ups {
        w.index(&seen.rule);
        w.out.push(u8::from(seen.bounce));
        w.correlation(&seen.correlation_id);
        w.float(seen.time);
        w.id(&seen.event_id);
    }
    let recovery: Vec<Value> = state.recovery.iter().map(|c| c.to_json()).collect();
    let early: Vec<Value> = state.recovery_early.iter().map(|f| f.to_json()).collect();
    for listed in [recovery, early] {
        if listed.is_empty() {
            w.out.push(0);
        } else {
            w.out.push(1);
            w.text(&Value::Array(listed).to_string());
        }
    }
    w.varint(state.report_windows.len() as u64);
    let mut previous = 0i64;
    for (window, parts) in &state.report_windows {
        let (kind, index) = window.split_once(':').unwrap_or(("?", window));
        match (kind, index.parse::<i64>()) {
            ("h" | "d", Ok(index)) if format!("{kind}:{index}") == *window => {
                w.out.push(kind.as_bytes()[0]);
                w.signed(index.wrapping_sub(previous));
                previous = index;
            }
            _ => {
                w.out.push(0); // not a window key the report makes: kept as text
                w.text(window);
            }
        }
        w.varint(parts.len() as u64);
        for (part, points) in parts {
            w.index(part);
            points.iter().for_each(|&p| w.signed(p));
        }
    }
    w.varint(state.role_since.len() as u64);
    for (role, since) in &state.role_since {
        w.index(role);
        w.float(*since);
    }
    w.out
}

struct Reader<'a> {
    data: &'a [u8],
    at: usize,
    strings: Vec<String>,
}

type Read<T> = Result<T, String>;

impl Reader<'_> {
    fn byte(&mut self) -> Read<u8> {
        let b = *self.data.get(self.at).ok_or("state bytes end early")?;
        self.at += 1;
        Ok(b)
    }

    fn varint(&mut self) -> Read<u64> {
        let (mut value, mut shift) = (0u64, 0);
        loop {
            let b = self.byte()?;
            if shift > 63 {
                return Err("a varint longer than 64 bits".into());
            }
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
            shift += 7;
        }
    }

    fn count(&mut self) -> Read<usize> {
        let n = self.varint()? as usize;
        if n > self.data.len() - self.at {
            return Err(format!("a count of {n} past the end of the state"));
        }
        Ok(n)
    }

    fn signed(&mut self) -> Read<i64> {
        let v = self.varint()?;
        Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
    }

    fn float(&mut self) -> Read<f64> {
        let bytes = self
            .data
            .get(self.at..self.at + 8)
            .ok_or("state bytes end early")?;
        self.at += 8;
        Ok(f64::from_le_bytes(bytes.try_into().expect("8 bytes")))
    }

    fn text(&mut self) -> Read<String> {
        let n = self.count()?;
        let bytes = &self.data[self.at..self.at + n];
        self.at += n;
        String::from_utf8(bytes.to_vec()).map_err(|_| "a name that is not UTF-8".into())
    }

    fn id(&mut self) -> Read<String> {
        match self.byte()? {
            0 => self.text(),
            1 => {
                let bytes = self
                    .data
                    .get(self.at..self.at + 16)
                    .ok_or("state bytes end early")?;
                self.at += 16;
                Ok(uuid_text(bytes))
            }
            other => Err(format!("an id of kind {other}")),
        }
    }

    fn time_after(&mut self, previous: f64) -> Read<f64> {
        let step = self.varint()?;
        if step & 1 == 1 {
            return self.float();
        }
        Ok(((previous * 1000.0).round() + (step >> 1) as f64) / 1000.0)
    }

    fn sums(&mut self) -> Read<[f64; 3]> {
        let mask = self.byte()?;
        let mut sums = [0.0; 3];
        for (i, sum) in sums.iter_mut().enumerate() {
            if mask & 1 << i != 0 {
                *sum = self.float()?;
            }
        }
        Ok(sums)
    }

    fn name(&mut self) -> Read<String> {
        let at = self.varint()? as usize;
        self.strings
            .get(at)
            .cloned()
            .ok_or_else(|| format!("name {at} not in the state's table"))
    }

    /// A list kept as JSON text: none (0), or 1 + the text.
    fn listed<T>(&mut self, what: &str, read: impl Fn(&Value) -> Read<T>) -> Read<Vec<T>> {
        match self.byte()? {
            0 => Ok(Vec::new()),
            1 => match serde_json::from_str(&self.text()?) {
                Ok(Value::Array(items)) => items.iter().map(read).collect(),
                _ => Err(format!("{what} that are not a JSON list")),
            },
            other => Err(format!("{what} of kind {other}")),
        }
    }

    fn correlation(&mut self) -> Read<Value> {
        match self.byte()? {
            0 => Ok(Value::Null),
            1 => Ok(Value::String(self.text()?)),
            2 => serde_json::from_str(&self.text()?).map_err(|e| format!("a correlation id: {e}")),
            other => Err(format!("a correlation id of kind {other}")),
        }
    }

    fn handoff(&mut self) -> Read<Handoff> {
        let rule = self.name()?;
        let flags = self.byte()?;
        let status = match flags >> 6 {
            0 => Status::Pending,
            1 => Status::Kept,
            2 => Status::Broken,
            other => return Err(format!("a hand-off status {other}")),
        };
        let has = |bit: u8| flags & 1 << bit != 0;
        let (constituent_id, source) = (self.id()?, self.name()?);
        let (trigger_event_id, correlation_id) = (self.id()?, self.correlation()?);
        let deadline = self.float()?;
        let settled_at = if has(0) { Some(self.float()?) } else { None };
        let bounced_at = if has(1) { Some(self.float()?) } else { None };
        let cancelled_by = if has(3) { Some(self.id()?) } else { None };
        let resolved_at_iso = if has(4) { Some(self.text()?) } else { None };
        let broken_at_iso = if has(5) { Some(self.text()?) } else { None };
        Ok(Handoff {
            rule,
            constituent_id,
            source,
            trigger_event_id,
            correlation_id,
            deadline,
            status,
            settled_at,
            bounced_at,
            suppressed: has(2),
            cancelled_by,
            resolved_at_iso,
            broken_at_iso,
        })
    }

    fn counted(&mut self) -> Read<Vec<(String, i64)>> {
        let n = self.count()?;
        (0..n)
            .map(|_| Ok((format!("{}|{}", self.name()?, self.name()?), self.signed()?)))
            .collect()
    }
}

pub fn decode(data: &[u8]) -> Read<State> {
    let mut r = Reader {
        data,
        at: 0,
        strings: Vec::new(),
    };
    let version = r.byte()?;
    if version != VERSION {
        return Err(format!(
            "state layout version {version}, this core reads {VERSION}"
        ));
    }
    let mut state = State::new(&r.id()?);
    let n = r.count()?;
    r.strings = (0..n).map(|_| r.text()).collect::<Read<_>>()?;
    state.reference_time = r.float()?;
    state.events = r.signed()?;
    let n = r.count()?;
    state.contributions = (0..n)
        .map(|_| Ok((r.name()?, r.sums()?)))
        .collect::<Read<_>>()?;
    let n = r.count()?;
    let mut previous = 0i64;
    for _ in 0..n {
        let day = previous.wrapping_add(r.signed()?);
        previous = day;
        let tokens = r.count()?;
        let bytes = r
            .data
            .get(r.at..r.at + 8 * tokens)
            .ok_or("state bytes end early")?;
        r.at += 8 * tokens;
        state.seen.push((
            day,
            bytes
                .chunks_exact(8)
                .map(|c| c.try_into().expect("8 bytes"))
                .collect(),
        ));
    }
    state.counts = r.counted()?;
    let n = r.count()?;
    let mut previous = 0i64;
    for _ in 0..n {
        let hour = previous.wrapping_add(r.signed()?);
        previous = hour;
        state.hourly.push((hour, r.counted()?));
    }
    let n = r.count()?;
    state.last_touch = (0..n)
        .map(|_| Ok((r.name()?, r.float()?)))
        .collect::<Read<_>>()?;
    let n = r.count()?;
    state.roles = (0..n).map(|_| r.name()).collect::<Read<_>>()?;
    let n = r.count()?;
    state.giving = (0..n)
        .map(|_| Ok((r.signed()?, r.float()?)))
        .collect::<Read<_>>()?;
    let n = r.count()?;
    let mut previous = 0.0;
    for _ in 0..n {
        let at = r.time_after(previous)?;
        previous = at;
        state.timeline.push((at, r.name()?, r.name()?, r.id()?));
    }
    let n = r.count()?;
    let mut previous = 0i64;
    for _ in 0..n {
        let hour = previous.wrapping_add(r.signed()?);
        previous = hour;
        state.score_peaks.push((hour, r.float()?));
    }
    state.score_alerts_opened = r.signed()?;
    state.score_alert_opened_at = match r.byte()? {
        0 => None,
        1 => Some(r.text()?),
        other => return Err(format!("an optional time of kind {other}")),
    };
    state.failed_transaction = match r.byte()? {
        0 => None,
        1 => {
            let alert = match serde_json::from_str(&r.text()?) {
                Ok(Value::Object(alert)) => alert,
                _ => return Err("a failed transaction's alert that is not a JSON object".into()),
            };
            let n = r.count()?;
            let failures = (0..n)
                .map(|_| Ok((r.float()?, r.id()?)))
                .collect::<Read<_>>()?;
            Some(FailedTransaction { alert, failures })
        }
        other => return Err(format!("a failed transaction of kind {other}")),
    };
    let n = r.count()?;
    state.handoffs = (0..n).map(|_| r.handoff()).collect::<Read<_>>()?;
    let n = r.count()?;
    for _ in 0..n {
        let rule = r.name()?;
        let bounce = match r.byte()? {
            0 => false,
            1 => true,
            other => return Err(format!("an early follow-up's bounce byte {other}")),
        };
        let (correlation_id, time, event_id) = (r.correlation()?, r.float()?, r.id()?);
        state.early_follow_ups.push(EarlyFollowUp {
            rule,
            correlation_id,
            bounce,
            time,
            event_id,
        });
    }
    state.recovery = r.listed("recovery cases", Case::from_json)?;
    state.recovery_early = r.listed("early recovery steps", Early::from_json)?;
    let n = r.count()?;
    let mut previous = 0i64;
    for _ in 0..n {
        let window = match r.byte()? {
            0 => r.text()?,
            kind @ (b'h' | b'd') => {
                let index = previous.wrapping_add(r.signed()?);
                previous = index;
                format!("{}:{index}", kind as char)
            }
            other => return Err(format!("a report window of kind {other}")),
        };
        let parts = r.count()?;
        let parts = (0..parts)
            .map(|_| Ok((r.name()?, [r.signed()?, r.signed()?, r.signed()?])))
            .collect::<Read<_>>()?;
        state.report_windows.push((window, parts));
    }
    let n = r.count()?;
    state.role_since = (0..n)
        .map(|_| Ok((r.name()?, r.float()?)))
        .collect::<Read<_>>()?;
    if r.at != data.len() {
        return Err(format!("{} bytes after the state", data.len() - r.at));
    }
    Ok(state)
}
