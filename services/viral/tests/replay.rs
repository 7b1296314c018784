//! `viral replay` as a user runs it: the pinned flags, `-` for stdin/stdout, the summary
//! line, and bad lines that are reported and skipped, never fatal.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;
use viral_integration_tests::schema::Schema;

const CONFIG: &str = r#"
[[topics]]
name = "ocean-spray"
terms = ["ocean spray", "oceanspray"]

[[topics]]
name = "cranberry"
terms = ["cranberry"]

[window]
size = "30m"
lateness = "1m"
"#;

/// Worked by hand from DESIGN.md's rules; see the comments for what each line does.
const POSTS: &str = concat!(
    // [18:00,18:30) ocean-spray
    r#"{"id":"a","source":"x","text":"Ocean Spray and Dreams","created_at":"2020-09-25T18:00:00Z"}"#,
    "\n",
    // ocean-spray and cranberry
    r##"{"id":"b","source":"x","text":"#OceanSpray cranberry","created_at":"2020-09-25T18:10:00Z"}"##,
    "\n",
    // duplicate of a (same window)
    r#"{"id":"a","source":"x","text":"Ocean Spray and Dreams","created_at":"2020-09-25T18:11:00Z"}"#,
    "\n",
    "not json at all\n",
    // missing created_at
    r#"{"id":"z","source":"x","text":"ocean spray"}"#,
    "\n",
    // W = 18:30: closes [18:00,18:30) for both topics
    r#"{"id":"c","source":"x","text":"ocean-spray!","created_at":"2020-09-25T18:31:00Z"}"#,
    "\n",
    // late: its only window has closed
    r#"{"id":"d","source":"x","text":"ocean spray","created_at":"2020-09-25T18:05:00Z"}"#,
    "\n",
    // clock ahead: event time is observed_at (18:40)
    r#"{"id":"e","source":"x","text":"cranberry","created_at":"2020-09-25T19:45:00Z","observed_at":"2020-09-25T18:40:00Z"}"#,
    "\n",
    // matches nothing
    r#"{"id":"f","source":"x","text":"hello","created_at":"2020-09-25T18:41:00Z"}"#,
    "\n",
);

const EXPECTED: &[&str] = &[
    r#"{"topic":"cranberry","window_start":"2020-09-25T18:00:00Z","window_end":"2020-09-25T18:30:00Z","count":1}"#,
    r#"{"topic":"ocean-spray","window_start":"2020-09-25T18:00:00Z","window_end":"2020-09-25T18:30:00Z","count":2}"#,
    r#"{"topic":"cranberry","window_start":"2020-09-25T18:30:00Z","window_end":"2020-09-25T19:00:00Z","count":1}"#,
    r#"{"topic":"ocean-spray","window_start":"2020-09-25T18:30:00Z","window_end":"2020-09-25T19:00:00Z","count":1}"#,
];

fn viral() -> Command {
    Command::new(env!("CARGO_BIN_EXE_viral"))
}

fn config_file(dir: &tempfile::TempDir) -> std::path::PathBuf {
    let p = dir.path().join("viral.toml");
    std::fs::write(&p, CONFIG).unwrap();
    p
}

fn summary(stderr: &str) -> Value {
    serde_json::from_str(stderr.lines().last().expect("a summary line")).unwrap()
}

#[test]
fn files_in_files_out() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("posts.jsonl");
    let output = dir.path().join("counts.jsonl");
    std::fs::write(&input, POSTS).unwrap();
    let out = viral()
        .args(["replay", "--config"])
        .arg(config_file(&dir))
        .arg("--input")
        .arg(&input)
        .arg("--output")
        .arg(&output)
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "{stderr}");
    let counts = std::fs::read_to_string(&output).unwrap();
    assert_eq!(counts.lines().collect::<Vec<_>>(), EXPECTED);
    assert_eq!(
        summary(&stderr),
        serde_json::json!({"posts":7,"mentions":7,"duplicates":1,"late":1,"invalid":2,"windows":4})
    );
    // The keys are printed in the pinned order.
    assert!(stderr.lines().last().unwrap().starts_with(r#"{"posts":"#));
    assert!(stderr.contains("line 4: invalid post"), "{stderr}");
    assert!(
        stderr.contains("line 5: invalid post") && stderr.contains("created_at"),
        "{stderr}"
    );
    let schema = Schema::load("window_count");
    for line in counts.lines() {
        schema.assert_valid(&serde_json::from_str(line).unwrap());
    }
}

#[test]
fn dash_means_stdin_and_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = viral()
        .args(["replay", "--config"])
        .arg(config_file(&dir))
        .args(["--input", "-", "--output", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(POSTS.as_bytes()).unwrap();
    // Bytes that are not UTF-8 are an invalid line too, not a crash.
    stdin.write_all(b"\xff\xfe{\n").unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "{stderr}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().collect::<Vec<_>>(), EXPECTED);
    assert_eq!(summary(&stderr)["invalid"], 3);
    assert!(stderr.contains("line 10:"), "{stderr}");
}

#[test]
fn a_bad_config_fails_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.toml");
    std::fs::write(
        &p,
        CONFIG.replace("size = \"30m\"", "size = \"30m\"\nhop = \"7m\""),
    )
    .unwrap();
    let out = viral()
        .args(["replay", "--config"])
        .arg(&p)
        .args(["--input", "-", "--output", "-"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("window"), "{stderr}");
}

#[test]
fn the_environment_overrides_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = viral()
        .args(["replay", "--config"])
        .arg(config_file(&dir))
        .args(["--input", "-", "--output", "-"])
        .env("VIRAL__WINDOW__SIZE", "1h")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(POSTS.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let first: Value = serde_json::from_str(stdout.lines().next().unwrap()).unwrap();
    assert_eq!(first["window_end"], "2020-09-25T19:00:00Z");
}
