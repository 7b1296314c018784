//! `schemas/viral.cql`, rendered for one configuration and applied idempotently.
//!
//! The file is the single source of the schema: the binaries embed it, `viral migrate
//! --print` shows it with the placeholders filled in for operators who apply schema with
//! cqlsh. Keyspace and tables are created only when absent; retention (TTL and the TWCS
//! window derived from it) is reconciled with the config on every run, because it is the
//! one part of the schema users tune after the first deployment.

use std::time::Duration;

use scylla::client::session::Session;

use super::config::ScyllaConfig;
use crate::StoreError;

const TEMPLATE: &str = include_str!("../../../../schemas/viral.cql");

/// Columns added after a table was first released: `CREATE TABLE IF NOT EXISTS` leaves an
/// existing table as it is, so each is added when the cluster lacks it.
const ADDED: [(&str, &str, &str); 2] = [
    ("alerts", "band_low", "double"),
    ("alerts", "band_high", "double"),
];

/// Tables whose `default_time_to_live` follows `retention`, and whether they use TWCS.
const RETAINED: [(&str, bool); 2] = [("window_counts", true), ("alerts", false)];

/// TimeWindowCompactionStrategy window for a retention: about 25 windows over the TTL
/// (ScyllaDB's advice is 20–30), in whole days, hours or minutes.
pub fn twcs_window(retention: Duration) -> (&'static str, u64) {
    const MIN: u64 = 60;
    let secs = retention.as_secs();
    if secs == 0 {
        // Kept forever: one window a day keeps each SSTable to one day of windows.
        return ("DAYS", 1);
    }
    let per = secs / 25;
    if per >= 24 * 3600 {
        ("DAYS", per / (24 * 3600))
    } else if per >= 3600 {
        ("HOURS", per / 3600)
    } else {
        ("MINUTES", (per / MIN).max(1))
    }
}

/// The schema with every placeholder filled in.
pub fn render(config: &ScyllaConfig) -> String {
    let (unit, size) = twcs_window(config.retention);
    TEMPLATE
        .replace("{{keyspace}}", &config.keyspace)
        .replace("{{replication}}", &config.replication.to_cql())
        .replace("{{ttl}}", &config.retention.as_secs().to_string())
        .replace("{{twcs_unit}}", unit)
        .replace("{{twcs_size}}", &size.to_string())
}

/// The rendered schema as separate statements (comments dropped).
pub fn statements(config: &ScyllaConfig) -> Vec<String> {
    let text: String = render(config)
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    text.split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn backend(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("{what}: {e}"))
}

/// Create what is missing, then bring retention in line with the config. Safe to run
/// from several processes at once (every statement is `IF NOT EXISTS` or a no-op when
/// the table already has the wanted options).
pub async fn apply(session: &Session, config: &ScyllaConfig) -> Result<(), StoreError> {
    for statement in statements(config) {
        session
            .query_unpaged(statement.as_str(), &[])
            .await
            .map_err(|e| backend("applying schemas/viral.cql", e))?;
    }
    add_columns(session, &config.keyspace).await?;
    let ttl = i32::try_from(config.retention.as_secs())
        .map_err(|_| StoreError::OutOfRange(format!("retention {:?}", config.retention)))?;
    let (unit, size) = twcs_window(config.retention);
    for (table, twcs) in RETAINED {
        let (have_ttl, unit_now, size_now) =
            table_options(session, &config.keyspace, table).await?;
        let mut changes = Vec::new();
        if have_ttl != ttl {
            changes.push(format!("default_time_to_live = {ttl}"));
        }
        if twcs && (unit_now.as_deref() != Some(unit) || size_now != Some(size.to_string())) {
            changes.push(format!(
                "compaction = {{'class': 'TimeWindowCompactionStrategy', \
                 'compaction_window_unit': '{unit}', 'compaction_window_size': {size}}}"
            ));
        }
        if !changes.is_empty() {
            // An ALTER that changes nothing still bumps the schema version cluster-wide,
            // so it runs only when the config asks for something new.
            let alter = format!(
                "ALTER TABLE {}.{table} WITH {}",
                config.keyspace,
                changes.join(" AND ")
            );
            tracing::info!(statement = %alter, "store retention changed");
            session
                .query_unpaged(alter.as_str(), &[])
                .await
                .map_err(|e| backend("changing retention", e))?;
        }
    }
    session
        .await_schema_agreement()
        .await
        .map_err(|e| backend("waiting for schema agreement", e))?;
    Ok(())
}

/// Add every column of [`ADDED`] its table lacks.
async fn add_columns(session: &Session, keyspace: &str) -> Result<(), StoreError> {
    for (table, column, kind) in ADDED {
        let result = session
            .query_unpaged(
                "SELECT column_name FROM system_schema.columns \
                 WHERE keyspace_name = ? AND table_name = ? AND column_name = ?",
                (keyspace, table, column),
            )
            .await
            .map_err(|e| backend("reading table columns", e))?;
        let present = result
            .into_rows_result()
            .map_err(|e| backend("reading table columns", e))?
            .rows_num()
            > 0;
        if !present {
            let alter = format!("ALTER TABLE {keyspace}.{table} ADD {column} {kind}");
            tracing::info!(statement = %alter, "store schema upgraded");
            session
                .query_unpaged(alter.as_str(), &[])
                .await
                .map_err(|e| backend("adding a column", e))?;
        }
    }
    Ok(())
}

type Options = (i32, Option<String>, Option<String>);

/// A table's TTL and TWCS window as the cluster has them.
async fn table_options(
    session: &Session,
    keyspace: &str,
    table: &str,
) -> Result<Options, StoreError> {
    let result = session
        .query_unpaged(
            "SELECT default_time_to_live, compaction FROM system_schema.tables \
             WHERE keyspace_name = ? AND table_name = ?",
            (keyspace, table),
        )
        .await
        .map_err(|e| backend("reading table options", e))?;
    let rows = result
        .into_rows_result()
        .map_err(|e| backend("reading table options", e))?;
    let (ttl, compaction) = rows
        .maybe_first_row::<(
            Option<i32>,
            Option<std::collections::HashMap<String, String>>,
        )>()
        .map_err(|e| backend("reading table options", e))?
        .ok_or_else(|| StoreError::Backend(format!("table {keyspace}.{table} was not created")))?;
    let compaction = compaction.unwrap_or_default();
    Ok((
        ttl.unwrap_or(0),
        compaction.get("compaction_window_unit").cloned(),
        compaction.get("compaction_window_size").cloned(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twcs_windows_are_about_a_twenty_fifth_of_the_retention() {
        let day = 24 * 3600;
        assert_eq!(twcs_window(Duration::from_secs(400 * day)), ("DAYS", 16));
        assert_eq!(twcs_window(Duration::from_secs(30 * day)), ("DAYS", 1));
        assert_eq!(twcs_window(Duration::from_secs(7 * day)), ("HOURS", 6));
        assert_eq!(twcs_window(Duration::from_secs(2)), ("MINUTES", 1));
        assert_eq!(twcs_window(Duration::ZERO), ("DAYS", 1));
    }

    #[test]
    fn the_rendered_schema_has_no_placeholder_left() {
        let mut c = ScyllaConfig::new("127.0.0.1:9042");
        c.keyspace = "viral_prod".into();
        c.replication = super::super::config::Replication::NetworkTopologyStrategy {
            datacenters: [("dc1".to_owned(), 3), ("dc2".to_owned(), 2)].into(),
        };
        let text = render(&c);
        assert!(!text.contains("{{"), "{text}");
        assert!(text.contains(
            "CREATE KEYSPACE IF NOT EXISTS viral_prod\n  WITH replication = \
             {'class': 'NetworkTopologyStrategy', 'dc1': 3, 'dc2': 2};"
        ));
        assert!(text.contains("default_time_to_live = 34560000"));
        let st = statements(&c);
        assert_eq!(st.len(), 5, "{st:#?}");
        assert!(st.iter().all(|s| s.contains("IF NOT EXISTS")));
        assert!(st.iter().all(|s| !s.contains("--")));
    }
}
