//! Keys of `[store.scylla]`, checked when the configuration is loaded so a typo fails at
//! start-up rather than at the first write.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScyllaConfig {
    /// Contact points (`host:port`); the driver discovers the rest of the cluster. A list,
    /// or one comma-separated string (handy in `VIRAL__STORE__SCYLLA__NODES`).
    #[serde(deserialize_with = "list_or_commas")]
    pub nodes: Vec<String>,
    /// Keyspace holding viral's tables (created by the migration if absent).
    #[serde(default = "default_keyspace")]
    pub keyspace: String,
    /// Replication of the keyspace when the migration creates it. An existing keyspace is
    /// never altered: changing replication needs a repair, which is an operator's call.
    #[serde(default)]
    pub replication: Replication,
    /// Consistency of every read and write (`one`, `local_one`, `local_quorum`, `quorum`,
    /// `each_quorum`, `all`).
    #[serde(default = "default_consistency")]
    pub consistency: String,
    /// How long rows are kept (the tables' `default_time_to_live`); `0s` keeps them forever.
    /// Applied by every migration, so changing it here changes the tables.
    #[serde(default = "default_retention", with = "humantime_serde")]
    pub retention: Duration,
    /// Apply `schemas/viral.cql` when connecting. Production deployments that manage
    /// schema separately (`viral migrate` as a job) turn this off.
    #[serde(default = "yes")]
    pub migrate: bool,
    /// Prefer nodes of this datacenter (multi-DC clusters; pair with `local_quorum`).
    #[serde(default)]
    pub local_datacenter: Option<String>,
    /// Client-side timeout of one request, retries included.
    #[serde(default = "default_request_timeout", with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Writes in flight at once while storing a batch of windows.
    #[serde(default = "default_concurrency")]
    pub write_concurrency: usize,
    /// Names of the environment variables holding the user name and password, for
    /// clusters with authentication. The values themselves never go in the file.
    #[serde(default)]
    pub username_env: Option<String>,
    #[serde(default)]
    pub password_env: Option<String>,
}

/// Keyspace replication: `SimpleStrategy` with one factor (a single datacenter, dev and
/// test) or `NetworkTopologyStrategy` with a factor per datacenter (production).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawReplication")]
pub enum Replication {
    SimpleStrategy { replication_factor: u32 },
    NetworkTopologyStrategy { datacenters: BTreeMap<String, u32> },
}

/// The TOML shape, `{ class = "…", <key> = <factor>, … }`, checked by hand because serde
/// cannot both flatten the datacenters and refuse unknown keys.
#[derive(Deserialize)]
struct RawReplication {
    class: String,
    #[serde(flatten)]
    factors: BTreeMap<String, u32>,
}

impl TryFrom<RawReplication> for Replication {
    type Error = String;

    fn try_from(raw: RawReplication) -> Result<Self, String> {
        match raw.class.as_str() {
            "SimpleStrategy" => {
                let mut factors = raw.factors;
                let rf = factors.remove("replication_factor").ok_or(
                    "SimpleStrategy needs replication_factor, e.g. { class = \"SimpleStrategy\", replication_factor = 1 }",
                )?;
                if let Some(other) = factors.keys().next() {
                    return Err(format!("SimpleStrategy takes only replication_factor, not {other:?}"));
                }
                Ok(Replication::SimpleStrategy { replication_factor: rf })
            }
            "NetworkTopologyStrategy" => Ok(Replication::NetworkTopologyStrategy {
                datacenters: raw.factors,
            }),
            other => Err(format!(
                "class {other:?}: use \"SimpleStrategy\" (one datacenter) or \"NetworkTopologyStrategy\""
            )),
        }
    }
}

impl Default for Replication {
    fn default() -> Self {
        Replication::SimpleStrategy {
            replication_factor: 1,
        }
    }
}

impl Replication {
    /// The CQL map literal of `WITH replication = …`.
    pub fn to_cql(&self) -> String {
        match self {
            Replication::SimpleStrategy { replication_factor } => {
                format!("{{'class': 'SimpleStrategy', 'replication_factor': {replication_factor}}}")
            }
            Replication::NetworkTopologyStrategy { datacenters } => {
                let dcs: Vec<String> = datacenters
                    .iter()
                    .map(|(dc, rf)| format!("'{dc}': {rf}"))
                    .collect();
                format!("{{'class': 'NetworkTopologyStrategy', {}}}", dcs.join(", "))
            }
        }
    }
}

fn list_or_commas<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Nodes {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Nodes::deserialize(d)? {
        Nodes::One(s) => s.split(',').map(|n| n.trim().to_owned()).collect(),
        Nodes::Many(v) => v,
    })
}

fn default_keyspace() -> String {
    "viral".into()
}

fn default_consistency() -> String {
    "local_quorum".into()
}

fn default_retention() -> Duration {
    // A year and a bit: last year's same week is still there to compare with.
    Duration::from_secs(400 * 24 * 3600)
}

fn default_request_timeout() -> Duration {
    Duration::from_secs(10)
}

fn default_concurrency() -> usize {
    64
}

fn yes() -> bool {
    true
}

/// A keyspace or datacenter name CQL takes unquoted: a letter, then letters, digits or `_`.
fn is_identifier(s: &str, max: usize) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && s.len() <= max
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl ScyllaConfig {
    /// A config for one contact point with every default.
    pub fn new(node: impl Into<String>) -> Self {
        Self {
            nodes: vec![node.into()],
            keyspace: default_keyspace(),
            replication: Replication::default(),
            consistency: default_consistency(),
            retention: default_retention(),
            migrate: true,
            local_datacenter: None,
            request_timeout: default_request_timeout(),
            write_concurrency: default_concurrency(),
            username_env: None,
            password_env: None,
        }
    }

    /// Problems name the key relative to `store.scylla`. The environment variables named
    /// by `username_env`/`password_env` must be set; their values are not shown.
    pub fn validate(&self) -> Result<(), String> {
        if self.nodes.is_empty() || self.nodes.iter().any(|n| n.trim().is_empty()) {
            return Err("nodes: must list at least one host:port".into());
        }
        if !is_identifier(&self.keyspace, 48) {
            return Err(format!(
                "keyspace = {:?}: a letter, then letters, digits or '_' (at most 48)",
                self.keyspace
            ));
        }
        match &self.replication {
            Replication::SimpleStrategy {
                replication_factor: 0,
            } => return Err("replication.replication_factor: must be at least 1".into()),
            Replication::NetworkTopologyStrategy { datacenters } => {
                if datacenters.is_empty() {
                    return Err(
                        "replication: NetworkTopologyStrategy needs a factor per datacenter, \
                         e.g. { class = \"NetworkTopologyStrategy\", dc1 = 3 }"
                            .into(),
                    );
                }
                for (dc, rf) in datacenters {
                    if !is_identifier(dc, 64) {
                        return Err(format!("replication.{dc}: not a datacenter name"));
                    }
                    if *rf == 0 {
                        return Err(format!("replication.{dc}: must be at least 1"));
                    }
                }
            }
            Replication::SimpleStrategy { .. } => {}
        }
        super::consistency(&self.consistency).map_err(|e| format!("consistency: {e}"))?;
        if self.retention.as_secs() > i32::MAX as u64 {
            return Err("retention: at most 68 years (CQL TTLs are 32-bit seconds)".into());
        }
        if !self.retention.is_zero() && self.retention < Duration::from_secs(1) {
            return Err("retention: at least 1s, or 0s to keep rows forever".into());
        }
        if self.request_timeout.is_zero() {
            return Err("request_timeout: must be positive".into());
        }
        if self.write_concurrency == 0 {
            return Err("write_concurrency: must be at least 1".into());
        }
        for (key, var) in [
            ("username_env", &self.username_env),
            ("password_env", &self.password_env),
        ] {
            if let Some(var) = var {
                if std::env::var_os(var).is_none() {
                    return Err(format!(
                        "{key}: names {var:?}, but that environment variable is not set"
                    ));
                }
            }
        }
        if self.username_env.is_some() != self.password_env.is_some() {
            return Err("username_env and password_env: set both or neither".into());
        }
        Ok(())
    }
}
