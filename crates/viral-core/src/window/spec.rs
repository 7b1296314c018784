//! Window geometry: size, hop and lateness, validated once.

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
}

/// Windows `[start, start + size)` with starts at multiples of `hop` since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowSpec {
    size: Millis,
    hop: Millis,
    lateness: Millis,
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
    /// `hop = None` gives tumbling windows (hop = size).
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
        })
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
    /// How many windows contain each instant.
    pub fn overlap(&self) -> i64 {
        self.size / self.hop
    }
    /// The latest window start at or before `t`.
    pub fn last_start_at(&self, t: Millis) -> Millis {
        t.div_euclid(self.hop) * self.hop
    }
}
