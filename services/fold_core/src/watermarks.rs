//! Event-time progress per partition, with a wall-clock fallback for quiet partitions
//! (services/domain/watermarks.py, the specification).

use crate::fast::HashMap;

#[derive(Default)]
pub struct Watermarks {
    pub allowed_lateness: f64,
    pub idle_seconds: f64,
    newest_event: HashMap<u32, f64>,
    last_arrival: HashMap<u32, f64>,
}

impl Watermarks {
    pub fn new(allowed_lateness: f64, idle_seconds: f64) -> Watermarks {
        Watermarks {
            allowed_lateness,
            idle_seconds,
            ..Watermarks::default()
        }
    }

    pub fn observe(&mut self, partition: u32, event_time: f64, now: f64) {
        let newest = self.newest_event.entry(partition).or_insert(event_time);
        *newest = newest.max(event_time);
        self.last_arrival.insert(partition, now);
    }

    pub fn watermark(&self, partition: u32, now: f64) -> f64 {
        let newest = self.newest_event.get(&partition).copied();
        let from_events = newest.unwrap_or(f64::NEG_INFINITY) - self.allowed_lateness;
        let arrival = self.last_arrival.get(&partition).copied();
        if now - arrival.unwrap_or(f64::NEG_INFINITY) >= self.idle_seconds {
            return from_events.max(now - self.allowed_lateness);
        }
        from_events
    }
}
