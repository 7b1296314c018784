//! `viral standalone` end to end, as a user runs it: the synthetic day goes viral, the
//! threshold fires and resolves, alerts arrive on stdout and at a real webhook receiver,
//! the ops endpoints answer, SIGTERM stops it cleanly, and `viral counts` reads the store.
//! Every wait is on an event (a line, a request); the timeout only guards against a hang.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use viral_integration_tests::config::{quoted, TestConfig};
use viral_integration_tests::{schema::Schema, webhook};

const GUARD: Duration = Duration::from_secs(180);

fn config(db: &std::path::Path, hook: &str) -> String {
    TestConfig::demo()
        .threshold(1500)
        .sqlite(db)
        .any_port()
        .json_logs()
        .with(&format!("[notifiers.webhook]\nurl = {}", quoted(hook)))
        .with("[sources.synthetic]\nspeed = 3000.0\nspike_after = \"3h\"\nspike_duration = \"2h\"")
        .toml()
}

async fn guard<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(GUARD, f)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_spike_fires_and_resolves_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("viral.db");
    let mut hook = webhook::start().await;
    let cfg = dir.path().join("viral.toml");
    std::fs::write(&cfg, config(&db, &hook.url())).unwrap();

    let mut child = Command::new(env!("CARGO_BIN_EXE_viral"))
        .args(["standalone", "--config"])
        .arg(&cfg)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();

    // The JSON log line announcing the service carries the metrics URL.
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let metrics_url = guard("the start-up log line", async {
        loop {
            let line = stderr
                .next_line()
                .await
                .unwrap()
                .expect("stderr closed early");
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                if let Some(url) = v["metrics"].as_str() {
                    return url.to_owned();
                }
            }
        }
    })
    .await;
    tokio::spawn(async move { while let Ok(Some(_)) = stderr.next_line().await {} });

    let alert_schema = Schema::load("alert");
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut printed = Vec::new();
    guard("a firing and a resolved alert on stdout", async {
        while printed.len() < 2 {
            let line = stdout
                .next_line()
                .await
                .unwrap()
                .expect("stdout closed early");
            let v: Value = serde_json::from_str(&line).unwrap();
            alert_schema.assert_valid(&v);
            printed.push(v);
        }
    })
    .await;
    assert_eq!(printed[0]["status"], "firing");
    assert_eq!(printed[0]["topic"], "ocean-spray");
    assert!(printed[0]["count"].as_u64().unwrap() >= 1500);
    assert!(!printed[0]["samples"].as_array().unwrap().is_empty());
    assert_eq!(printed[1]["status"], "resolved");
    assert_eq!(printed[1]["id"], printed[0]["id"], "one incident");

    for want in &printed {
        let got = guard("the webhook delivery", hook.requests.recv())
            .await
            .unwrap();
        assert_eq!(&got.body, want);
        let status = want["status"].as_str().unwrap();
        let id = want["id"].as_str().unwrap();
        assert_eq!(got.headers["webhook-id"], format!("{id}:{status}"));
    }

    let http = reqwest::Client::new();
    // The receiver records a delivery before it answers, and the notifier counts it once
    // the answer is back: poll the page until the second delivery is counted.
    let delivered = r#"viral_notifications_total{notifier="webhook",result="ok"} 2"#;
    let metrics = guard("the deliveries counted in /metrics", async {
        loop {
            let page = http
                .get(&metrics_url)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            if page.contains(delivered) {
                return page;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(
        metrics.contains(
            r#"viral_alerts_total{topic="ocean-spray",detector="threshold",status="firing"} 1"#
        ),
        "{metrics}"
    );
    assert!(metrics.contains("viral_windows_closed_total"));
    let base = metrics_url.trim_end_matches("/metrics");
    let ready = http.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(
        http.get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // The query API on the same port reads the same store.
    let api = |path: String| {
        let http = http.clone();
        async move {
            let r = http.get(format!("{base}{path}")).send().await.unwrap();
            assert_eq!(r.status(), 200, "{path}");
            r.json::<Value>().await.unwrap()
        }
    };
    let topics = api("/api/v1/topics".into()).await;
    assert_eq!(topics["topics"][0]["name"], "ocean-spray", "{topics}");
    assert!(topics["topics"][0]["latest"]["count"].is_u64(), "{topics}");
    let page = api("/api/v1/topics/ocean-spray/counts".into()).await;
    let api_counts = page["counts"].as_array().unwrap();
    assert!(!api_counts.is_empty(), "{page}");
    let count_schema = Schema::load("window_count");
    for c in api_counts {
        count_schema.assert_valid(c);
    }
    let alerts = api("/api/v1/topics/ocean-spray/alerts".into()).await;
    let statuses: Vec<&str> = alerts["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["status"].as_str())
        .collect();
    assert_eq!(statuses, ["firing", "resolved"], "{alerts}");

    // SIGTERM: a clean, prompt, successful exit.
    let pid = child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = guard("exit after SIGTERM", child.wait()).await.unwrap();
    assert!(status.success(), "{status:?}");

    // The counts are in the store, readable with `viral counts`.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_viral"))
        .args(["counts", "--config"])
        .arg(&cfg)
        .args(["--topic", "ocean-spray"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let counts: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for c in &counts {
        count_schema.assert_valid(c);
    }
    let peak = counts
        .iter()
        .filter_map(|c| c["count"].as_u64())
        .max()
        .unwrap();
    assert!(peak >= 1500, "peak stored count {peak}");
    assert!(
        counts.len() >= 6,
        "one row per closed window: {}",
        counts.len()
    );
}

#[test]
fn a_bad_config_stops_start_up_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("viral.toml");
    std::fs::write(
        &cfg,
        config(&dir.path().join("x.db"), "http://127.0.0.1:9/hook")
            .replace("threshold = 1500", "threshold = 0"),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_viral"))
        .args(["standalone", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("detectors[0].threshold"), "{stderr}");
}

/// The built-in demo (no `--config`), twice in one folder: the same simulated day gives
/// the second run's incidents the first run's ids, and each run must still print its
/// alert rather than take it for last run's, already delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_built_in_demo_prints_its_alert_on_every_run() {
    let dir = tempfile::tempdir().unwrap();
    let mut ids = Vec::new();
    for run in 1..=2 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_viral"))
            .arg("standalone")
            .current_dir(dir.path())
            .env("VIRAL__HTTP__LISTEN", "127.0.0.1:0")
            .env("VIRAL__SOURCES__SYNTHETIC__SPEED", "3000")
            .env("VIRAL__SOURCES__SYNTHETIC__SPIKE_AFTER", "3h")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let id = guard(&format!("run {run}'s firing alert on stdout"), async {
            loop {
                let line = stdout
                    .next_line()
                    .await
                    .unwrap()
                    .unwrap_or_else(|| panic!("run {run}: stdout closed early"));
                let v: Value = serde_json::from_str(&line).unwrap();
                if v["status"] == "firing" {
                    return v["id"].as_str().unwrap().to_owned();
                }
            }
        })
        .await;
        ids.push(id);
        child.kill().await.unwrap();
    }
    // The same incident both times: only a fresh store lets the second one through.
    assert_eq!(ids[0], ids[1]);
    assert!(dir.path().join("viral-demo.db").exists());
}
