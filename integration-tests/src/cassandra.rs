//! The real CQL database (Apache Cassandra 5.0, protocol-compatible with ScyllaDB) the
//! store tests talk to: `VIRAL_TEST_CQL` if set (`.ci/run` sets it), otherwise one started
//! on demand by `integration-tests/cassandra.sh ensure` and shared by the run; and
//! keyspaces of their own, so tests never see each other's rows.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use viral_store::scylla::{ScyllaConfig, ScyllaStore};

use crate::node::{OwnNode, Script};

pub const CASSANDRA: Script = Script {
    file: "cassandra.sh",
    state_var: "VIRAL_CASSANDRA_STATE",
    address_key: "CASSANDRA_CONTACT",
};

/// `host:port` of the shared test database.
pub fn contact() -> String {
    static CONTACT: OnceLock<String> = OnceLock::new();
    CONTACT
        .get_or_init(|| CASSANDRA.shared("VIRAL_TEST_CQL"))
        .clone()
}

/// A keyspace name no other test (or earlier run) uses.
pub fn fresh_keyspace(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!(
        "t_{tag}_{}_{secs}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The store config of a fresh keyspace on `contact`: dev replication, `one`
/// consistency is not needed (LOCAL_QUORUM of one replica is one).
pub fn config(contact: &str, tag: &str) -> ScyllaConfig {
    let mut c = ScyllaConfig::new(contact);
    c.keyspace = fresh_keyspace(tag);
    c
}

/// A connected, migrated store on a fresh keyspace of the shared database.
pub async fn fresh_store(tag: &str) -> ScyllaStore {
    ScyllaStore::connect(config(&contact(), tag))
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the test database at {}: {e}", contact()))
}

/// A database of the test's own, for tests that stop it (`address` is its contact).
pub fn own(parent: &std::path::Path) -> OwnNode {
    OwnNode::start(CASSANDRA, parent)
}
