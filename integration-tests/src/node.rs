//! A test server run by one of the scripts next to this crate (`kafka.sh`,
//! `cassandra.sh`): the shared one a whole test run uses, or one of a test's own that it
//! can stop and resume. The scripts are also what `.ci/run` and developers use, so tests
//! start servers exactly the way people do.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Which script, the variable naming its state directory, and the `KEY=` line of the
/// address it writes to `$STATE/env`.
#[derive(Debug, Clone, Copy)]
pub struct Script {
    pub file: &'static str,
    pub state_var: &'static str,
    pub address_key: &'static str,
}

impl Script {
    fn path(&self) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(self.file)
    }

    /// Run `command`, with the state in `state` if given; panics with the script's
    /// output on failure: a test of a real server must not pass without one.
    pub fn run(&self, command: &str, state: Option<&Path>) -> String {
        let mut cmd = Command::new("bash");
        cmd.arg(self.path()).arg(command);
        if let Some(state) = state {
            cmd.env(self.state_var, state);
        }
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.file));
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{} {command} failed:\n{stdout}\n{}",
            self.file,
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }

    /// The address of the shared server: `$override_var` if set, else the script's
    /// `ensure` (start unless running).
    pub fn shared(&self, override_var: &str) -> String {
        if let Ok(a) = std::env::var(override_var) {
            return a;
        }
        let out = self.run("ensure", None);
        self.address(&out)
            .unwrap_or_else(|| panic!("{} printed no {}:\n{out}", self.file, self.address_key))
    }

    /// The `KEY=host:port` line's address, wherever the key starts on its line: a first
    /// Maven fetch once wrote terminal resets (`\e[0m`) in front of it.
    fn address(&self, text: &str) -> Option<String> {
        let prefix = format!("{}=", self.address_key);
        text.lines()
            .find_map(|l| l.find(&prefix).map(|at| &l[at + prefix.len()..]))
            .map(|a| a.trim().to_owned())
    }
}

/// A server of the test's own, in a new state directory; stopped when dropped.
pub struct OwnNode {
    script: Script,
    state: tempfile::TempDir,
    pub address: String,
}

impl OwnNode {
    /// Start one with its state in a new directory under `parent`.
    pub fn start(script: Script, parent: &Path) -> Self {
        let state = tempfile::Builder::new()
            .prefix(script.file.trim_end_matches(".sh"))
            .tempdir_in(parent)
            .expect("a state directory");
        script.run("start", Some(state.path()));
        let env = std::fs::read_to_string(state.path().join("env")).unwrap_or_default();
        let address = script
            .address(&env)
            .unwrap_or_else(|| panic!("{} wrote no {}", script.file, script.address_key));
        Self {
            script,
            state,
            address,
        }
    }

    /// Stop the server (SIGTERM, as an orchestrator would), keeping its data and port.
    pub fn stop(&self) {
        self.script.run("stop", Some(self.state.path()));
    }

    /// Start it again on the same data and port.
    pub fn resume(&self) {
        self.script.run("resume", Some(self.state.path()));
    }
}

impl Drop for OwnNode {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(self.script.path())
            .arg("stop")
            .env(self.script.state_var, self.state.path())
            .output();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_address_is_found_behind_terminal_escapes() {
        let out = "cassandra.sh: fetching\n\u{1b}[0m\u{1b}[0mCASSANDRA_CONTACT=127.0.0.1:9042\n";
        assert_eq!(
            crate::cassandra::CASSANDRA.address(out).as_deref(),
            Some("127.0.0.1:9042")
        );
    }
}
