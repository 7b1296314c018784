//! A measured process: viral's aggregator, the Kafka Streams peer or the bare consumer,
//! each run as its own OS process so CPU time and peak RSS are the kernel's figures for
//! exactly that engine (`/proc/<pid>/stat`, `VmHWM`), read just before it is killed.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};

/// What one engine did with one dataset.
#[derive(Debug, Clone)]
pub struct Measured {
    pub records: u64,
    /// From the first record handled to the last: the sustained rate's denominator.
    pub steady_s: f64,
    /// From process start to the last record (start-up, group join, restore included).
    pub wall_s: f64,
    pub cpu_s: f64,
    pub peak_rss_mib: f64,
}

impl Measured {
    pub fn rate(&self) -> f64 {
        self.records as f64 / self.steady_s.max(1e-9)
    }
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// How the harness learns that an engine has handled every record.
pub enum Progress {
    /// The process prints `{"event":"first"|"done","at_ms":…}` lines on stdout.
    Events,
    /// viral's `/metrics`: `viral_bus_messages_in_total{stage="aggregator"}` reaching the
    /// expected count (polled every 20 ms).
    Metrics { url: String },
}

pub struct Proc {
    child: Child,
    started_ms: i64,
}

impl Proc {
    pub fn spawn(mut cmd: Command, log: &std::path::Path) -> Result<Self> {
        let err = std::fs::File::create(log).context("a log file")?;
        cmd.stdout(Stdio::piped()).stderr(Stdio::from(err));
        let started_ms = now_ms();
        let child = cmd.spawn().with_context(|| format!("starting {cmd:?}"))?;
        Ok(Self { child, started_ms })
    }

    fn stat(&self) -> (f64, f64) {
        let pid = self.child.id();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let after = stat.rsplit_once(')').map(|(_, s)| s).unwrap_or("");
        let f: Vec<&str> = after.split_whitespace().collect();
        // utime + stime, in clock ticks (100 Hz).
        let ticks: f64 = f.get(11).and_then(|u| u.parse().ok()).unwrap_or(0.0)
            + f.get(12).and_then(|s| s.parse().ok()).unwrap_or(0.0);
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let hwm_kib: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0.0);
        (ticks / 100.0, hwm_kib / 1024.0)
    }

    /// Wait until the engine has handled `expect` records (failing after `patience`),
    /// then measure and kill it.
    pub fn measure(
        mut self,
        progress: Progress,
        expect: u64,
        patience: Duration,
    ) -> Result<Measured> {
        let deadline = Instant::now() + patience;
        let (first, done) = match progress {
            Progress::Events => {
                let out = self.child.stdout.take().context("stdout")?;
                let (tx, rx) = mpsc::channel();
                std::thread::spawn(move || {
                    for line in BufReader::new(out).lines().map_while(Result::ok) {
                        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                            let _ = tx.send(v);
                        }
                    }
                });
                let (mut first, mut done) = (None, None);
                while done.is_none() {
                    let left = deadline.saturating_duration_since(Instant::now());
                    let Ok(v) = rx.recv_timeout(left) else {
                        self.kill();
                        bail!("no progress report before the deadline (first: {first:?})");
                    };
                    let at = v["at_ms"].as_i64().unwrap_or(0);
                    match v["event"].as_str() {
                        Some("first") => first = Some(at),
                        Some("done") => done = Some(at),
                        _ => {}
                    }
                }
                (first.unwrap_or(self.started_ms), done.unwrap_or(0))
            }
            Progress::Metrics { url } => {
                let mut first = None;
                loop {
                    if Instant::now() > deadline {
                        self.kill();
                        bail!("{url}: not done before the deadline");
                    }
                    let n = messages_in(&url);
                    if n > 0 && first.is_none() {
                        first = Some(now_ms());
                    }
                    if n >= expect {
                        break (first.unwrap_or(self.started_ms), now_ms());
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        };
        let (cpu_s, peak_rss_mib) = self.stat();
        self.kill();
        Ok(Measured {
            records: expect,
            steady_s: (done - first) as f64 / 1000.0,
            wall_s: (done - self.started_ms) as f64 / 1000.0,
            cpu_s,
            peak_rss_mib,
        })
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The aggregator's consumed-message counter from its `/metrics` at `addr` (0 while it is
/// not up yet). Plain HTTP/1.0 over a socket: one tiny request, no client needed.
fn messages_in(addr: &str) -> u64 {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        return 0;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    if s.write_all(b"GET /metrics HTTP/1.0\r\nHost: bench\r\n\r\n")
        .is_err()
    {
        return 0;
    }
    let mut body = String::new();
    let _ = s.read_to_string(&mut body);
    body.lines()
        .find_map(|l| l.strip_prefix("viral_bus_messages_in_total{stage=\"aggregator\"} "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}
