//! `viral replay` as a user runs it: the pinned flags, `-` for stdin/stdout, the summary
//! line, and bad lines that are reported and skipped, never fatal.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;
use viral_integration_tests::config::TestConfig;
use viral_integration_tests::schema::Schema;

/// Worked by hand from the windowing rules (docs/ARCHITECTURE.md); see the comments for what each line does.
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
    TestConfig::demo().write_in(dir.path())
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
    std::fs::write(&p, TestConfig::demo().hop("7m").toml()).unwrap();
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

/// Run `viral replay` with at most `limit_mib` of address space (the shell's `ulimit -v`),
/// reading `posts` and streaming its output through a pipe: returns (number of count
/// lines, the first and last of them, stderr).
fn replay_within(
    limit_mib: u64,
    env: &[(&str, &str)],
    posts: &str,
) -> (usize, Value, Value, String) {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("posts.jsonl");
    std::fs::write(&input, posts).unwrap();
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!(
            r#"ulimit -v {} && exec "$0" replay --config "$1" --input "$2" --output -"#,
            limit_mib * 1024
        ))
        .arg(env!("CARGO_BIN_EXE_viral"))
        .arg(config_file(&dir))
        .arg(&input)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let (mut n, mut first, mut last) = (0, String::new(), String::new());
    for line in std::io::BufRead::lines(stdout) {
        last = line.unwrap();
        if n == 0 {
            first.clone_from(&last);
        }
        n += 1;
    }
    let parse = |l: &str| serde_json::from_str(l).unwrap_or(Value::Null);
    let (first, last) = (parse(&first), parse(&last));
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{:?}\n{stderr}", out.status);
    (n, first, last, stderr)
}

#[test]
fn a_post_dated_9999_is_invalid_and_year_one_costs_only_its_windows() {
    let posts = concat!(
        r#"{"id":"p1","source":"x","text":"ocean spray","created_at":"0001-01-01T00:00:00Z"}"#,
        "\n",
        // More than a day after the clock: invalid, as the services would find it.
        r#"{"id":"p2","source":"x","text":"ocean spray","created_at":"9999-12-31T23:59:59Z"}"#,
        "\n",
        r#"{"id":"p3","source":"x","text":"ocean spray","created_at":"0001-01-02T00:00:00Z"}"#,
        "\n",
    );
    let (n, first, last, stderr) = replay_within(1024, &[], posts);
    assert_eq!(
        summary(&stderr),
        serde_json::json!({"posts":2,"mentions":2,"duplicates":0,"late":0,"invalid":1,"windows":49})
    );
    assert!(
        stderr.contains("line 2: invalid post") && stderr.contains("more than a day after"),
        "{stderr}"
    );
    assert_eq!(n, 49, "a day of 30-minute windows, both ends included");
    assert_eq!(first["window_start"], "0001-01-01T00:00:00Z");
    assert_eq!(first["count"], 1);
    assert_eq!(last["window_start"], "0001-01-02T00:00:00Z");
    assert_eq!(last["count"], 1);
}

#[test]
fn millions_of_windows_closed_by_one_line_stream_out_in_bounded_memory() {
    // Two million one-second windows between two posts: gathered in memory they would
    // take some 200 MiB; streamed, the process needs a fixed ~60 MiB of address space.
    let posts = concat!(
        r#"{"id":"p1","source":"x","text":"ocean spray","created_at":"2020-01-01T00:00:00Z"}"#,
        "\n",
        r#"{"id":"p2","source":"x","text":"ocean spray","created_at":"2020-01-24T03:33:20Z"}"#,
        "\n",
    );
    let (n, first, last, stderr) = replay_within(
        96,
        &[
            ("VIRAL__WINDOW__SIZE", "1s"),
            ("VIRAL__WINDOW__LATENESS", "0s"),
        ],
        posts,
    );
    assert_eq!(n, 2_000_001);
    assert_eq!(
        summary(&stderr),
        serde_json::json!({"posts":2,"mentions":2,"duplicates":0,"late":0,"invalid":0,"windows":2_000_001})
    );
    assert_eq!(first["window_start"], "2020-01-01T00:00:00Z");
    assert_eq!(first["count"], 1);
    assert_eq!(last["window_start"], "2020-01-24T03:33:20Z");
    assert_eq!(last["count"], 1);
}

#[test]
fn a_backdated_post_seen_later_does_not_reopen_the_past() {
    // The first post says it was written in 2019 but was seen in 2020: it is late (seen
    // more than window.max_delay after it was written) and opens no windows back to 2019.
    let posts = concat!(
        r#"{"id":"p1","source":"x","text":"ocean spray","created_at":"2019-01-01T00:00:00Z","observed_at":"2020-09-25T18:00:00Z"}"#,
        "\n",
        r#"{"id":"p2","source":"x","text":"ocean spray","created_at":"2020-09-25T18:01:00Z","observed_at":"2020-09-25T18:01:01Z"}"#,
        "\n",
    );
    let (n, first, _, stderr) = replay_within(1024, &[], posts);
    assert_eq!(
        summary(&stderr),
        serde_json::json!({"posts":2,"mentions":2,"duplicates":0,"late":1,"invalid":0,"windows":1})
    );
    assert_eq!(n, 1);
    assert_eq!(first["window_start"], "2020-09-25T18:00:00Z");
    assert_eq!(first["count"], 1);
}
