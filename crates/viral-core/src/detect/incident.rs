//! Incidents per (topic, detector): open at the first anomalous window, resolve once the
//! topic has been normal for `resolve_after` (at the first normal window when it is 0, the
//! threshold rule's default), one notification each. Holding an incident open through a
//! short lull is what makes one event cost one page: real bursts come in waves.

use chrono::{DateTime, Duration, Utc};

use super::Verdict;
use crate::model::{Alert, AlertStatus, WindowCount};
use crate::time::format_rfc3339;

/// The open incident of one (topic, detector), if any. Small and serialisable by its
/// owner (the alerter persists it) through [`IncidentTracker::open_since`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IncidentTracker {
    resolve_after: Duration,
    open: Option<Open>,
}

#[derive(Debug, Clone, PartialEq)]
struct Open {
    id: String,
    started_at: DateTime<Utc>,
    /// End of the newest anomalous window: the incident resolves `resolve_after` later.
    last_anomalous: DateTime<Utc>,
}

impl IncidentTracker {
    /// Resolve at the first normal window.
    pub fn new() -> Self {
        Self::default()
    }

    /// Resolve at the first normal window that ends `resolve_after` or more after the
    /// last anomalous one.
    pub fn holding(resolve_after: std::time::Duration) -> Self {
        Self {
            resolve_after: Duration::from_std(resolve_after).unwrap_or(Duration::MAX),
            open: None,
        }
    }

    /// Restore an incident that was open when the process stopped.
    pub fn resume(id: String, started_at: DateTime<Utc>) -> Self {
        Self {
            resolve_after: Duration::zero(),
            open: Some(Open {
                id,
                started_at,
                last_anomalous: started_at,
            }),
        }
    }

    /// The open incident's id and start, if one is open.
    pub fn open_since(&self) -> Option<(&str, DateTime<Utc>)> {
        self.open.as_ref().map(|o| (o.id.as_str(), o.started_at))
    }

    /// Feed one window's verdict; returns the alert to send, if the incident changed.
    pub fn observe(&mut self, detector: &str, window: &WindowCount, v: Verdict) -> Option<Alert> {
        let (status, id, started_at) = match (&mut self.open, v.anomalous) {
            (None, true) => {
                let id = incident_id(&window.topic, detector, &window.window_start);
                self.open = Some(Open {
                    id: id.clone(),
                    started_at: window.window_start,
                    last_anomalous: window.window_end,
                });
                (AlertStatus::Firing, id, window.window_start)
            }
            (Some(open), true) => {
                open.last_anomalous = open.last_anomalous.max(window.window_end);
                return None;
            }
            (Some(open), false) => {
                if window.window_end - open.last_anomalous < self.resolve_after {
                    return None;
                }
                let open = self.open.take()?;
                (AlertStatus::Resolved, open.id, open.started_at)
            }
            (None, false) => return None,
        };
        Some(Alert {
            id,
            topic: window.topic.clone(),
            detector: detector.to_owned(),
            status,
            window_start: window.window_start,
            window_end: window.window_end,
            count: window.count,
            expected: v.expected,
            band: v.band,
            score: v.score,
            started_at,
            samples: window.samples.clone(),
        })
    }
}

/// Stable and readable: the same incident always gets the same id, across restarts and
/// between `viral backtest` and the live alerter.
pub fn incident_id(topic: &str, detector: &str, started_at: &DateTime<Utc>) -> String {
    format!("{topic}:{detector}:{}", format_rfc3339(started_at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::{Detector, ThresholdDetector};
    use crate::time::from_millis;

    /// One-minute window `i`.
    fn window(i: i64, count: u64) -> WindowCount {
        crate::detect::tests::window(i as usize, 60_000, count)
    }

    #[test]
    fn one_firing_and_one_resolved_per_episode() {
        let mut d = ThresholdDetector::new("threshold", 10);
        let mut inc = IncidentTracker::new();
        let counts = [1, 10, 50, 12, 3, 2, 11, 0];
        let alerts: Vec<Alert> = counts
            .iter()
            .enumerate()
            .filter_map(|(i, &c)| {
                let w = window(i as i64, c);
                let v = d.observe(&w);
                inc.observe(d.name(), &w, v)
            })
            .collect();
        let got: Vec<(AlertStatus, u64)> = alerts.iter().map(|a| (a.status, a.count)).collect();
        use AlertStatus::*;
        assert_eq!(
            got,
            [(Firing, 10), (Resolved, 3), (Firing, 11), (Resolved, 0)]
        );
        assert_eq!(alerts[0].id, alerts[1].id);
        assert_ne!(alerts[0].id, alerts[2].id);
        assert_eq!(alerts[1].started_at, from_millis(60_000));
        assert_eq!(alerts[0].id, "t:threshold:1970-01-01T00:01:00Z");
        assert_eq!(alerts[0].score, 1.0);
    }

    #[test]
    fn an_incident_holds_through_lulls_shorter_than_resolve_after() {
        let mut d = ThresholdDetector::new("threshold", 10);
        // One-minute windows: resolve once 3 minutes have been normal.
        let mut inc = IncidentTracker::holding(std::time::Duration::from_secs(180));
        let counts = [50, 1, 1, 50, 1, 1, 1, 1, 50];
        let got: Vec<(usize, AlertStatus)> = counts
            .iter()
            .enumerate()
            .filter_map(|(i, &c)| {
                let w = window(i as i64, c);
                let v = d.observe(&w);
                inc.observe(d.name(), &w, v).map(|a| (i, a.status))
            })
            .collect();
        use AlertStatus::*;
        // The lull at 1–2 is too short; 4–6 is three normal minutes after the end of 3.
        assert_eq!(got, [(0, Firing), (6, Resolved), (8, Firing)]);
    }

    #[test]
    fn resumed_incident_resolves_with_its_id() {
        let mut inc = IncidentTracker::resume("x".into(), from_millis(0));
        let v = Verdict {
            anomalous: false,
            score: 0.1,
            expected: None,
            band: None,
            warming_up: false,
        };
        let a = inc.observe("d", &window(5, 1), v).unwrap();
        assert_eq!((a.id.as_str(), a.status), ("x", AlertStatus::Resolved));
        assert!(inc.open_since().is_none());
    }
}
