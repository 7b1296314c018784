//! `viral generate`: the standalone demo's synthetic posts written as JSONL, to feed
//! `viral replay`, the file source, or benchmarks with realistic, reproducible data.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

pub fn run(
    config: Option<&Path>,
    output: &str,
    duration: &str,
    start: &str,
    limit: Option<u64>,
) -> anyhow::Result<ExitCode> {
    let config = viral_config::load(config)?;
    let duration = humantime::parse_duration(duration)
        .map_err(|e| anyhow::anyhow!("--duration {duration:?}: {e}"))?;
    let start = viral_core::time::parse_rfc3339(start)
        .map_err(|e| anyhow::anyhow!("--start {start:?}: {e}"))?;
    let synthetic = config.sources.synthetic.clone().unwrap_or_default();
    let topics: Vec<(String, Vec<String>)> = config
        .topics
        .iter()
        .map(|t| (t.name.clone(), t.terms.clone()))
        .collect();
    let mut out: Box<dyn Write> = if output == "-" {
        Box::new(std::io::BufWriter::new(std::io::stdout().lock()))
    } else {
        let f = std::fs::File::create(output)
            .with_context(|| format!("cannot create --output {output}"))?;
        Box::new(std::io::BufWriter::with_capacity(1 << 20, f))
    };
    let posts = viral_sources::synthetic::generate(
        &synthetic,
        &topics,
        viral_core::time::to_millis(&start),
        duration.as_millis() as i64,
    );
    for post in posts.take(limit.map_or(usize::MAX, |l| l as usize)) {
        serde_json::to_writer(&mut out, &post)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
