//! Turning a `[[detectors]]` entry into a live detector. It lives here, next to the
//! config it reads and above the pure detectors of `viral-core`, so the alerter
//! (`viral-pipeline`) and the query API's replays (`viral-api`) build detectors the same
//! way without one depending on the other.

use viral_core::{AdaptiveDetector, BurstDetector, Detector, Sensitivity, ThresholdDetector};

use crate::DetectorConfig;

/// Build the detector a config entry describes (one instance per topic: detectors learn).
pub fn build_detector(cfg: &DetectorConfig) -> Result<Box<dyn Detector>, String> {
    match cfg {
        DetectorConfig::Threshold { threshold, .. } => {
            Ok(Box::new(ThresholdDetector::new(cfg.name(), *threshold)))
        }
        DetectorConfig::Adaptive { sensitivity, .. } => {
            let s = match sensitivity.as_deref() {
                None => Sensitivity::default(),
                Some(s) => Sensitivity::parse(s).ok_or_else(|| {
                    format!("sensitivity {s:?}: use \"sensitive\", \"balanced\" or \"strict\"")
                })?,
            };
            Ok(Box::new(AdaptiveDetector::new(cfg.name(), s)))
        }
        DetectorConfig::Burst {
            factor, min_count, ..
        } => Ok(Box::new(BurstDetector::new(
            cfg.name(),
            factor.unwrap_or(4.0),
            min_count.unwrap_or(20),
        ))),
    }
}
