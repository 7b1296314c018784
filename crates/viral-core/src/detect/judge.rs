//! The detectors and incidents of every topic: what the alerter, `viral backtest` and the
//! query API's replays all run, so they raise the same alerts from the same windows.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::{Detector, DetectorConfig, DetectorError, IncidentTracker};
use crate::model::{Alert, WindowCount};

/// How much stored history warms a topic's detectors up after a restart (and before a
/// replayed range): five weeks — the adaptive detector's four weeks of hourly peaks after
/// its first day, and the weekly rhythm four times over — at most this many windows.
pub const WARM_UP_DAYS: i64 = 35;
pub const WARM_UP_WINDOWS: usize = 20_000;

/// One detector of one topic, with that pair's incident.
struct Judged {
    detector: Box<dyn Detector>,
    incident: IncidentTracker,
}

/// A topic's detectors and the last window they judged.
struct TopicJudges {
    detectors: Vec<Judged>,
    last_start: Option<DateTime<Utc>>,
}

/// A verdict with the alert it caused, for callers that draw every window.
pub struct Judgement {
    pub verdict: super::Verdict,
    pub alert: Option<Alert>,
}

/// The detectors and incidents of every topic.
///
/// Windows of a topic arrive in order; one at or before the last judged is a repeat (an
/// aggregator re-emitting after a crash, a bus delivering twice) and is ignored, so no
/// detector learns from a window twice and no incident changes on a replayed one.
pub struct Judge {
    configs: Vec<DetectorConfig>,
    topics: HashMap<String, TopicJudges>,
}

impl Judge {
    /// Every entry is validated first: the error names the entry's index and key.
    pub fn new(configs: Vec<DetectorConfig>) -> Result<Self, (usize, DetectorError)> {
        for (i, c) in configs.iter().enumerate() {
            c.validate().map_err(|e| (i, e))?;
        }
        Ok(Self {
            configs,
            topics: HashMap::new(),
        })
    }

    /// Whether `topic` has been judged (or warmed up) by this judge.
    pub fn knows(&self, topic: &str) -> bool {
        self.topics.contains_key(topic)
    }

    /// Feed an already-judged window again: detectors learn from it and incidents follow
    /// it, as when it was first judged. Replaying a topic's stored history this way after
    /// a restart rebuilds the state an uninterrupted judge would have (detectors and
    /// incidents are deterministic; history older than the warm-up is forgotten by then).
    /// Returns the alerts it caused back then, for state that follows alerts (the
    /// throttle); they were stored and notified at the time.
    pub fn warm(&mut self, window: &WindowCount) -> Vec<Alert> {
        self.observe(window)
    }

    /// Judge one closed window; returns the alerts it causes, in detector order (none for
    /// a repeated window).
    pub fn observe(&mut self, window: &WindowCount) -> Vec<Alert> {
        self.judge(window)
            .into_iter()
            .filter_map(|j| j.alert)
            .collect()
    }

    /// Judge one closed window; every detector's verdict, in detector order (none for a
    /// repeated window).
    pub fn judge(&mut self, window: &WindowCount) -> Vec<Judgement> {
        if !self.topics.contains_key(&window.topic) {
            let detectors = self
                .configs
                .iter()
                .filter_map(|c| {
                    Some(Judged {
                        detector: c.build().ok()?,
                        incident: IncidentTracker::holding(c.resolve_after()),
                    })
                })
                .collect();
            self.topics.insert(
                window.topic.clone(),
                TopicJudges {
                    detectors,
                    last_start: None,
                },
            );
        }
        let Some(topic) = self.topics.get_mut(&window.topic) else {
            return Vec::new();
        };
        if topic
            .last_start
            .is_some_and(|last| window.window_start <= last)
        {
            return Vec::new();
        }
        topic.last_start = Some(window.window_start);
        topic
            .detectors
            .iter_mut()
            .map(|j| {
                let verdict = j.detector.observe(window);
                let alert = j.incident.observe(j.detector.name(), window, verdict);
                Judgement { verdict, alert }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::AlertStatus;
    use crate::time::to_millis;

    /// One-minute window `i`.
    fn window(i: i64, count: u64) -> WindowCount {
        crate::detect::tests::window(i as usize, 60_000, count)
    }

    fn alerts(judge: &mut Judge, stream: &[(i64, u64)]) -> Vec<(i64, AlertStatus)> {
        stream
            .iter()
            .flat_map(|&(i, c)| judge.observe(&window(i, c)))
            .map(|a| (to_millis(&a.window_start) / 60_000, a.status))
            .collect()
    }

    #[test]
    fn repeated_windows_are_judged_once() {
        let mut judge = Judge::new(vec![DetectorConfig::threshold(10)]).unwrap();
        // A crash made the aggregator emit windows 1 and 2 again.
        let stream = [(0, 1), (1, 50), (2, 1), (1, 50), (2, 1), (3, 60)];
        use AlertStatus::*;
        assert_eq!(
            alerts(&mut judge, &stream),
            [(1, Firing), (2, Resolved), (3, Firing)]
        );
    }

    #[test]
    fn each_detector_holds_its_incident_for_its_resolve_after() {
        let held = DetectorConfig::Threshold {
            threshold: 10,
            name: Some("held".into()),
            resolve_after: Some(std::time::Duration::from_secs(120)),
        };
        let mut judge = Judge::new(vec![DetectorConfig::threshold(10), held]).unwrap();
        let got: Vec<(String, i64, AlertStatus)> = [(0, 50), (1, 1), (2, 50), (3, 1), (4, 1)]
            .iter()
            .flat_map(|&(i, c)| judge.observe(&window(i, c)))
            .map(|a| (a.detector, to_millis(&a.window_start) / 60_000, a.status))
            .collect();
        use AlertStatus::*;
        let plain: Vec<_> = got.iter().filter(|a| a.0 == "threshold").collect();
        let held: Vec<_> = got.iter().filter(|a| a.0 == "held").collect();
        assert_eq!(plain.len(), 4, "{got:?}");
        assert_eq!(held.len(), 2, "{got:?}");
        assert_eq!((held[0].1, held[0].2), (0, Firing));
        assert_eq!((held[1].1, held[1].2), (4, Resolved));
    }

    #[test]
    fn a_bad_entry_is_named_by_index_and_key() {
        let err = Judge::new(vec![
            DetectorConfig::adaptive(),
            DetectorConfig::threshold(0),
        ])
        .err()
        .unwrap();
        assert_eq!((err.0, err.1.key), (1, "threshold"));
    }
}
