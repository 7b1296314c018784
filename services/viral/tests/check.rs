//! `viral check`: a good config is accounted for without its secrets; a bad one fails
//! with start-up's own error, naming the key.

use std::process::{Command, Output};

use viral_integration_tests::config::{quoted, TestConfig};

fn check(config: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_viral"))
        .args(["check", "--config"])
        .arg(config)
        .output()
        .expect("viral runs")
}

#[test]
fn a_good_config_is_accounted_for_and_its_secrets_are_not_printed() {
    let dir = tempfile::tempdir().unwrap();
    let hook = "https://hooks.example.com/services/T000/B000/sekrit-path-token";
    let config = TestConfig::demo()
        .hop("10m")
        .detector("adaptive")
        .threshold(2000)
        .sqlite(&dir.path().join("viral.db"))
        .with(&format!("[notifiers.webhook]\nurl = {}", quoted(hook)))
        .write_in(dir.path());
    let out = check(&config);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        ": ok",
        "topics: 2: ocean-spray [ocean spray, oceanspray]; cranberry [cranberry]",
        "windows: 30m hopping every 10m",
        "detectors: adaptive, threshold",
        "sources: synthetic",
        "store: sqlite at",
        "notifiers: stdout, webhook",
    ] {
        assert!(stdout.contains(line), "{line:?} missing from:\n{stdout}");
    }
    assert!(
        !stdout.contains("sekrit"),
        "the webhook URL was printed:\n{stdout}"
    );
}

#[test]
fn a_bad_config_fails_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = TestConfig::demo()
        .with("[[detectors]]\nkind = \"adaptive\"\nsensitivity = \"extreme\"")
        .write_in(dir.path());
    let out = check(&config);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    assert!(stderr.contains("detectors[0].sensitivity"), "{stderr}");
}

#[test]
fn a_source_whose_token_is_not_in_the_environment_fails_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = TestConfig::demo()
        .with(
            "[sources.mastodon]\ninstance = \"https://mastodon.example\"\n\
             token_env = \"VIRAL_CHECK_TEST_TOKEN_NOBODY_SETS\"\nhashtags = [\"spray\"]",
        )
        .write_in(dir.path());
    let out = check(&config);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(stderr.contains("sources.mastodon.token_env"), "{stderr}");
}

#[test]
fn completions_name_every_subcommand() {
    for shell in ["bash", "zsh", "fish"] {
        let out = Command::new(env!("CARGO_BIN_EXE_viral"))
            .args(["completions", shell])
            .output()
            .expect("viral runs");
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{shell}");
        for sub in ["standalone", "replay", "check", "test-alert", "counts"] {
            assert!(script.contains(sub), "{shell}: {sub} missing");
        }
    }
}
