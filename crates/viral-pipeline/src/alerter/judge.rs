//! The detectors and incidents of every topic: the pure half of the alerter, shared with
//! `viral backtest`.

use std::collections::HashMap;

use viral_config::DetectorConfig;
use viral_core::{Alert, Detector, IncidentTracker, WindowCount};

/// Moved to `viral-config` so the query API's replays build detectors the same way.
pub use viral_config::build_detector;

/// One detector of one topic, with that pair's incident.
type Judged = (Box<dyn Detector>, IncidentTracker);

/// A topic's detectors and the last window they judged.
struct TopicJudges {
    detectors: Vec<Judged>,
    last_start: Option<chrono::DateTime<chrono::Utc>>,
}

/// The detectors and incidents of every topic: the pure half of the alerter, shared with
/// offline tools.
///
/// Windows of a topic arrive in order; one at or before the last judged is a repeat (an
/// aggregator re-emitting after a crash, a bus delivering twice) and is ignored, so no
/// detector learns from a window twice and no incident changes on a replayed one.
pub struct Judge {
    configs: Vec<DetectorConfig>,
    topics: HashMap<String, TopicJudges>,
}

impl Judge {
    pub fn new(configs: Vec<DetectorConfig>) -> Result<Self, String> {
        for c in &configs {
            build_detector(c)?;
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
    /// a restart rebuilds exactly the state an uninterrupted judge would have (detectors
    /// and incidents are deterministic). Returns the alerts it caused back then, for state
    /// that follows alerts (the throttle); they were stored and notified at the time.
    pub fn warm(&mut self, window: &WindowCount) -> Vec<Alert> {
        self.observe(window)
    }

    /// Judge one closed window; returns the alerts it causes, in detector order (none for
    /// a repeated window).
    pub fn observe(&mut self, window: &WindowCount) -> Vec<Alert> {
        let configs = &self.configs;
        let topic = self
            .topics
            .entry(window.topic.clone())
            .or_insert_with(|| TopicJudges {
                detectors: configs
                    .iter()
                    .filter_map(|c| build_detector(c).ok())
                    .map(|d| (d, IncidentTracker::new()))
                    .collect(),
                last_start: None,
            });
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
            .filter_map(|(d, incident)| {
                let verdict = d.observe(window);
                incident.observe(d.name(), window, verdict)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use viral_core::time::from_millis;
    use viral_core::AlertStatus;

    fn window(i: i64, count: u64) -> WindowCount {
        WindowCount {
            topic: "t".into(),
            window_start: from_millis(i * 60_000),
            window_end: from_millis((i + 1) * 60_000),
            count,
            samples: vec![],
        }
    }

    #[test]
    fn repeated_windows_are_judged_once() {
        let mut judge = Judge::new(vec![DetectorConfig::Threshold {
            threshold: 10,
            name: None,
        }])
        .unwrap();
        // A crash made the aggregator emit windows 1 and 2 again.
        let stream = [(0, 1), (1, 50), (2, 1), (1, 50), (2, 1), (3, 60)];
        let alerts: Vec<(i64, AlertStatus)> = stream
            .iter()
            .flat_map(|&(i, c)| judge.observe(&window(i, c)))
            .map(|a| {
                (
                    viral_core::time::to_millis(&a.window_start) / 60_000,
                    a.status,
                )
            })
            .collect();
        assert_eq!(
            alerts,
            [
                (1, AlertStatus::Firing),
                (2, AlertStatus::Resolved),
                (3, AlertStatus::Firing)
            ]
        );
    }
}
