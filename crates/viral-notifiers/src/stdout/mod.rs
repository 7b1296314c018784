//! Alerts as JSON lines on standard output: what `viral standalone` shows a new user, and
//! what a shell pipeline or a container log collector can consume.

mod config;
#[cfg(test)]
mod tests;

pub use config::StdoutConfig;

use std::io::Write;
use std::sync::Mutex;

use async_trait::async_trait;
use viral_core::Alert;

use crate::{Notifier, NotifyError};

/// Writes each alert as one compact JSON object per line, flushed at once so a reader of a
/// pipe sees it within the alert's latency, not when a buffer fills.
pub struct StdoutNotifier {
    out: Mutex<Box<dyn Write + Send>>,
}

impl Default for StdoutNotifier {
    fn default() -> Self {
        Self::new()
    }
}

impl StdoutNotifier {
    pub fn new() -> Self {
        Self::to_writer(Box::new(std::io::stdout()))
    }

    /// Write to any writer instead (tests, files).
    pub fn to_writer(out: Box<dyn Write + Send>) -> Self {
        Self {
            out: Mutex::new(out),
        }
    }
}

#[async_trait]
impl Notifier for StdoutNotifier {
    fn name(&self) -> &str {
        "stdout"
    }

    async fn notify(&self, alert: &Alert) -> Result<(), NotifyError> {
        // One write of the whole line under the lock, so concurrent alerts never interleave.
        let mut line = serde_json::to_vec(alert)?;
        line.push(b'\n');
        // A panic while writing cannot leave a half-valid writer worth refusing.
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        out.write_all(&line)?;
        out.flush()?;
        Ok(())
    }
}
