//! `viral migrate` and `viral counts` against a real CQL database (the shared test
//! Cassandra): the commands a deployment runs as a job and an operator runs by hand.

use std::process::Command;
use std::time::Duration;

use viral_core::time::from_millis;
use viral_core::WindowCount;
use viral_integration_tests::cassandra;
use viral_integration_tests::config::{quoted, TestConfig};
use viral_store::scylla::ScyllaStore;
use viral_store::Store;

fn config(dir: &std::path::Path, keyspace: &str) -> std::path::PathBuf {
    TestConfig::empty()
        .topic("ocean-spray", &["ocean spray"])
        .window("30m")
        .with(&format!(
            "[store]\nkind = \"scylla\"\n\n[store.scylla]\nnodes = [{}]\nkeyspace = {}\n\
             migrate = false\nretention = \"30d\"",
            quoted(&cassandra::contact()),
            quoted(keyspace)
        ))
        .write_in(dir)
}

fn viral(args: &[&str], config: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_viral"))
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .unwrap()
}

#[tokio::test]
async fn migrate_creates_the_schema_and_counts_reads_it_back() {
    let dir = tempfile::tempdir().unwrap();
    let keyspace = cassandra::fresh_keyspace("cli");
    let cfg = config(dir.path(), &keyspace);

    // --print: the schema with this config filled in, nothing applied.
    let out = viral(&["migrate", "--print"], &cfg);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cql = String::from_utf8(out.stdout).unwrap();
    assert!(cql.contains(&format!(
        "CREATE TABLE IF NOT EXISTS {keyspace}.window_counts"
    )));
    assert!(cql.contains("default_time_to_live = 2592000"), "{cql}");

    // With migrate = false the services would not create tables; `viral migrate` does,
    // twice without complaint.
    for _ in 0..2 {
        let out = viral(&["migrate"], &cfg);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let mut c = cassandra::config(&cassandra::contact(), "unused");
    c.keyspace = keyspace;
    c.migrate = false;
    let store = ScyllaStore::connect(c).await.unwrap();
    let windows: Vec<WindowCount> = (0..5)
        .map(|i| WindowCount {
            topic: "ocean-spray".into(),
            window_start: from_millis(i * 1_800_000),
            window_end: from_millis((i + 1) * 1_800_000),
            count: 10 + i as u64,
            samples: vec![],
        })
        .collect();
    store
        .put_counts(Duration::from_secs(1800), &windows)
        .await
        .unwrap();

    let out = viral(
        &[
            "counts",
            "--topic",
            "ocean-spray",
            "--from",
            "1970-01-01T00:30:00Z",
            "--to",
            "1970-01-01T02:00:00Z",
        ],
        &cfg,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Vec<WindowCount> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(got, windows[1..4]);
}

#[test]
fn counts_names_the_key_when_the_database_is_away() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "nowhere");
    let out = Command::new(env!("CARGO_BIN_EXE_viral"))
        .args(["counts", "--topic", "ocean-spray", "--config"])
        .arg(&cfg)
        .env("VIRAL__STORE__SCYLLA__NODES", "127.0.0.1:1")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("store.scylla.nodes") && err.contains("127.0.0.1:1"),
        "{err}"
    );
}
