//! `viral-aggregator`: mentions → windows → counts on the bus and in the store, as its own
//! process, serving the query API and the dashboard. The stage lives in `viral_pipeline`
//! (see `viral_pipeline::service`); the API in `viral_api`, composed here.

use std::process::ExitCode;

fn main() -> ExitCode {
    match viral_pipeline::service::main("viral-aggregator", Some(viral_aggregator::service_routes))
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("viral-aggregator: {e}");
            ExitCode::FAILURE
        }
    }
}
