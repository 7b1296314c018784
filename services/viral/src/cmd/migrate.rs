//! `viral migrate`: create or update the store's schema now, as a deployment step (a
//! Kubernetes Job, compose's one-shot init) when the services run with
//! `store.scylla.migrate = false`; `--print` shows the CQL instead, for cqlsh.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use viral_config::StoreKind;
use viral_store::scylla::{schema, ScyllaStore};

pub fn run(config: &Path, print: bool) -> anyhow::Result<ExitCode> {
    let config = viral_config::load(Some(config))?;
    match (config.store.kind, &config.store.scylla) {
        (StoreKind::Scylla, Some(scylla)) => {
            if print {
                print!("{}", schema::render(scylla));
                return Ok(ExitCode::SUCCESS);
            }
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async {
                // Connecting with `migrate` on applies the schema before preparing the
                // statements (which need the tables), whatever the config says.
                let mut c = scylla.clone();
                c.migrate = true;
                let nodes = c.nodes.join(",");
                ScyllaStore::connect(c)
                    .await
                    .with_context(|| format!("store.scylla.nodes {nodes}"))
            })?;
            eprintln!(
                "viral: schema of keyspace {} is up to date on {}",
                scylla.keyspace,
                scylla.nodes.join(",")
            );
        }
        _ => {
            anyhow::ensure!(
                !print,
                "--print shows the CQL schema; store.kind is \"sqlite\", whose tables are \
                 created when the file is opened"
            );
            let path = &config.store.sqlite.path;
            viral_store::sqlite::SqliteStore::open(path)
                .with_context(|| format!("store.sqlite.path {}", path.display()))?;
            eprintln!("viral: SQLite store {} is up to date", path.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}
