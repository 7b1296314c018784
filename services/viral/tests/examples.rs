//! Every config in examples/ passes `viral check` as it is (given the secrets its header
//! says to export), and one whose secret is missing fails naming the key.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// What the examples' headers say to export.
const SECRETS: &[&str] = &[
    "MASTODON_TOKEN",
    "X_BEARER_TOKEN",
    "VIRAL_INGEST_TOKEN",
    "SMTP_USERNAME",
    "SMTP_PASSWORD",
];

fn examples() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
}

fn check(config: &Path, secrets: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_viral"));
    cmd.args(["check", "--config"]).arg(config);
    for var in SECRETS {
        cmd.env_remove(var);
    }
    for var in secrets {
        cmd.env(var, "example-secret");
    }
    // Run where a relative SQLite path or cursor file cannot land in the repository.
    let dir = tempfile::tempdir().expect("a temp dir");
    cmd.current_dir(dir.path()).output().expect("viral runs")
}

#[test]
fn every_example_passes_viral_check() {
    let files = examples();
    assert!(files.len() >= 6, "{files:?}");
    for file in files {
        let out = check(&file, SECRETS);
        assert!(
            out.status.success(),
            "{}: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains(": ok"), "{stdout}");
        assert!(
            !stdout.contains("example-secret"),
            "a secret was printed: {stdout}"
        );
    }
}

#[test]
fn an_example_without_its_secret_fails_naming_the_key() {
    let brand = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/brand.toml");
    let out = check(&brand, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("sources.mastodon.token_env"), "{stderr}");
}
