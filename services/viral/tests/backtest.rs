//! `viral backtest` on the demo's own history: two days of the synthetic stream (with its
//! spike), replayed into window counts, judged by the threshold, adaptive and burst
//! detectors — the alerts are what the live alerter would send, in time order, and do
//! not depend on the order of the counts file.

use std::process::Command;

use serde_json::Value;
use viral_integration_tests::config::TestConfig;
use viral_integration_tests::schema::Schema;

fn config() -> String {
    TestConfig::demo()
        .topic("cranberry", &["cranberry", "cranberries"])
        .threshold(2000)
        .detector("adaptive")
        .detector("burst")
        .with("[sources.synthetic]\nspike_topic = \"ocean-spray\"\nspike_after = \"30h\"")
        .toml()
}

fn viral(args: &[&str]) -> (String, String) {
    viral_env(args, &[])
}

fn viral_env(args: &[&str], env: &[(&str, &str)]) -> (String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_viral"))
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "viral {args:?}: {stderr}");
    (String::from_utf8(out.stdout).unwrap(), stderr)
}

#[test]
fn the_demo_spike_is_found_by_every_detector_and_file_order_does_not_matter() {
    let dir = tempfile::tempdir().unwrap();
    let path = |f: &str| dir.path().join(f).to_str().unwrap().to_owned();
    std::fs::write(path("viral.toml"), config()).unwrap();
    viral(&[
        "generate",
        "--config",
        &path("viral.toml"),
        "--duration",
        "48h",
        "--output",
        &path("posts.jsonl"),
    ]);
    viral(&[
        "replay",
        "--config",
        &path("viral.toml"),
        "--input",
        &path("posts.jsonl"),
        "--output",
        &path("counts.jsonl"),
    ]);

    let (alerts, stderr) = viral(&[
        "backtest",
        "--config",
        &path("viral.toml"),
        "--counts",
        &path("counts.jsonl"),
    ]);
    let alerts: Vec<Value> = alerts
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let schema = Schema::load("alert");
    for a in &alerts {
        schema.assert_valid(a);
    }
    // Every detector opens an incident on the spike (a day in, so the adaptive one has
    // its baseline), and each incident resolves.
    for detector in ["threshold", "adaptive", "burst"] {
        let mine: Vec<&Value> = alerts
            .iter()
            .filter(|a| a["detector"] == detector && a["topic"] == "ocean-spray")
            .collect();
        assert!(
            mine.first().is_some_and(|a| a["status"] == "firing"),
            "{detector}: {mine:?}"
        );
        let first = mine[0]["window_start"].as_str().unwrap();
        assert!(
            ("2020-09-26T06:00:00Z"..="2020-09-26T07:00:00Z").contains(&first),
            "{detector} fired at {first}, the spike starts at 06:00"
        );
        assert!(mine
            .iter()
            .any(|a| a["status"] == "resolved" && a["id"] == mine[0]["id"]));
    }
    // The adaptive detector says what it expected.
    let adaptive = alerts.iter().find(|a| a["detector"] == "adaptive").unwrap();
    assert!(adaptive["expected"].as_f64().unwrap() > 0.0, "{adaptive}");
    // Time order.
    let starts: Vec<&str> = alerts
        .iter()
        .map(|a| a["window_start"].as_str().unwrap())
        .collect();
    assert!(starts.windows(2).all(|w| w[0] <= w[1]), "{starts:?}");
    let summary: Value = serde_json::from_str(stderr.lines().last().unwrap()).unwrap();
    assert_eq!(summary["alerts"], alerts.len());
    assert_eq!(summary["invalid"], 0);

    // The same counts reversed, plus a broken line: the same alerts, the line reported.
    let counts = std::fs::read_to_string(path("counts.jsonl")).unwrap();
    let mut lines: Vec<&str> = counts.lines().collect();
    lines.reverse();
    lines.insert(3, "{not a window");
    std::fs::write(path("shuffled.jsonl"), lines.join("\n")).unwrap();
    let (again, stderr) = viral(&[
        "backtest",
        "--config",
        &path("viral.toml"),
        "--counts",
        &path("shuffled.jsonl"),
        "--output",
        &path("alerts.jsonl"),
    ]);
    assert!(again.is_empty());
    assert!(stderr.contains("line 4: not a WindowCount"), "{stderr}");
    let again: Vec<Value> = std::fs::read_to_string(path("alerts.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(again, alerts);

    // With at most one new incident notified per hour, the three detectors' incidents on
    // the same spike become one notification — and its resolution.
    let (limited, stderr) = viral_env(
        &[
            "backtest",
            "--config",
            &path("viral.toml"),
            "--counts",
            &path("counts.jsonl"),
        ],
        &[("VIRAL__NOTIFIERS__MAX_PER_HOUR", "1")],
    );
    let limited: Vec<Value> = limited
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let statuses: Vec<&str> = limited
        .iter()
        .map(|a| a["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["firing", "resolved"], "{limited:?}");
    assert_eq!(limited[0]["id"], limited[1]["id"]);
    let summary: Value = serde_json::from_str(stderr.lines().last().unwrap()).unwrap();
    assert_eq!(summary["held"], alerts.len() - 2);
}

#[test]
fn a_line_that_is_not_utf8_is_one_invalid_line_not_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let path = |f: &str| dir.path().join(f).to_str().unwrap().to_owned();
    std::fs::write(path("viral.toml"), config()).unwrap();
    let window = |h: u32, count: u64| {
        format!(
            r#"{{"topic":"ocean-spray","window_start":"2020-09-25T{h:02}:00:00Z","window_end":"2020-09-25T{h:02}:30:00Z","count":{count}}}"#
        )
    };
    let mut counts = Vec::new();
    counts.extend_from_slice(window(1, 10).as_bytes());
    counts.extend_from_slice(b"\n{\"topic\":\"ocean-spray\xff\xfe\"}\n");
    counts.extend_from_slice(window(2, 5000).as_bytes());
    counts.extend_from_slice(b"\n");
    counts.extend_from_slice(window(3, 10).as_bytes());
    std::fs::write(path("counts.jsonl"), counts).unwrap();

    let (alerts, stderr) = viral(&[
        "backtest",
        "--config",
        &path("viral.toml"),
        "--counts",
        &path("counts.jsonl"),
    ]);
    assert!(stderr.contains("line 2: not a WindowCount"), "{stderr}");
    let summary: Value = serde_json::from_str(stderr.lines().last().unwrap()).unwrap();
    assert_eq!(
        (summary["windows"].as_u64(), summary["invalid"].as_u64()),
        (Some(3), Some(1))
    );
    // The windows after the bad line were judged: the threshold fired on 02:00.
    assert!(
        alerts
            .lines()
            .any(|l| l.contains(r#""detector":"threshold""#)
                && l.contains(r#""status":"firing""#)
                && l.contains("2020-09-25T02:00:00Z")),
        "{alerts}"
    );
}
