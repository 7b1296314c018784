//! Conversions both backends need: they store times, window sizes and counts as signed
//! 64-bit integers (SQLite INTEGER, CQL bigint/timestamp), and each conversion that can
//! fail must fail the same way everywhere.

use std::time::Duration;

use chrono::{DateTime, Utc};
use viral_core::time::{to_millis, Millis};

use crate::StoreError;

/// `[from, to)` as epoch milliseconds, unbounded ends made explicit.
pub(crate) fn range(from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> (Millis, Millis) {
    (
        from.map_or(Millis::MIN, |t| to_millis(&t)),
        to.map_or(Millis::MAX, |t| to_millis(&t)),
    )
}

pub(crate) fn window_ms(size: Duration) -> Result<i64, StoreError> {
    i64::try_from(size.as_millis())
        .map_err(|_| StoreError::OutOfRange(format!("window size {size:?}")))
}

/// A count as the databases' signed integers; clamping would silently store a wrong count.
pub(crate) fn count_to_i64(count: u64) -> Result<i64, StoreError> {
    i64::try_from(count).map_err(|_| StoreError::OutOfRange(format!("count {count}")))
}

pub(crate) fn count_from_i64(count: i64) -> Result<u64, StoreError> {
    u64::try_from(count).map_err(|_| StoreError::Corrupt(format!("negative count {count}")))
}

/// A delivery state as the stores keep it: a small JSON document.
pub(crate) fn delivery_to_text(d: &crate::Delivery) -> Result<String, StoreError> {
    serde_json::to_string(d).map_err(|e| StoreError::OutOfRange(format!("delivery state: {e}")))
}

pub(crate) fn delivery_from_text(text: &str) -> Result<crate::Delivery, StoreError> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::Corrupt(format!("delivery state {text:?}: {e}")))
}

/// A band as two nullable columns; half of one (a row written half by another version)
/// is no band.
pub(crate) fn band_of((low, high): (Option<f64>, Option<f64>)) -> Option<viral_core::Band> {
    Some(viral_core::Band {
        low: low?,
        high: high?,
    })
}
