//! Flags of every subcommand (`replay`, `standalone`, `counts` and `backtest` are a
//! contract: docs/ARCHITECTURE.md and the README; `check`, `test-alert`, `migrate`,
//! `generate` and `completions` are ours).

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "viral",
    version,
    about = "Am I going viral? Count mentions in time windows, alert when abnormal."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the whole pipeline in one process: synthetic (or file) source, in-memory bus,
    /// SQLite store, alerts on stdout and webhook. With no --config, a built-in demo.
    Standalone {
        #[arg(long, env = "VIRAL_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Apply matching and windowing to a JSONL file of posts; write one WindowCount per line.
    Replay {
        #[arg(long, env = "VIRAL_CONFIG")]
        config: PathBuf,
        /// Posts, one JSON object per line; `-` for stdin.
        #[arg(long)]
        input: String,
        /// Window counts, one JSON object per line; `-` for stdout.
        #[arg(long)]
        output: String,
    },
    /// Run the configured detectors over recorded window counts (JSONL) and write the
    /// alerts they would have sent, `firing` and `resolved`, one JSON object per line.
    /// With --labels, score them against labelled periods instead: a table, then one
    /// JSON line.
    Backtest {
        #[arg(long, env = "VIRAL_CONFIG")]
        config: PathBuf,
        /// Window counts, one JSON object per line (`viral replay` output, `viral
        /// counts` output, the counts topic); `-` for stdin.
        #[arg(long)]
        counts: String,
        /// Where to write the alerts; stdout when absent or `-` (with --labels: only
        /// when given).
        #[arg(long)]
        output: Option<String>,
        /// Labelled periods, JSON: {"topic": [["start", "end"], …], …} (NAB's
        /// windows.json shape); prints recall, false incidents per topic per 30 days,
        /// pages per detected event and median delay.
        #[arg(long)]
        labels: Option<PathBuf>,
        /// With --labels: leave out alerts and periods this long after each topic's
        /// first window (humantime, e.g. `3d`), while detectors learn.
        #[arg(long, default_value = "0s", requires = "labels")]
        probation: String,
    },
    /// Check a config as start-up would (validation, every stage's settings, detectors,
    /// notifiers) without connecting to anything; print what would run, or the error
    /// naming the key.
    Check {
        #[arg(long, env = "VIRAL_CONFIG")]
        config: PathBuf,
    },
    /// Send one made-up alert to every configured notifier (webhook, Slack, e-mail,
    /// stdout) and say how each went: what a real alert will look like, now.
    TestAlert {
        #[arg(long, env = "VIRAL_CONFIG")]
        config: PathBuf,
        /// The topic the alert is about (default: the first configured).
        #[arg(long)]
        topic: Option<String>,
        /// Only this notifier (`stdout`, `webhook`, `email`); default: every one.
        #[arg(long)]
        notifier: Option<String>,
    },
    /// Print stored window counts of a topic, one JSON object per line.
    Counts {
        #[arg(long, env = "VIRAL_CONFIG")]
        config: PathBuf,
        #[arg(long)]
        topic: String,
        /// RFC 3339 time, or a duration meaning that long ago (`24h`).
        #[arg(long)]
        from: Option<String>,
        /// RFC 3339 time, or a duration meaning that long ago.
        #[arg(long)]
        to: Option<String>,
        /// At most this many rows.
        #[arg(long, default_value_t = 10_000)]
        limit: usize,
    },
    /// Create or update the store's schema (schemas/viral.cql on a CQL store; the tables of
    /// a SQLite file), or print the CQL with --print.
    Migrate {
        #[arg(long, env = "VIRAL_CONFIG")]
        config: PathBuf,
        /// Print the CQL statements (placeholders filled in from the config) instead.
        #[arg(long)]
        print: bool,
    },
    /// Print the shell completion script for bash, zsh or fish.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write synthetic posts (the standalone demo's generator) as JSONL, for replay and
    /// benchmarks. Topics and generator settings come from the config.
    Generate {
        #[arg(long, env = "VIRAL_CONFIG")]
        config: Option<PathBuf>,
        /// Where to write; `-` for stdout.
        #[arg(long, default_value = "-")]
        output: String,
        /// Simulated time span to generate (humantime, e.g. `24h`).
        #[arg(long, default_value = "24h")]
        duration: String,
        /// Simulated start time (RFC 3339); defaults to 2020-09-25T00:00:00Z.
        #[arg(long, default_value = "2020-09-25T00:00:00Z")]
        start: String,
        /// Stop after this many posts.
        #[arg(long)]
        limit: Option<u64>,
    },
}
