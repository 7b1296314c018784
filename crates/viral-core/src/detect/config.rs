//! A `[[detectors]]` entry: its keys, their defaults, their validation and the detector it
//! builds, in one place, so the config loader, the alerter, `viral backtest` and the query
//! API's replays cannot disagree about what an entry means.

use std::time::Duration;

use serde::Deserialize;

use super::{AdaptiveDetector, BurstDetector, Detector, Sensitivity, ThresholdDetector};

/// Burst's defaults: how many times the recent average, and the least count of a burst
/// (per half hour).
pub const BURST_FACTOR: f64 = 4.0;
pub const BURST_MIN_COUNT: u64 = 20;
/// How long a topic must be normal again before an incident resolves, per kind: the
/// threshold rule resolves at the first normal window (the original pipeline's rule);
/// the adaptive one holds through lulls of up to three hours, so an event that comes in
/// waves is one page; burst, which forgets within hours, holds for one.
pub const ADAPTIVE_RESOLVE_AFTER: Duration = Duration::from_secs(3 * 3600);
pub const BURST_RESOLVE_AFTER: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum DetectorConfig {
    /// The original rule: fire when count >= threshold.
    Threshold {
        threshold: u64,
        /// Name carried by alerts; defaults to the kind. Must be unique.
        #[serde(default)]
        name: Option<String>,
        /// Default 0s: resolve at the first normal window.
        #[serde(default, with = "humantime_serde")]
        resolve_after: Option<Duration>,
    },
    /// Learns each topic's level, daily/weekly rhythm and burstiness; no numbers needed.
    Adaptive {
        /// `sensitive`, `balanced` (default) or `strict`.
        #[serde(default)]
        sensitivity: Option<String>,
        #[serde(default)]
        name: Option<String>,
        /// Default 3h.
        #[serde(default, with = "humantime_serde")]
        resolve_after: Option<Duration>,
    },
    /// A sudden rise against the last few hours, for topics with little history.
    Burst {
        /// How many times the recent average (default 4).
        #[serde(default)]
        factor: Option<f64>,
        /// Below this many mentions per half hour nothing is a burst (default 20).
        #[serde(default)]
        min_count: Option<u64>,
        #[serde(default)]
        name: Option<String>,
        /// Default 1h.
        #[serde(default, with = "humantime_serde")]
        resolve_after: Option<Duration>,
    },
}

/// A key of a detector entry with an invalid value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct DetectorError {
    /// The key within the entry (`threshold`, `sensitivity`, …).
    pub key: &'static str,
    pub message: String,
}

impl DetectorError {
    fn new(key: &'static str, message: impl Into<String>) -> Self {
        Self {
            key,
            message: message.into(),
        }
    }
}

impl DetectorConfig {
    /// The original rule at `threshold`, with its defaults.
    pub fn threshold(threshold: u64) -> Self {
        Self::Threshold {
            threshold,
            name: None,
            resolve_after: None,
        }
    }

    /// The adaptive detector with its defaults.
    pub fn adaptive() -> Self {
        Self::Adaptive {
            sensitivity: None,
            name: None,
            resolve_after: None,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Self::Threshold { .. } => "threshold",
            Self::Adaptive { .. } => "adaptive",
            Self::Burst { .. } => "burst",
        }
    }

    /// The name alerts carry: the configured `name`, or the kind.
    pub fn name(&self) -> &str {
        match self {
            Self::Threshold { name, .. }
            | Self::Adaptive { name, .. }
            | Self::Burst { name, .. } => name.as_deref().unwrap_or(self.kind()),
        }
    }

    /// How long a topic must be normal again before an incident resolves.
    pub fn resolve_after(&self) -> Duration {
        match self {
            Self::Threshold { resolve_after, .. } => resolve_after.unwrap_or(Duration::ZERO),
            Self::Adaptive { resolve_after, .. } => resolve_after.unwrap_or(ADAPTIVE_RESOLVE_AFTER),
            Self::Burst { resolve_after, .. } => resolve_after.unwrap_or(BURST_RESOLVE_AFTER),
        }
    }

    /// Every value in range; the error names the key.
    pub fn validate(&self) -> Result<(), DetectorError> {
        if self.resolve_after() > Duration::from_secs(7 * 24 * 3600) {
            return Err(DetectorError::new(
                "resolve_after",
                "must be at most 7d (an incident that long is the new normal)",
            ));
        }
        match self {
            Self::Threshold { threshold: 0, .. } => Err(DetectorError::new(
                "threshold",
                "must be at least 1 (0 would fire on silence)",
            )),
            Self::Adaptive {
                sensitivity: Some(s),
                ..
            } if Sensitivity::parse(s).is_none() => Err(DetectorError::new(
                "sensitivity",
                format!("{s:?}: use \"sensitive\", \"balanced\" or \"strict\""),
            )),
            Self::Burst {
                factor: Some(f), ..
            } if !(f.is_finite() && *f > 1.0) => Err(DetectorError::new(
                "factor",
                "must be a number above 1 (how many times the recent average)",
            )),
            _ => Ok(()),
        }
    }

    /// The detector this entry describes: one instance per topic, since detectors learn.
    pub fn build(&self) -> Result<Box<dyn Detector>, DetectorError> {
        self.validate()?;
        Ok(match self {
            Self::Threshold { threshold, .. } => {
                Box::new(ThresholdDetector::new(self.name(), *threshold))
            }
            Self::Adaptive { sensitivity, .. } => {
                let s = sensitivity
                    .as_deref()
                    .and_then(Sensitivity::parse)
                    .unwrap_or_default();
                Box::new(AdaptiveDetector::new(self.name(), s))
            }
            Self::Burst {
                factor, min_count, ..
            } => Box::new(BurstDetector::new(
                self.name(),
                factor.unwrap_or(BURST_FACTOR),
                min_count.unwrap_or(BURST_MIN_COUNT),
            )),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml_text: &str) -> Result<DetectorConfig, toml::de::Error> {
        toml::from_str(toml_text)
    }

    #[test]
    fn defaults_and_names() {
        let d = parse("kind = \"adaptive\"").unwrap();
        assert_eq!(d, DetectorConfig::adaptive());
        assert_eq!(
            (d.name(), d.resolve_after()),
            ("adaptive", ADAPTIVE_RESOLVE_AFTER)
        );
        let t = parse("kind = \"threshold\"\nthreshold = 5\nname = \"t5\"").unwrap();
        assert_eq!((t.name(), t.resolve_after()), ("t5", Duration::ZERO));
        let b = parse("kind = \"burst\"\nresolve_after = \"90m\"").unwrap();
        assert_eq!(b.resolve_after(), Duration::from_secs(5400));
        assert!(
            parse("kind = \"adaptive\"\nz = 3").is_err(),
            "unknown keys are errors"
        );
    }

    #[test]
    fn every_bad_value_is_named() {
        let bad = [
            (DetectorConfig::threshold(0), "threshold"),
            (
                DetectorConfig::Adaptive {
                    sensitivity: Some("loud".into()),
                    name: None,
                    resolve_after: None,
                },
                "sensitivity",
            ),
            (
                DetectorConfig::Burst {
                    factor: Some(0.5),
                    min_count: None,
                    name: None,
                    resolve_after: None,
                },
                "factor",
            ),
            (
                DetectorConfig::Adaptive {
                    sensitivity: None,
                    name: None,
                    resolve_after: Some(Duration::from_secs(8 * 86400)),
                },
                "resolve_after",
            ),
        ];
        for (cfg, key) in bad {
            assert_eq!(cfg.validate().unwrap_err().key, key);
            assert_eq!(cfg.build().err().map(|e| e.key), Some(key));
        }
        assert!(DetectorConfig::threshold(1).build().is_ok());
    }
}
