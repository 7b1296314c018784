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

/// A broker of the test's own, for tests that stop it: `kafka.sh` on a separate state
/// directory. Stopped (and its state removed) when dropped.
pub struct OwnBroker {
    state: tempfile::TempDir,
    pub bootstrap: String,
}

impl OwnBroker {
    /// Start one with its state in a new directory under `parent`.
    pub fn start(parent: &std::path::Path) -> Self {
        let state = tempfile::Builder::new()
            .prefix("kafka-")
            .tempdir_in(parent)
            .expect("a state directory");
        Self::script(state.path(), "start");
        let bootstrap = std::fs::read_to_string(state.path().join("env"))
            .ok()
            .and_then(|e| e.trim().strip_prefix("KAFKA_BOOTSTRAP=").map(str::to_owned))
            .expect("kafka.sh wrote the bootstrap address");
        Self { state, bootstrap }
    }

    /// Stop the broker (SIGTERM, as an orchestrator would), keeping its data and port.
    pub fn stop(&self) {
        Self::script(self.state.path(), "stop");
    }

    /// Start it again on the same data and port.
    pub fn resume(&self) {
        Self::script(self.state.path(), "resume");
    }

    fn script(state: &std::path::Path, command: &str) -> String {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("kafka.sh");
        let out = Command::new("bash")
            .arg(&script)
            .arg(command)
            .env("VIRAL_KAFKA_STATE", state)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        assert!(
            out.status.success(),
            "kafka.sh {command} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for OwnBroker {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("kafka.sh"))
            .arg("stop")
            .env("VIRAL_KAFKA_STATE", self.state.path())
            .output();
    }
}
