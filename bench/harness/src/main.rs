//! viral's benchmark suite (`bench/suite.sh` runs it): viral next to its closest peer on
//! the same machine, broker and data, in one run, and the ratios.
//!
//! # Layout
//!
//! - `data`: the pre-filled mentions topics and the bare consumer (the practical limit).
//! - `engines`: viral's aggregator, the Kafka Streams peer and the bare consumer, each
//!   started as a process on a dataset.
//! - `probe`: a measured process — progress, CPU seconds and peak RSS from the kernel.
//! - `latency`: window close → count on the counts topic, and → webhook, under load.
//!
//! Not part of the test suite: figures go to docs/BENCHMARKS.md.

mod data;
mod engines;
mod latency;
mod probe;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use clap::{Parser, Subcommand};

use engines::{Setup, Windows};
use probe::Measured;

#[derive(Parser)]
#[command(about = "viral's benchmark suite: viral, a bare consumer and Kafka Streams side by side")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the whole suite and print the tables (markdown).
    Suite {
        #[arg(long, env = "KAFKA_BOOTSTRAP")]
        brokers: String,
        /// Directory of the release binaries (viral-aggregator, viral-alerter).
        #[arg(long, default_value = "target/release")]
        bin: PathBuf,
        /// The built Kafka Streams peer.
        #[arg(long, default_value = "bench/peers/kafka-streams")]
        peer: PathBuf,
        #[arg(long, default_value = "target/bench/suite")]
        work: PathBuf,
        /// Mentions in the throughput dataset, and its topics.
        #[arg(long, default_value_t = 5_000_000)]
        mentions: u64,
        #[arg(long, default_value_t = 1_000)]
        topics: u64,
        /// Mentions and topics of the memory dataset.
        #[arg(long, default_value_t = 2_000_000)]
        memory_mentions: u64,
        #[arg(long, default_value_t = 10_000)]
        memory_topics: u64,
        #[arg(long, default_value_t = 2)]
        partitions: i32,
        /// Steady load of the latency run (mentions/s) and its length.
        #[arg(long, default_value_t = 50_000)]
        rate: u64,
        #[arg(long, default_value_t = 180)]
        seconds: u64,
        /// -Xmx of the Streams peer's JVM.
        #[arg(long, default_value = "1g")]
        heap: String,
        /// Run only these parts (throughput, memory, latency); default all.
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
        /// Run only these engines in the memory part (viral, streams); default both.
        #[arg(long, value_delimiter = ',')]
        engines: Vec<String>,
    },
    /// The bare consumer (started by the suite as its own process).
    #[command(hide = true)]
    Drain {
        #[arg(long)]
        brokers: String,
        #[arg(long)]
        topic: String,
        #[arg(long)]
        expect: u64,
    },
}

fn mins(m: u64) -> Duration {
    Duration::from_secs(m * 60)
}

fn row(name: &str, m: &Measured) -> String {
    format!(
        "| {name} | {:.0} | {:.1} | {:.1} | {:.1} | {:.2} | {:.0} |",
        m.rate(),
        m.steady_s,
        m.wall_s,
        m.cpu_s,
        m.cpu_s * 1e6 / m.records as f64,
        m.peak_rss_mib
    )
}

#[tokio::main]
async fn main() -> Result<()> {
    match Cli::parse().command {
        Cmd::Drain {
            brokers,
            topic,
            expect,
        } => data::drain(&brokers, &topic, expect),
        Cmd::Suite {
            brokers,
            bin,
            peer,
            work,
            mentions,
            topics,
            memory_mentions,
            memory_topics,
            partitions,
            rate,
            seconds,
            heap,
            only,
            engines,
        } => {
            std::fs::create_dir_all(&work)?;
            let s = Setup {
                brokers,
                bin,
                peer,
                partitions,
                heap,
                work,
                patience: Duration::from_secs(1800),
            };
            let part = |p: &str| only.is_empty() || only.iter().any(|o| o == p);
            let tumbling = Windows {
                size: mins(30),
                hop: mins(30),
                lateness: mins(1),
            };
            if part("throughput") {
                throughput(&s, mentions, topics, tumbling).await?;
            }
            if part("memory") {
                memory(&s, memory_mentions, memory_topics, tumbling, &engines).await?;
            }
            if part("latency") {
                latency_part(&s, rate, seconds).await?;
            }
            Ok(())
        }
    }
}

const HEADER: &str = "| engine | msg/s (steady) | steady s | wall s (from start) | CPU s | CPU s per 1M | peak RSS MiB |\n|---|---|---|---|---|---|---|";

async fn dataset(s: &Setup, name: &str, n: u64, topics: u64) -> Result<String> {
    let topic = format!("bench.{name}.{}", probe::now_ms());
    data::create_topic(&s.brokers, &topic, s.partitions).await?;
    let started = std::time::Instant::now();
    let (b, t) = (s.brokers.clone(), topic.clone());
    tokio::task::spawn_blocking(move || data::fill(&b, &t, n, topics, Duration::from_secs(7200)))
        .await??;
    eprintln!(
        "filled {topic}: {n} mentions over {topics} topics in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(topic)
}

async fn throughput(s: &Setup, n: u64, topics: u64, w: Windows) -> Result<()> {
    let topic = dataset(s, "throughput", n, topics).await?;
    let bare = engines::bare(s, "bare", &topic, n)?;
    eprintln!("bare consumer: {bare:?}");
    let viral = engines::viral(s, "viral", &topic, n, w)?;
    eprintln!("viral: {viral:?}");
    let streams = engines::streams(s, "streams", &topic, n, w).await?;
    eprintln!("kafka streams: {streams:?}");
    println!(
        "\n### Throughput: {n} mentions, {topics} topics, {} partitions, {}\n\n{HEADER}",
        s.partitions,
        w.label()
    );
    println!("{}", row("bare rdkafka consumer", &bare));
    println!("{}", row("**viral aggregator**", &viral));
    println!("{}", row("Kafka Streams", &streams));
    println!("\n| ratio | value | target |\n|---|---|---|");
    println!(
        "| viral / Kafka Streams, msg/s | {:.1}× | ≥ 5× |",
        viral.rate() / streams.rate()
    );
    println!(
        "| viral / bare consumer, msg/s | {:.0}% | ≥ 80% |",
        100.0 * viral.rate() / bare.rate()
    );
    println!(
        "| viral / Kafka Streams, CPU s | {:.2} | |",
        viral.cpu_s / streams.cpu_s
    );
    println!(
        "| viral / Kafka Streams, peak RSS | {:.3} | ≤ 0.1 |",
        viral.peak_rss_mib / streams.peak_rss_mib
    );
    Ok(())
}

async fn memory(
    s: &Setup,
    n: u64,
    topics: u64,
    tumbling: Windows,
    engines: &[String],
) -> Result<()> {
    let run = |e: &str| engines.is_empty() || engines.iter().any(|x| x == e);
    let topic = dataset(s, "memory", n, topics).await?;
    let hopping = Windows {
        hop: mins(5),
        ..tumbling
    };
    println!("\n### Memory: {n} mentions, {topics} active topics\n\n{HEADER}");
    for w in [tumbling, hopping] {
        let label = w.label();
        let name = label.replace([' ', '/'], "-");
        if run("viral") {
            let viral = engines::viral(s, &format!("mem-viral-{name}"), &topic, n, w)?;
            println!("{}", row(&format!("**viral**, {label}"), &viral));
        }
        if run("streams") {
            let streams = engines::streams(s, &format!("mem-streams-{name}"), &topic, n, w).await?;
            println!("{}", row(&format!("Kafka Streams, {label}"), &streams));
        }
    }
    Ok(())
}

async fn latency_part(s: &Setup, rate: u64, seconds: u64) -> Result<()> {
    let l = latency::run(s, rate, seconds).await?;
    let p = |v: &[i64], q: f64| latency::percentile(v, q);
    println!(
        "\n### Latency: {} mentions/s for {} s ({} produced), 1,000 topics, {}, lateness {} s\n",
        l.rate,
        l.seconds,
        l.produced,
        l.windows.label(),
        l.windows.lateness.as_secs()
    );
    println!("| from window close to | samples | p50 ms | p99 ms | max ms | target |\n|---|---|---|---|---|---|");
    println!(
        "| its count on the counts topic | {} | {} | {} | {} | |",
        l.counts_ms.len(),
        p(&l.counts_ms, 0.5),
        p(&l.counts_ms, 0.99),
        l.counts_ms.last().copied().unwrap_or(0)
    );
    println!(
        "| its alert at the webhook | {} | {} | {} | {} | p99 ≤ 1,000 |",
        l.webhook_ms.len(),
        p(&l.webhook_ms, 0.5),
        p(&l.webhook_ms, 0.99),
        l.webhook_ms.last().copied().unwrap_or(0)
    );
    Ok(())
}
