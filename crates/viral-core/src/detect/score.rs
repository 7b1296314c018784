//! Scoring alerts against labelled anomaly windows: how users check a detector on their
//! own history before trusting it with a pager (`viral backtest --labels`).
//!
//! A label file maps each topic to the periods a person would have wanted to hear about,
//! as `[start, end]` pairs (NAB's `windows.json` shape, keyed by topic):
//!
//! ```json
//! {"ocean-spray": [["2020-09-25T16:00:00Z", "2020-09-26T04:00:00Z"]]}
//! ```
//!
//! Times are RFC 3339 or `YYYY-MM-DD HH:MM:SS[.ffffff]` (UTC). Only `firing` alerts count,
//! one per incident. An alert *falls in* a labelled period when the window it fired on
//! shares time with it (`window_start ≤ end` and `window_end > start`). The figures:
//!
//! - **recall**: labelled periods with at least one alert in them, of all labelled
//!   periods the counts cover;
//! - **false incidents per topic per 30 days**: alerts outside every labelled period, per
//!   30 days of counts per topic;
//! - **pages per detected event**: alerts inside labelled periods ÷ periods detected;
//! - **median delay**: first alert's `window_end` − the period's start, in hours.
//!
//! Alerts and periods within `probation` of a topic's first window are left out: every
//! detector needs some history before it can be judged.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Serialize;

use crate::model::{Alert, AlertStatus};
use crate::time::parse_rfc3339;

/// Labelled periods per topic, in the order of the file.
pub type Labels = BTreeMap<String, Vec<(DateTime<Utc>, DateTime<Utc>)>>;

#[derive(Debug, thiserror::Error)]
pub enum LabelError {
    #[error("not a label file (an object of topic → [[start, end], …]): {0}")]
    Shape(#[from] serde_json::Error),
    #[error("topic {topic:?}, period {index}: {problem}")]
    Period {
        topic: String,
        index: usize,
        problem: String,
    },
}

/// Parse a label file.
pub fn parse_labels(json: &str) -> Result<Labels, LabelError> {
    let raw: BTreeMap<String, Vec<(String, String)>> = serde_json::from_str(json)?;
    let mut out = Labels::new();
    for (topic, periods) in raw {
        let mut parsed = Vec::with_capacity(periods.len());
        for (index, (a, b)) in periods.iter().enumerate() {
            let bad = |problem: String| LabelError::Period {
                topic: topic.clone(),
                index,
                problem,
            };
            let start = parse_time(a).map_err(&bad)?;
            let end = parse_time(b).map_err(&bad)?;
            if end < start {
                return Err(bad(format!("ends ({b}) before it starts ({a})")));
            }
            parsed.push((start, end));
        }
        out.insert(topic, parsed);
    }
    Ok(out)
}

fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = parse_rfc3339(s) {
        return Ok(t);
    }
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f")
        .map(|t| t.and_utc())
        .map_err(|_| format!("{s:?} is neither RFC 3339 nor YYYY-MM-DD HH:MM:SS"))
}

/// The span of counts a topic has: its first window's start and last window's end.
pub type Spans = HashMap<String, (DateTime<Utc>, DateTime<Utc>)>;

/// The figures of one detector (or of all together).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Score {
    pub detector: String,
    /// Labelled periods scored.
    pub windows: usize,
    pub detected: usize,
    pub recall: Option<f64>,
    /// Alerts outside every labelled period.
    pub false_incidents: usize,
    pub false_per_30d: Option<f64>,
    pub pages_per_event: Option<f64>,
    pub median_delay_h: Option<f64>,
    /// Days of counts scored, over all topics.
    pub series_days: f64,
}

/// Score the `firing` alerts of `detector` (all detectors together when `None`).
pub fn score(
    alerts: &[Alert],
    detector: Option<&str>,
    spans: &Spans,
    labels: &Labels,
    probation: chrono::Duration,
) -> Score {
    let firing: Vec<&Alert> = alerts
        .iter()
        .filter(|a| a.status == AlertStatus::Firing)
        .filter(|a| detector.is_none_or(|d| a.detector == d))
        .collect();
    let (mut windows, mut detected, mut inside, mut false_incidents) = (0, 0, 0, 0);
    let mut delays = Vec::new();
    let mut days = 0.0;
    for (topic, &(first, last)) in spans {
        let from = first + probation;
        if last <= from {
            continue;
        }
        days += (last - from).num_milliseconds() as f64 / 86_400_000.0;
        let mine: Vec<&&Alert> = firing
            .iter()
            .filter(|a| &a.topic == topic && a.window_start >= from)
            .collect();
        let periods: Vec<_> = labels
            .get(topic)
            .map(|p| p.iter().filter(|(a, b)| *b >= from && *a < last).collect())
            .unwrap_or_default();
        let within = |a: &Alert, (s, e): &(DateTime<Utc>, DateTime<Utc>)| {
            a.window_start <= *e && a.window_end > *s
        };
        for p in &periods {
            windows += 1;
            let hits: Vec<&&&Alert> = mine.iter().filter(|a| within(a, p)).collect();
            if let Some(first_hit) = hits.iter().map(|a| a.window_end).min() {
                detected += 1;
                inside += hits.len();
                delays.push((first_hit - p.0).num_milliseconds() as f64 / 3_600_000.0);
            }
        }
        false_incidents += mine
            .iter()
            .filter(|a| !periods.iter().any(|p| within(a, p)))
            .count();
    }
    delays.sort_by(f64::total_cmp);
    let median = match delays.len() {
        0 => None,
        n if n % 2 == 1 => Some(delays[n / 2]),
        n => Some((delays[n / 2 - 1] + delays[n / 2]) / 2.0),
    };
    let ratio = |a: f64, b: f64| (b > 0.0).then(|| a / b);
    Score {
        detector: detector.unwrap_or("all").to_owned(),
        windows,
        detected,
        recall: ratio(detected as f64, windows as f64),
        false_incidents,
        false_per_30d: ratio(30.0 * false_incidents as f64, days),
        pages_per_event: ratio(inside as f64, detected as f64),
        median_delay_h: median,
        series_days: days,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::from_millis;

    const H: i64 = 3_600_000;

    fn alert(topic: &str, detector: &str, hour: i64, status: AlertStatus) -> Alert {
        Alert {
            id: format!("{topic}:{detector}:{hour}"),
            topic: topic.into(),
            detector: detector.into(),
            status,
            window_start: from_millis(hour * H),
            window_end: from_millis((hour + 1) * H),
            count: 1,
            expected: None,
            band: None,
            score: 1.0,
            started_at: from_millis(hour * H),
            samples: vec![],
        }
    }

    #[test]
    fn labels_parse_in_both_time_formats_and_bad_ones_are_named() {
        let l = parse_labels(
            r#"{"a": [["1970-01-02T00:00:00Z", "1970-01-02 12:00:00.000000"]], "b": []}"#,
        )
        .unwrap();
        assert_eq!(l["a"], [(from_millis(24 * H), from_millis(36 * H))]);
        assert!(l["b"].is_empty());
        let e = parse_labels(r#"{"a": [["1970-01-02T00:00:00Z", "noon"]]}"#).unwrap_err();
        assert!(e.to_string().contains("topic \"a\", period 0"), "{e}");
        let e = parse_labels(r#"{"a": [["1970-01-03T00:00:00Z", "1970-01-02T00:00:00Z"]]}"#)
            .unwrap_err();
        assert!(e.to_string().contains("before it starts"), "{e}");
        assert!(parse_labels("[1, 2]").is_err());
    }

    #[test]
    fn the_figures_count_what_they_say() {
        // Topic a: 40 days of hourly counts, two labelled periods; topic b: 10 days, none.
        let spans: Spans = [
            ("a".to_string(), (from_millis(0), from_millis(40 * 24 * H))),
            ("b".to_string(), (from_millis(0), from_millis(10 * 24 * H))),
        ]
        .into();
        let labels = parse_labels(
            r#"{"a": [["1970-01-11T00:00:00Z", "1970-01-12T00:00:00Z"],
                      ["1970-01-21T00:00:00Z", "1970-01-22T00:00:00Z"]],
                "c": [["1970-01-11T00:00:00Z", "1970-01-12T00:00:00Z"]]}"#,
        )
        .unwrap();
        use AlertStatus::*;
        let alerts = [
            alert("a", "d", 5, Firing), // in probation (the first day): ignored
            alert("a", "d", 10 * 24 + 3, Firing), // first period, 4 h in
            alert("a", "d", 10 * 24 + 5, Resolved),
            alert("a", "d", 10 * 24 + 9, Firing), // a second page for it
            alert("a", "d", 30 * 24, Firing),     // false
            alert("b", "d", 5 * 24, Firing),      // false
            alert("a", "e", 20 * 24 + 23, Firing), // the other detector, second period
        ];
        let s = score(
            &alerts,
            Some("d"),
            &spans,
            &labels,
            chrono::Duration::days(1),
        );
        assert_eq!((s.windows, s.detected, s.false_incidents), (2, 1, 2));
        assert_eq!(s.recall, Some(0.5));
        assert_eq!(s.pages_per_event, Some(2.0));
        assert_eq!(s.median_delay_h, Some(4.0));
        assert_eq!(s.series_days, 39.0 + 9.0);
        assert_eq!(s.false_per_30d, Some(30.0 * 2.0 / 48.0));
        let all = score(&alerts, None, &spans, &labels, chrono::Duration::days(1));
        assert_eq!((all.detector.as_str(), all.detected), ("all", 2));
        assert_eq!(all.median_delay_h, Some(14.0));
    }
}
