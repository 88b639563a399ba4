//! Wall-clock time as milliseconds since the Unix epoch, the unit stored everywhere.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Returns the current wall-clock time in milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|elapsed| elapsed.as_millis() as i64).unwrap_or(0)
}

/// Returns `duration` in milliseconds, the unit timestamps are stored in, saturating at
/// `i64::MAX` (so `now_ms() - duration_ms(d)` never overflows with `saturating_sub`).
pub fn duration_ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
