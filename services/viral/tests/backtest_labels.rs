//! `viral backtest --labels`: the alerts scored against labelled periods, as a table and
//! one JSON line last, with figures that can be counted by hand.

use std::process::{Command, Output};

use serde_json::Value;
use viral_integration_tests::config::TestConfig;

/// Topics `a` and `b`, 30-minute windows, thresholds 500 and 900 (`high`), no throttle.
fn config() -> String {
    TestConfig::empty()
        .topic("a", &["a"])
        .topic("b", &["b"])
        .window("30m")
        .with("[notifiers]\ncooldown = \"0s\"\nmax_per_hour = 0")
        .threshold(500)
        .with("[[detectors]]\nkind = \"threshold\"\nthreshold = 900\nname = \"high\"")
        .toml()
}

/// `viral backtest --config viral.toml --counts counts.jsonl --labels LABELS …` in `dir`.
fn backtest(dir: &std::path::Path, labels: &str, more: &[&str]) -> Output {
    let path = |f: &str| dir.join(f).to_str().unwrap().to_owned();
    Command::new(env!("CARGO_BIN_EXE_viral"))
        .args(["backtest", "--config", &path("viral.toml")])
        .args(["--counts", &path("counts.jsonl"), "--labels", &path(labels)])
        .args(more)
        .output()
        .unwrap()
}

/// Ten days of 30-minute windows of 100 for topics a and b; topic a reaches 1,000 on day
/// 3 at 12:00 and 600 on day 7 at 06:00.
fn counts() -> String {
    let mut out = String::new();
    for topic in ["a", "b"] {
        for i in 0..480i64 {
            let start = i * 1_800;
            let count = match (topic, i) {
                ("a", 120) => 1_000, // 1970-01-03T12:00
                ("a", 300) => 600,   // 1970-01-07T06:00
                _ => 100,
            };
            let t = |s: i64| {
                chrono::DateTime::from_timestamp(s, 0)
                    .unwrap()
                    .format("%Y-%m-%dT%H:%M:%SZ")
                    .to_string()
            };
            out.push_str(&format!(
                r#"{{"topic":"{topic}","window_start":"{}","window_end":"{}","count":{count}}}"#,
                t(start),
                t(start + 1_800)
            ));
            out.push('\n');
        }
    }
    out
}

#[test]
fn alerts_are_scored_against_labelled_periods() {
    let dir = tempfile::tempdir().unwrap();
    let path = |f: &str| dir.path().join(f).to_str().unwrap().to_owned();
    std::fs::write(path("viral.toml"), config()).unwrap();
    std::fs::write(path("counts.jsonl"), counts()).unwrap();
    // Day 3 is labelled (caught by both), day 5 is labelled (nothing there), day 7's
    // 600 is not (a false incident for `threshold` only); "z" has no counts.
    std::fs::write(
        path("labels.json"),
        r#"{"a": [["1970-01-03 00:00:00", "1970-01-03T23:59:59Z"],
                  ["1970-01-05T00:00:00Z", "1970-01-05T12:00:00Z"]],
            "z": [["1970-01-03T00:00:00Z", "1970-01-04T00:00:00Z"]]}"#,
    )
    .unwrap();
    let out = backtest(
        dir.path(),
        "labels.json",
        &["--probation", "1d", "--output", &path("alerts.jsonl")],
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("topic \"z\" has no counts"), "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 5, "header, two detectors, all, JSON: {stdout}");
    assert!(lines[0].starts_with("detector") && lines[0].contains("false/30d"));
    assert!(
        lines[1].starts_with("threshold") && lines[1].contains("1/2"),
        "{stdout}"
    );
    assert!(lines[3].starts_with("all"), "{stdout}");
    let last: Value = serde_json::from_str(lines[4]).unwrap();
    let by = |name: &str| {
        last["detectors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["detector"] == name)
            .unwrap()
            .clone()
    };
    let t = by("threshold");
    assert_eq!(
        (t["windows"].as_u64(), t["detected"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(t["recall"], 0.5);
    assert_eq!(t["false_incidents"], 1);
    assert_eq!(t["pages_per_event"], 1.0);
    // Caught at the end of the 12:00 window: 12.5 h after the period starts.
    assert_eq!(t["median_delay_h"], 12.5);
    // Two topics of ten days, less a day of probation each.
    assert_eq!(t["series_days"], 18.0);
    assert_eq!(t["false_per_30d"], 30.0 / 18.0);
    assert_eq!(by("high")["false_incidents"], 0);
    assert_eq!(last["detector"], "all");
    assert_eq!(last["false_incidents"], 1);
    // The alerts still went to --output.
    let alerts = std::fs::read_to_string(path("alerts.jsonl")).unwrap();
    assert_eq!(alerts.lines().filter(|l| l.contains("firing")).count(), 3);

    // A broken label file is refused, naming the period.
    std::fs::write(path("bad.json"), r#"{"a": [["1970-01-03", "later"]]}"#).unwrap();
    let out = backtest(dir.path(), "bad.json", &[]);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(!out.status.success());
    assert!(stderr.contains("topic \"a\", period 0"), "{stderr}");
}
