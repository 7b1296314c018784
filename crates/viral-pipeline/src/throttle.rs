//! Who gets told: a per-(topic, detector) cooldown and a global hourly limit between
//! incidents and notifiers, so a flapping topic or a thousand topics spiking at once
//! cannot flood anyone. Every alert is still stored; only notifications are held back.
//!
//! Pure and driven by window time (not the wall clock), so `viral backtest` shows
//! exactly what the alerter would have sent. A `resolved` alert goes out exactly when
//! its `firing` one did: nobody is told an incident ended that they never heard of, and
//! nobody is left with an incident that never ends.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use chrono::{DateTime, Utc};
use viral_core::{Alert, AlertStatus};

/// Why a notification was held back (the metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    /// The same topic and detector fired less than `cooldown` before.
    Cooldown,
    /// `max_per_hour` notifications of new incidents already went out in the last hour.
    RateLimit,
}

impl Held {
    pub fn as_str(self) -> &'static str {
        match self {
            Held::Cooldown => "cooldown",
            Held::RateLimit => "rate_limit",
        }
    }
}

pub struct Throttle {
    cooldown: chrono::Duration,
    max_per_hour: usize,
    /// When each (topic, detector) last had a firing notification sent.
    last_sent: HashMap<(String, String), DateTime<Utc>>,
    /// Window starts of the firing notifications sent in the last hour.
    recent: VecDeque<DateTime<Utc>>,
    /// Incidents whose firing was held back: their resolved is held back too.
    held: HashSet<String>,
}

impl Throttle {
    /// `max_per_hour = 0` means no global limit; a zero cooldown, none per topic.
    pub fn new(cooldown: Duration, max_per_hour: usize) -> Self {
        Self {
            cooldown: chrono::Duration::from_std(cooldown).unwrap_or(chrono::Duration::MAX),
            max_per_hour,
            last_sent: HashMap::new(),
            recent: VecDeque::new(),
            held: HashSet::new(),
        }
    }

    /// Whether `alert` should be sent; `Err` says why not.
    pub fn admit(&mut self, alert: &Alert) -> Result<(), Held> {
        if alert.status == AlertStatus::Resolved {
            return if self.held.remove(&alert.id) {
                Err(Held::Cooldown)
            } else {
                Ok(())
            };
        }
        let at = alert.window_start;
        let key = (alert.topic.clone(), alert.detector.clone());
        if self
            .last_sent
            .get(&key)
            .is_some_and(|last| at - *last < self.cooldown)
        {
            self.held.insert(alert.id.clone());
            return Err(Held::Cooldown);
        }
        let hour_ago = at - chrono::Duration::hours(1);
        while self.recent.front().is_some_and(|t| *t <= hour_ago) {
            self.recent.pop_front();
        }
        if self.max_per_hour > 0 && self.recent.len() >= self.max_per_hour {
            self.held.insert(alert.id.clone());
            return Err(Held::RateLimit);
        }
        self.recent.push_back(at);
        self.last_sent.insert(key, at);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use viral_core::time::from_millis;

    use super::*;

    const MIN: i64 = 60_000;

    fn alert(topic: &str, status: AlertStatus, minute: i64, started: i64) -> Alert {
        Alert {
            id: format!("{topic}:d:{started}"),
            topic: topic.into(),
            detector: "d".into(),
            status,
            window_start: from_millis(minute * MIN),
            window_end: from_millis((minute + 1) * MIN),
            count: 1,
            expected: None,
            band: None,
            score: 1.0,
            started_at: from_millis(started * MIN),
            samples: vec![],
        }
    }

    #[test]
    fn a_flapping_topic_is_told_once_per_cooldown_and_every_told_incident_ends() {
        use AlertStatus::*;
        let mut t = Throttle::new(Duration::from_secs(30 * 60), 0);
        // Fires at 0, 10, 20, 40 minutes, each resolving a minute later.
        let mut sent = Vec::new();
        for start in [0, 10, 20, 40] {
            for (status, minute) in [(Firing, start), (Resolved, start + 1)] {
                if t.admit(&alert("a", status, minute, start)).is_ok() {
                    sent.push((start, status));
                }
            }
        }
        assert_eq!(
            sent,
            [(0, Firing), (0, Resolved), (40, Firing), (40, Resolved)]
        );
        // Another topic has its own cooldown.
        assert!(t.admit(&alert("b", Firing, 41, 41)).is_ok());
    }

    #[test]
    fn a_mass_event_is_capped_per_hour_and_the_cap_recovers() {
        let mut t = Throttle::new(Duration::ZERO, 3);
        let topics = ["a", "b", "c", "d", "e"];
        let now: Vec<bool> = topics
            .iter()
            .map(|tp| t.admit(&alert(tp, AlertStatus::Firing, 0, 0)).is_ok())
            .collect();
        assert_eq!(now, [true, true, true, false, false]);
        assert_eq!(
            t.admit(&alert("d", AlertStatus::Resolved, 5, 0)),
            Err(Held::Cooldown),
            "the held incident's end is held too"
        );
        assert!(t.admit(&alert("a", AlertStatus::Resolved, 5, 0)).is_ok());
        // An hour later there is room again.
        assert_eq!(
            t.admit(&alert("e", AlertStatus::Firing, 59, 59)),
            Err(Held::RateLimit)
        );
        assert!(t.admit(&alert("e", AlertStatus::Firing, 61, 61)).is_ok());
    }
}
