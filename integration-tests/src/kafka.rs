//! The real Kafka broker tests talk to: `VIRAL_TEST_KAFKA` if set (`.ci/run` sets it),
//! otherwise one started on demand by `integration-tests/kafka.sh ensure` and shared by
//! every test of the run.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// Bootstrap servers of the test broker. Panics with the script's output if no broker
/// can be had: a Kafka test must not pass without Kafka.
pub fn bootstrap() -> String {
    static BOOTSTRAP: OnceLock<String> = OnceLock::new();
    BOOTSTRAP
        .get_or_init(|| {
            if let Ok(b) = std::env::var("VIRAL_TEST_KAFKA") {
                return b;
            }
            let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("kafka.sh");
            let out = Command::new("bash")
                .arg(&script)
                .arg("ensure")
                .output()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "{} ensure failed:\n{stdout}\n{}",
                script.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            stdout
                .lines()
                .find_map(|l| l.strip_prefix("KAFKA_BOOTSTRAP="))
                .map(str::to_owned)
                .unwrap_or_else(|| panic!("kafka.sh printed no KAFKA_BOOTSTRAP:\n{stdout}"))
        })
        .clone()
}
