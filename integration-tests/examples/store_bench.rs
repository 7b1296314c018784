//! Store write throughput (closed windows stored per second) on the real databases: the
//! CQL store on Apache Cassandra 5.0 (`cassandra.sh`), and SQLite for reference.
//!
//! ```sh
//! integration-tests/cassandra.sh ensure
//! cargo run --release -p viral-integration-tests --example store_bench -- 200000 1000 3
//! ```
//! (windows per round, topics, rounds)
//!
//! Each round writes N one-minute windows spread over T topics, in batches the size the
//! aggregator hands the store (every topic's windows closed in one commit, i.e. T per
//! batch), through the `Store` trait exactly as the aggregator does. Every round uses a
//! fresh keyspace (CQL) or file (SQLite), so nothing is an overwrite. Prints windows/s
//! per backend and write concurrency, and the median over rounds.

use std::time::{Duration, Instant};

use viral_core::time::from_millis;
use viral_core::WindowCount;
use viral_integration_tests::cassandra;
use viral_store::scylla::ScyllaStore;
use viral_store::Store;

const MIN: Duration = Duration::from_secs(60);

fn batches(n: usize, topics: usize) -> Vec<Vec<WindowCount>> {
    let names: Vec<String> = (0..topics).map(|t| format!("topic-{t}")).collect();
    let minutes = n.div_ceil(topics);
    (0..minutes)
        .map(|m| {
            names
                .iter()
                .map(|t| WindowCount {
                    topic: t.clone(),
                    window_start: from_millis(m as i64 * 60_000),
                    window_end: from_millis((m as i64 + 1) * 60_000),
                    count: (m * 7 % 1000) as u64,
                    samples: vec![],
                })
                .collect()
        })
        .collect()
}

async fn time_writes(store: &dyn Store, batches: &[Vec<WindowCount>]) -> f64 {
    let n: usize = batches.iter().map(Vec::len).sum();
    let t0 = Instant::now();
    for b in batches {
        store.put_counts(MIN, b).await.expect("write");
    }
    n as f64 / t0.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("numbers: windows topics rounds"))
        .collect();
    let (n, topics, rounds) = (
        args.first().copied().unwrap_or(200_000),
        args.get(1).copied().unwrap_or(1000),
        args.get(2).copied().unwrap_or(3),
    );
    let work = batches(n, topics);
    let n = work.iter().map(Vec::len).sum::<usize>();
    println!(
        "{n} windows over {topics} topics in {} batches, {rounds} rounds",
        work.len()
    );
    let contact = cassandra::contact();
    for concurrency in [16, 64, 256] {
        let mut rates = Vec::new();
        for _ in 0..rounds {
            let mut c = cassandra::config(&contact, "bench");
            c.write_concurrency = concurrency;
            let store = ScyllaStore::connect(c).await.expect("connect");
            rates.push(time_writes(&store, &work).await);
        }
        println!(
            "cql (Cassandra 5.0, 1 node)  write_concurrency {concurrency:>3}: {:>9.0} windows/s  (rounds: {})",
            median(rates.clone()),
            rates.iter().map(|r| format!("{r:.0}")).collect::<Vec<_>>().join(", ")
        );
    }
    let mut rates = Vec::new();
    for _ in 0..rounds {
        let dir = tempfile::tempdir().expect("tempdir");
        let store =
            viral_store::sqlite::SqliteStore::open(&dir.path().join("bench.db")).expect("db");
        rates.push(time_writes(&store, &work).await);
    }
    println!(
        "sqlite (WAL, one file)                          : {:>9.0} windows/s  (rounds: {})",
        median(rates.clone()),
        rates
            .iter()
            .map(|r| format!("{r:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
}
