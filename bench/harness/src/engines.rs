//! The engines under test, each started as a process on a pre-filled topic: viral's
//! aggregator (the real `viral-aggregator` binary), the Kafka Streams peer
//! (bench/peers/kafka-streams) and the bare consumer (this binary's `drain`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::Result;

use crate::probe::{now_ms, Measured, Proc, Progress};

/// Where everything the engines need lives.
pub struct Setup {
    pub brokers: String,
    /// Directory of the release binaries (`viral-aggregator`, `viral-alerter`, this one).
    pub bin: PathBuf,
    /// The built Kafka Streams peer (its `target/` holds `classes` and `deps`).
    pub peer: PathBuf,
    pub partitions: i32,
    /// `-Xmx` of the Streams peer's JVM.
    pub heap: String,
    /// Scratch space for configs, databases and logs.
    pub work: PathBuf,
    pub patience: Duration,
}

/// Windows of a run: size and hop (equal for tumbling), lateness / grace.
#[derive(Clone, Copy)]
pub struct Windows {
    pub size: Duration,
    pub hop: Duration,
    pub lateness: Duration,
}

impl Windows {
    pub fn label(&self) -> String {
        let f = |d: Duration| humanize(d);
        if self.size == self.hop {
            format!("tumbling {}", f(self.size))
        } else {
            format!("hopping {}/{}", f(self.size), f(self.hop))
        }
    }
}

fn humanize(d: Duration) -> String {
    let s = d.as_secs();
    if s.is_multiple_of(60) {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

/// A viral config for one run: its own groups, counts and dead-letter topics, SQLite
/// file and ops port. `extra` is appended (detectors, notifiers).
pub fn viral_config(
    s: &Setup,
    run: &str,
    mentions: &str,
    w: Windows,
    port: u16,
    extra: &str,
) -> Result<PathBuf> {
    let dir = s.work.join(run);
    std::fs::create_dir_all(&dir)?;
    let prefix = format!("bench.{run}.{}", now_ms());
    let ms = |d: Duration| format!("{}ms", d.as_millis());
    let text = format!(
        r#"[[topics]]
name = "topic-00000"
terms = ["topic-00000"]

[window]
size = "{size}"
hop = "{hop}"
lateness = "{late}"

[bus]
kind = "kafka"
group_prefix = "{prefix}"

[bus.kafka]
brokers = "{brokers}"
partitions = {partitions}

[bus.topics]
mentions = "{mentions}"
counts = "{prefix}.counts"
deadletter = "{prefix}.deadletter"

[store.sqlite]
path = "{db}"

[http]
listen = "127.0.0.1:{port}"

[log]
level = "warn"
{extra}
"#,
        size = ms(w.size),
        hop = ms(w.hop),
        late = ms(w.lateness),
        brokers = s.brokers,
        partitions = s.partitions,
        db = dir.join("viral.db").display(),
    );
    let path = dir.join("viral.toml");
    std::fs::write(&path, text)?;
    Ok(path)
}

/// The counts topic a config made by [`viral_config`] writes to.
pub fn counts_topic(config: &Path) -> Result<String> {
    let text = std::fs::read_to_string(config)?;
    let line = text
        .lines()
        .find(|l| l.starts_with("counts = "))
        .unwrap_or("counts = \"\"");
    Ok(line
        .trim_start_matches("counts = ")
        .trim_matches('"')
        .to_owned())
}

pub fn viral(s: &Setup, run: &str, mentions: &str, n: u64, w: Windows) -> Result<Measured> {
    let port = free_port();
    let config = viral_config(s, run, mentions, w, port, "")?;
    let mut cmd = Command::new(s.bin.join("viral-aggregator"));
    cmd.arg("--config").arg(&config);
    let p = Proc::spawn(cmd, &s.work.join(run).join("aggregator.log"))?;
    let url = format!("127.0.0.1:{port}");
    p.measure(Progress::Metrics { url }, n, s.patience)
}

pub async fn streams(s: &Setup, run: &str, mentions: &str, n: u64, w: Windows) -> Result<Measured> {
    let dir = s.work.join(run);
    std::fs::create_dir_all(&dir)?;
    let app = format!("bench-{run}-{}", now_ms());
    let out = format!("{app}.out");
    crate::data::create_topic(&s.brokers, &out, s.partitions).await?;
    let target = s.peer.join("target");
    let cp = format!(
        "{}:{}/*",
        target.join("classes").display(),
        target.join("deps").display()
    );
    let mut cmd = Command::new("java");
    cmd.arg(format!("-Xmx{}", s.heap))
        .arg("-cp")
        .arg(cp)
        .arg("dev.viral.bench.StreamsCount")
        .arg(&s.brokers)
        .arg(mentions)
        .arg(&out)
        .arg(&app)
        .arg(w.size.as_millis().to_string())
        .arg(w.hop.as_millis().to_string())
        .arg(w.lateness.as_millis().to_string())
        .arg(n.to_string())
        .arg(s.partitions.to_string());
    let p = Proc::spawn(cmd, &dir.join("streams.log"))?;
    p.measure(Progress::Events, n, s.patience)
}

pub fn bare(s: &Setup, run: &str, mentions: &str, n: u64) -> Result<Measured> {
    let dir = s.work.join(run);
    std::fs::create_dir_all(&dir)?;
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.args(["drain", "--brokers", &s.brokers, "--topic", mentions])
        .args(["--expect", &n.to_string()]);
    let p = Proc::spawn(cmd, &dir.join("drain.log"))?;
    p.measure(Progress::Events, n, s.patience)
}
