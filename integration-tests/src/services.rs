//! viral's service binaries as real processes, for tests that kill, restart and stop
//! them the way an orchestrator would.
//!
//! Binaries are taken from the same target directory as the running test (`cargo test
//! --workspace` builds them); a missing one is a loud failure, not a skip.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};

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

/// A free TCP port on 127.0.0.1 (for a service's ops server).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A running service; killed when dropped.
pub struct Service {
    pub name: String,
    pub ops: String,
    child: Child,
    log: PathBuf,
}

impl Service {
    /// Start binary `name` with `config` and extra environment, logging to
    /// `<log_dir>/<label>.log` (appended across restarts).
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
        let err = out.try_clone().expect("a log file");
        let port = free_port();
        let ops = format!("127.0.0.1:{port}");
        let child = Command::new(binary(name))
            .arg("--config")
            .arg(config)
            .env("VIRAL__HTTP__LISTEN", &ops)
            .envs(env.iter().copied())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Self {
            name: label.to_owned(),
            ops,
            child,
            log,
        }
    }

    /// SIGKILL: no chance to flush or commit anything.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then wait for the exit.
    pub fn terminate(&mut self) -> ExitStatus {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        self.child.wait().expect("the service exits")
    }

    /// Wait for the process to exit by itself.
    pub fn wait(&mut self) -> ExitStatus {
        self.child.wait().expect("the service exits")
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
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
