//! `viral-producer`: sources → topic matching → mentions on the bus, as its own process.
//! The behaviour lives in `viral_pipeline`; see `viral_pipeline::service`.

use std::process::ExitCode;

fn main() -> ExitCode {
    match viral_pipeline::service::main("viral-producer", None) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("viral-producer: {e}");
            ExitCode::FAILURE
        }
    }
}
