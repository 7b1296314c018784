//! Window geometry and the watermark's bounds: size, hop, lateness and max_delay,
//! validated once.

use std::time::Duration;
use thiserror::Error;

use crate::time::Millis;

/// Why a window geometry is invalid. The messages name the config keys they come from.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SpecError {
    #[error("window.size must be at least 1ms")]
    ZeroSize,
    #[error("window.hop must be at least 1ms")]
    ZeroHop,
    #[error("window.hop ({hop}ms) must divide window.size ({size}ms) exactly")]
    HopDoesNotDivide { size: Millis, hop: Millis },
    #[error("window.{key} is too large (at most 366 days)")]
    TooLarge { key: &'static str },
    #[error("window.size/window.hop is {0}; at most 1000 overlapping windows are supported")]
    TooManyOverlaps(Millis),
    #[error("window.max_delay must be at least 1ms")]
    ZeroMaxDelay,
}

/// `window.max_delay` when the config does not set it: a post seen more than an hour
/// after it was written is late.
pub const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(3600);

/// Windows `[start, start + size)` with starts at multiples of `hop` since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowSpec {
    size: Millis,
    hop: Millis,
    lateness: Millis,
    /// The watermark is at least `observed_at − max_delay` (docs/ARCHITECTURE.md, "Windowing", rule 3).
    max_delay: Millis,
}

const MAX_MS: u128 = 366 * 24 * 3600 * 1000;

fn millis(d: Duration, key: &'static str) -> Result<Millis, SpecError> {
    let ms = d.as_millis();
    if ms > MAX_MS {
        return Err(SpecError::TooLarge { key });
    }
    Ok(ms as Millis)
}

impl WindowSpec {
    /// `hop = None` gives tumbling windows (hop = size); `max_delay` is
    /// [`DEFAULT_MAX_DELAY`] until [`with_max_delay`](Self::with_max_delay).
    pub fn new(
        size: Duration,
        hop: Option<Duration>,
        lateness: Duration,
    ) -> Result<Self, SpecError> {
        let size = millis(size, "size")?;
        let hop = match hop {
            Some(h) => millis(h, "hop")?,
            None => size,
        };
        let lateness = millis(lateness, "lateness")?;
        Self::from_millis(size, hop, lateness)
    }

    pub fn from_millis(size: Millis, hop: Millis, lateness: Millis) -> Result<Self, SpecError> {
        if size <= 0 {
            return Err(SpecError::ZeroSize);
        }
        if hop <= 0 {
            return Err(SpecError::ZeroHop);
        }
        if size % hop != 0 {
            return Err(SpecError::HopDoesNotDivide { size, hop });
        }
        if size / hop > 1000 {
            return Err(SpecError::TooManyOverlaps(size / hop));
        }
        Ok(Self {
            size,
            hop,
            lateness: lateness.max(0),
            max_delay: DEFAULT_MAX_DELAY.as_millis() as Millis,
        })
    }

    /// The same geometry with another `max_delay` (at least 1 ms).
    pub fn with_max_delay(self, max_delay: Duration) -> Result<Self, SpecError> {
        let max_delay = millis(max_delay, "max_delay")?;
        if max_delay <= 0 {
            return Err(SpecError::ZeroMaxDelay);
        }
        Ok(Self { max_delay, ..self })
    }

    pub fn size(&self) -> Millis {
        self.size
    }
    pub fn hop(&self) -> Millis {
        self.hop
    }
    pub fn lateness(&self) -> Millis {
        self.lateness
    }
    pub fn max_delay(&self) -> Millis {
        self.max_delay
    }
    /// How many windows contain each instant.
    pub fn overlap(&self) -> i64 {
        self.size / self.hop
    }
    /// The latest window start at or before `t`.
    pub fn last_start_at(&self, t: Millis) -> Millis {
        t.div_euclid(self.hop) * self.hop
    }
}
