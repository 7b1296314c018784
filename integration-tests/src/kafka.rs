//! The real Kafka broker tests talk to: `VIRAL_TEST_KAFKA` if set (`.ci/run` sets it),
//! otherwise one started on demand by `integration-tests/kafka.sh ensure` and shared by
//! every test of the run.

use std::sync::OnceLock;

use crate::node::{OwnNode, Script};

const KAFKA: Script = Script {
    file: "kafka.sh",
    state_var: "VIRAL_KAFKA_STATE",
    address_key: "KAFKA_BOOTSTRAP",
};

/// Bootstrap servers of the test broker.
pub fn bootstrap() -> String {
    static BOOTSTRAP: OnceLock<String> = OnceLock::new();
    BOOTSTRAP
        .get_or_init(|| KAFKA.shared("VIRAL_TEST_KAFKA"))
        .clone()
}

/// A broker of the test's own, for tests that stop it (`address` is its bootstrap).
pub fn own(parent: &std::path::Path) -> OwnNode {
    OwnNode::start(KAFKA, parent)
}
