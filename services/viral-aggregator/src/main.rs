//! `viral-aggregator`: mentions → windows → counts on the bus and in the store, as its own process.
//! The behaviour lives in `viral_pipeline`; see `viral_pipeline::service`.

use std::process::ExitCode;

fn main() -> ExitCode {
    match viral_pipeline::service::main("viral-aggregator") {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("viral-aggregator: {e}");
            ExitCode::FAILURE
        }
    }
}
