//! `viral counts`: read stored window counts back, one JSON object per line, from
//! whichever store `[store]` names (the SQLite file or the CQL cluster).

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use viral_config::StoreKind;
use viral_store::{CountsQuery, Order};

pub fn run(
    config: &Path,
    topic: String,
    from: Option<&str>,
    to: Option<&str>,
    limit: usize,
) -> anyhow::Result<ExitCode> {
    let config = viral_config::load(Some(config))?;
    // A misspelled topic would print nothing and succeed: name the tracked ones instead,
    // as the query API's 404 does.
    if !config.topics.iter().any(|t| t.name == topic) {
        let tracked: Vec<&str> = config.topics.iter().map(|t| t.name.as_str()).collect();
        anyhow::bail!(
            "--topic {topic:?} is not tracked by this config; its topics are: {}",
            tracked.join(", ")
        );
    }
    let from = from.map(|v| super::parse_time("from", v)).transpose()?;
    let to = to.map(|v| super::parse_time("to", v)).transpose()?;
    if let (Some(f), Some(t)) = (from, to) {
        anyhow::ensure!(f <= t, "--from must not be after --to");
    }
    if config.store.kind == StoreKind::Sqlite {
        // Opening would create an empty file: say plainly that there is nothing yet.
        let path = &config.store.sqlite.path;
        anyhow::ensure!(
            path.exists(),
            "no store at {} (store.sqlite.path): nothing has been counted yet",
            path.display()
        );
    }
    let query = CountsQuery {
        topic,
        window_size: config.window.size,
        from,
        to,
        limit,
        order: Order::OldestFirst,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let counts = rt.block_on(async {
        let store = viral_pipeline::service::build::store_now(&config).await?;
        anyhow::Ok(store.counts(&query).await?)
    })?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for c in &counts {
        serde_json::to_writer(&mut out, c)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
