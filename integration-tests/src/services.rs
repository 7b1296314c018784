//! viral's service binaries as real processes, for tests that kill, restart and stop
//! them the way an orchestrator would.
//!
//! Binaries are taken from the same target directory as the running test (`cargo test
//! --workspace` builds them); a missing one is a loud failure, not a skip.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Path of binary `name` built alongside the running test.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    // target/<profile>/deps/<test> → target/<profile>/<name>
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binaries live in target/<profile>/deps");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace` (or `cargo test --workspace`, which builds it)",
        path.display()
    );
    path
}

/// What a second listener of a service (the HTTP ingest) is given: port 0 as well.
pub const ANOTHER_ANY_PORT: &str = "127.0.0.1:0";

/// How long a service may take to report an address it listens on.
const REPORT_PATIENCE: Duration = Duration::from_secs(120);

/// A running service; killed when dropped.
///
/// Its listeners bind port 0 and the service logs the address it got, so no port is
/// chosen ahead of a bind another process could win. Its standard error is read line by
/// line: copied to the log file and kept for [`Service::reported`].
pub struct Service {
    pub name: String,
    /// `host:port` of the ops server (`/readyz`, `/metrics`, the query API).
    pub ops: String,
    child: Child,
    log: PathBuf,
    lines: Mutex<Receiver<String>>,
    copier: Option<JoinHandle<()>>,
}

impl Service {
    /// Start binary `name` with `config` and extra environment, logging to
    /// `<log_dir>/<label>.log` (appended across restarts); returns once it has reported
    /// its ops address.
    pub fn start(
        name: &str,
        label: &str,
        config: &Path,
        env: &[(&str, &str)],
        log_dir: &Path,
    ) -> Self {
        let log = log_dir.join(format!("{label}.log"));
        let out = File::options()
            .create(true)
            .append(true)
            .open(&log)
            .expect("a log file");
        let mut copy = out.try_clone().expect("a log file");
        let mut child = Command::new(binary(name))
            .arg("--config")
            .arg(config)
            .env("VIRAL__HTTP__LISTEN", "127.0.0.1:0")
            // Plain text: the log is read, by people and by `reported`.
            .env("NO_COLOR", "1")
            .envs(env.iter().copied())
            .stdout(Stdio::from(out))
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let stderr = child.stderr.take().expect("a piped stderr");
        let (tx, lines) = mpsc::channel();
        let copier = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = writeln!(copy, "{line}");
                // The receiver may be gone (the test only waits for some lines).
                let _ = tx.send(line);
            }
        });
        let mut service = Self {
            name: label.to_owned(),
            ops: String::new(),
            child,
            log,
            lines: Mutex::new(lines),
            copier: Some(copier),
        };
        service.ops = service.reported("ops");
        service
    }

    /// The address the next log line with field `key` reports (`key=http://host:port`,
    /// `key=Some(host:port)` or its JSON form), as `host:port`. Fails if the service
    /// exits or says nothing of it in time.
    pub fn reported(&self, key: &str) -> String {
        let deadline = Instant::now() + REPORT_PATIENCE;
        let lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(addr) = address_in(&line, key) {
                        return addr;
                    }
                }
                Err(e) => panic!(
                    "{}: no `{key}` address reported ({e}):\n{}",
                    self.name,
                    self.log_tail()
                ),
            }
        }
    }

    /// SIGKILL: no chance to flush or commit anything.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.logged();
    }

    /// SIGTERM, then wait for the exit.
    pub fn terminate(&mut self) -> ExitStatus {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let status = self.child.wait().expect("the service exits");
        self.logged();
        status
    }

    /// Wait for the process to exit by itself.
    pub fn wait(&mut self) -> ExitStatus {
        let status = self.child.wait().expect("the service exits");
        self.logged();
        status
    }

    /// After the exit: the log file holds everything the service wrote.
    fn logged(&mut self) {
        if let Some(copier) = self.copier.take() {
            let _ = copier.join();
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The end of the service's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// The `host:port` that field `key` of log line `line` reports, if any.
fn address_in(line: &str, key: &str) -> Option<String> {
    let (text, json) = (format!("{key}="), format!("\"{key}\":\""));
    let (_, rest) = line
        .split_once(text.as_str())
        .or_else(|| line.split_once(json.as_str()))?;
    let rest = rest
        .trim_start_matches("http://")
        .trim_start_matches("Some(");
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || ".:[]".contains(c)))
        .unwrap_or(rest.len());
    rest[..end]
        .parse::<std::net::SocketAddr>()
        .ok()
        .map(|a| a.to_string())
}

#[cfg(test)]
mod tests {
    use super::address_in;

    #[test]
    fn addresses_are_read_from_text_and_json_log_lines() {
        let text = "2026-01-01T00:00:00Z  INFO viral_pipeline::service: started service=\"viral-aggregator\" ops=http://127.0.0.1:41234";
        assert_eq!(address_in(text, "ops").as_deref(), Some("127.0.0.1:41234"));
        let ingest = "INFO http ingest source started listen=Some(127.0.0.1:5000) path=\"/ingest\"";
        assert_eq!(
            address_in(ingest, "listen").as_deref(),
            Some("127.0.0.1:5000")
        );
        let json = r#"{"message":"started","ops":"http://[::1]:8080"}"#;
        assert_eq!(address_in(json, "ops").as_deref(), Some("[::1]:8080"));
        assert_eq!(address_in("listen=None", "listen"), None);
        assert_eq!(address_in(text, "listen"), None);
    }
}
