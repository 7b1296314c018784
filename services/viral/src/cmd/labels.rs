//! `viral backtest --labels`: the backtest's alerts scored against labelled periods
//! (the figures are defined in `viral_core::detect::score`), printed as a table and one
//! JSON line last, for scripts.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use anyhow::Context;
use viral_core::detect::score::{parse_labels, score, Labels, Score, Spans};
use viral_core::{Alert, WindowCount};

pub struct Scoring {
    labels: Labels,
    probation: chrono::Duration,
}

impl Scoring {
    pub fn load(path: &Path, probation: &str) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read --labels {}", path.display()))?;
        let labels = parse_labels(&text).with_context(|| format!("--labels {}", path.display()))?;
        let probation = humantime::parse_duration(probation)
            .ok()
            .and_then(|d| chrono::Duration::from_std(d).ok())
            .with_context(|| {
                format!("--probation {probation:?}: expected a duration such as 3d")
            })?;
        Ok(Self { labels, probation })
    }

    /// Print one row per detector (and one for all of them together, when there are
    /// several), then the JSON line.
    pub fn report(
        &self,
        alerts: &[Alert],
        windows: &BTreeMap<String, Vec<WindowCount>>,
        detectors: &[&str],
        out: &mut dyn Write,
    ) -> anyhow::Result<()> {
        let spans: Spans = windows
            .iter()
            .filter_map(|(topic, w)| {
                Some((
                    topic.clone(),
                    (w.first()?.window_start, w.last()?.window_end),
                ))
            })
            .collect();
        for topic in self.labels.keys().filter(|t| !spans.contains_key(*t)) {
            eprintln!("--labels: topic {topic:?} has no counts; its periods are not scored");
        }
        let mut rows: Vec<Score> = detectors
            .iter()
            .map(|d| score(alerts, Some(d), &spans, &self.labels, self.probation))
            .collect();
        let all = score(alerts, None, &spans, &self.labels, self.probation);
        if rows.len() > 1 {
            rows.push(all.clone());
        }
        table(&rows, out)?;
        let mut last = serde_json::to_value(&all)?;
        last["detectors"] = serde_json::to_value(&rows)?;
        writeln!(out, "{last}")?;
        Ok(())
    }
}

fn table(rows: &[Score], out: &mut dyn Write) -> std::io::Result<()> {
    let f = |v: Option<f64>, digits: usize| v.map_or("-".into(), |x| format!("{x:.digits$}"));
    let head = [
        "detector",
        "recall",
        "detected",
        "false",
        "false/30d",
        "pages/event",
        "median delay (h)",
    ];
    let body: Vec<[String; 7]> = rows
        .iter()
        .map(|r| {
            [
                r.detector.clone(),
                f(r.recall, 3),
                format!("{}/{}", r.detected, r.windows),
                r.false_incidents.to_string(),
                f(r.false_per_30d, 1),
                f(r.pages_per_event, 2),
                f(r.median_delay_h, 2),
            ]
        })
        .collect();
    let widths: Vec<usize> = (0..head.len())
        .map(|i| {
            body.iter()
                .map(|r| r[i].len())
                .fold(head[i].len(), usize::max)
        })
        .collect();
    let line = |cells: Vec<&str>, out: &mut dyn Write| {
        let text: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i == 0 {
                    format!("{c:<w$}", w = widths[i])
                } else {
                    format!("{c:>w$}", w = widths[i])
                }
            })
            .collect();
        writeln!(out, "{}", text.join("  "))
    };
    line(head.to_vec(), out)?;
    for r in &body {
        line(r.iter().map(String::as_str).collect(), out)?;
    }
    Ok(())
}
