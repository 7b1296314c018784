//! Time as the pipeline reads it. Live services use the system clock; the standalone demo
//! runs an accelerated clock so a day of traffic passes in minutes, and every stage (the
//! synthetic source stamping posts, the aggregator advancing idle watermarks) must read the
//! same one.

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use viral_core::time::Millis;

/// A source of "now" in epoch milliseconds.
pub trait Clock: Send + Sync + 'static {
    fn now_ms(&self) -> Millis;

    /// Where a simulated clock's time began; `None` for the wall clock. Whatever starts
    /// "at the beginning" of a simulation starts here, not at its first reading, which
    /// depends on how long start-up took (600× faster, 50 ms are half a simulated minute).
    fn origin_ms(&self) -> Option<Millis> {
        None
    }
}

/// Shared handle to the process's clock.
pub type SharedClock = Arc<dyn Clock>;

/// The system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> Millis {
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => d.as_millis() as Millis,
            Err(e) => -(e.duration().as_millis() as Millis),
        }
    }
}

/// Simulated time that starts at `origin` and runs `speed` times faster than real time.
#[derive(Debug, Clone, Copy)]
pub struct SimClock {
    origin: Millis,
    started: Instant,
    speed: f64,
}

impl SimClock {
    pub fn new(origin: Millis, speed: f64) -> Self {
        Self {
            origin,
            started: Instant::now(),
            speed,
        }
    }

    pub fn speed(&self) -> f64 {
        self.speed
    }

    /// Real time needed for `sim_ms` of simulated time to pass.
    pub fn real_duration(&self, sim_ms: Millis) -> std::time::Duration {
        std::time::Duration::from_secs_f64((sim_ms.max(0) as f64 / 1000.0) / self.speed)
    }
}

impl Clock for SimClock {
    fn now_ms(&self) -> Millis {
        let real = self.started.elapsed().as_secs_f64() * 1000.0;
        self.origin + (real * self.speed) as Millis
    }

    fn origin_ms(&self) -> Option<Millis> {
        Some(self.origin)
    }
}
