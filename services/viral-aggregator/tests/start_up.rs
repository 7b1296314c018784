//! `viral-aggregator` validates its configuration before anything runs and refuses the
//! in-memory bus, saying why (checks shared by the three services).

use viral_integration_tests::start_up;

const BIN: &str = env!("CARGO_BIN_EXE_viral-aggregator");

#[test]
fn the_memory_bus_is_refused_with_the_reason() {
    start_up::refuses_the_memory_bus(BIN);
}

#[test]
fn an_invalid_config_names_the_key() {
    start_up::names_an_invalid_key(BIN);
}

#[test]
fn kafka_without_brokers_names_the_key() {
    start_up::names_missing_brokers(BIN);
}

#[test]
fn no_config_is_a_usage_error() {
    start_up::usage_without_config(BIN);
}
