//! Start-up checks every service binary shares: its configuration is validated before
//! anything runs (so deployments can check their files), and it refuses the in-memory
//! bus, saying why. Each service package runs these against its own binary — which is
//! also what makes `cargo test --workspace` build that binary for the end-to-end tests.

use std::path::Path;
use std::process::Command;

use crate::config::TestConfig;

fn run(bin: &str, config: &str) -> (bool, String) {
    run_with(bin, config, |path| vec!["--config".into(), path.into()])
}

/// Run `bin` on `config`, written to a file, with the arguments `args` makes of its path.
fn run_with(
    bin: &str,
    config: &str,
    args: impl Fn(&Path) -> Vec<std::ffi::OsString>,
) -> (bool, String) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("viral.toml");
    std::fs::write(&path, config).expect("a config file");
    let out = Command::new(Path::new(bin))
        .args(args(&path))
        .env("VIRAL__HTTP__LISTEN", "127.0.0.1:0")
        .output()
        .expect("the binary runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A valid config: one topic, one-minute windows.
fn good() -> TestConfig {
    TestConfig::empty().topic("a", &["a"]).window("1m")
}

/// A valid config on the default (memory) bus: refused, naming `bus.kind` and pointing
/// to `viral standalone`.
pub fn refuses_the_memory_bus(bin: &str) {
    let (ok, stderr) = run(bin, &good().toml());
    assert!(!ok);
    assert!(
        stderr.contains("bus.kind") && stderr.contains("viral standalone"),
        "{stderr}"
    );
}

/// `--config=FILE` is read as `--config FILE` is (the config reaches validation).
pub fn takes_config_with_an_equals_sign(bin: &str) {
    let (ok, stderr) = run_with(bin, &good().toml(), |path| {
        let mut arg = std::ffi::OsString::from("--config=");
        arg.push(path);
        vec![arg]
    });
    assert!(!ok);
    assert!(stderr.contains("bus.kind"), "{stderr}");
}

/// `--help` describes the service and its flag, and succeeds.
pub fn helps(bin: &str) {
    let out = Command::new(Path::new(bin))
        .arg("--help")
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("--config") && stdout.contains("VIRAL_CONFIG"),
        "{stdout}"
    );
}

/// An invalid value fails naming its key.
pub fn names_an_invalid_key(bin: &str) {
    let (ok, stderr) = run(bin, &good().window("-1m").toml());
    assert!(!ok);
    assert!(stderr.contains("window.size"), "{stderr}");
}

/// Kafka chosen without its brokers: fails naming `bus.kafka.brokers`.
pub fn names_missing_brokers(bin: &str) {
    let (ok, stderr) = run(bin, &good().with("[bus]\nkind = \"kafka\"").toml());
    assert!(!ok);
    assert!(stderr.contains("bus.kafka.brokers"), "{stderr}");
}

/// No config at all: a usage error.
pub fn usage_without_config(bin: &str) {
    let out = Command::new(Path::new(bin))
        .env_remove("VIRAL_CONFIG")
        .output()
        .expect("the binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.to_lowercase().contains("usage") && stderr.contains("--config"),
        "{stderr}"
    );
}

/// The checks as `#[test]`s against binary `$bin` of the calling package:
/// `viral_integration_tests::start_up_tests!("viral-aggregator");`
#[macro_export]
macro_rules! start_up_tests {
    ($bin:literal) => {
        const BIN: &str = env!(concat!("CARGO_BIN_EXE_", $bin));

        #[test]
        fn the_memory_bus_is_refused_with_the_reason() {
            $crate::start_up::refuses_the_memory_bus(BIN);
        }

        #[test]
        fn an_invalid_config_names_the_key() {
            $crate::start_up::names_an_invalid_key(BIN);
        }

        #[test]
        fn kafka_without_brokers_names_the_key() {
            $crate::start_up::names_missing_brokers(BIN);
        }

        #[test]
        fn config_with_an_equals_sign_is_read() {
            $crate::start_up::takes_config_with_an_equals_sign(BIN);
        }

        #[test]
        fn help_names_the_config_flag() {
            $crate::start_up::helps(BIN);
        }

        #[test]
        fn no_config_is_a_usage_error() {
            $crate::start_up::usage_without_config(BIN);
        }
    };
}
