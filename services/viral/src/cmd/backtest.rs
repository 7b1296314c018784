//! `viral backtest`: the configured detectors over recorded window counts, printing the
//! notifications they would have sent (after the `[notifiers]` cooldown and hourly
//! limit) — how users choose detectors and sensitivities on their own history before
//! trusting them with a pager — or, with `--labels`, how well they match labelled
//! periods (`labels.rs`).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use viral_core::{Alert, WindowCount};
use viral_pipeline::alerter::Judge;
use viral_pipeline::throttle::Throttle;

use super::replay::{Lines, MAX_LINE_BYTES};

pub fn run(
    config: &Path,
    counts: &str,
    output: Option<&str>,
    scoring: Option<super::labels::Scoring>,
) -> anyhow::Result<ExitCode> {
    let config = viral_config::load(Some(config))?;
    anyhow::ensure!(
        !config.detectors.is_empty(),
        "config key `detectors`: no [[detectors]] configured, nothing to backtest"
    );
    let mut judge = Judge::new(config.detectors.clone())
        .map_err(|(i, e)| anyhow::anyhow!("config key `detectors[{i}].{e}`"))?;
    let reader: Box<dyn BufRead> = if counts == "-" {
        Box::new(io::stdin().lock())
    } else {
        Box::new(BufReader::new(
            File::open(counts).with_context(|| format!("cannot open --counts {counts}"))?,
        ))
    };

    // Each topic's windows in window order, whatever the file's order.
    let mut by_topic: BTreeMap<String, Vec<WindowCount>> = BTreeMap::new();
    let (mut windows, mut invalid) = (0u64, 0u64);
    // Through the bounded splitter, not `BufRead::lines`: a line that is not UTF-8 (or is
    // too long) is one invalid line, not the end of the backtest.
    let mut lines = Lines::new(reader);
    let mut line_no = 0u64;
    while let Some(line) = lines
        .next_line()
        .with_context(|| format!("cannot read --counts {counts}"))?
    {
        line_no += 1;
        let Some(line) = line else {
            invalid += 1;
            eprintln!("line {line_no}: longer than {MAX_LINE_BYTES} bytes, skipped");
            continue;
        };
        if line.trim_ascii().is_empty() {
            continue;
        }
        match serde_json::from_slice::<WindowCount>(line) {
            Ok(w) => {
                windows += 1;
                by_topic.entry(w.topic.clone()).or_default().push(w);
            }
            Err(e) => {
                invalid += 1;
                eprintln!("line {line_no}: not a WindowCount, skipped: {e}");
            }
        }
    }
    let mut alerts: Vec<Alert> = Vec::new();
    for series in by_topic.values_mut() {
        series.sort_by_key(|w| w.window_start);
        for w in series.iter() {
            alerts.extend(judge.observe(w));
        }
    }
    // Time order across topics; within a window, the detectors' order (stable sort).
    alerts.sort_by(|a, b| (a.window_start, &a.topic).cmp(&(b.window_start, &b.topic)));
    let incidents = alerts
        .iter()
        .filter(|a| a.status == viral_core::AlertStatus::Firing)
        .count();
    // What the alerter would have sent: the same cooldown and hourly limit.
    let mut throttle = Throttle::new(config.notifiers.cooldown, config.notifiers.max_per_hour);
    let before = alerts.len();
    alerts.retain(|a| throttle.admit(a).is_ok());
    let held = before - alerts.len();

    let mut out: Box<dyn Write> = match output {
        // With --labels, stdout carries the scores.
        None if scoring.is_some() => Box::new(io::sink()),
        None | Some("-") => Box::new(BufWriter::new(io::stdout().lock())),
        Some(path) => Box::new(BufWriter::new(
            File::create(path).with_context(|| format!("cannot create --output {path}"))?,
        )),
    };
    for a in &alerts {
        serde_json::to_writer(&mut out, a)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    drop(out);
    if let Some(scoring) = scoring {
        let names: Vec<&str> = config.detectors.iter().map(|d| d.name()).collect();
        scoring.report(&alerts, &by_topic, &names, &mut io::stdout().lock())?;
    }
    eprintln!(
        "{}",
        serde_json::json!({
            "windows": windows,
            "topics": by_topic.len(),
            "invalid": invalid,
            "incidents": incidents,
            "alerts": alerts.len(),
            "held": held,
        })
    );
    Ok(ExitCode::SUCCESS)
}
