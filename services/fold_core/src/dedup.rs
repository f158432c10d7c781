//! Which events a constituent has been counted for (services/domain/dedup.py): each as the 8-byte
//! BLAKE2b hash of `source:event_id`, kept per day of the event's own time. Held as 8 bytes here; the
//! Python state writes them as 11 characters of URL-safe base64 (`text`).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use blake2::digest::{Update, VariableOutput};
use blake2::Blake2bVar;

pub type Token = [u8; 8];
pub const SECONDS_PER_DAY: f64 = 86_400.0;

pub fn token(key: &str) -> Token {
    let mut hasher = Blake2bVar::new(8).expect("8 is a valid BLAKE2b length");
    hasher.update(key.as_bytes());
    let mut out = [0u8; 8];
    hasher
        .finalize_variable(&mut out)
        .expect("the length asked for");
    out
}

pub fn text(token: &Token) -> String {
    URL_SAFE_NO_PAD.encode(token)
}

/// Whether `key` is new (a repeat with another event time is a repeat too); if so it is remembered under
/// its event's day.
pub fn first_time(seen: &mut Vec<(i64, Vec<Token>)>, key: &str, event_time: f64) -> bool {
    let wanted = token(key);
    if seen.iter().any(|(_, tokens)| tokens.contains(&wanted)) {
        return false;
    }
    let day = crate::python_numbers::floordiv_int(event_time, SECONDS_PER_DAY);
    crate::state::entry(seen, &day, Vec::new).push(wanted);
    true
}
