//! `viral-alerter`: window counts → detectors → incidents → notifiers, as its own process.
//! The behaviour lives in `viral_pipeline`; see `viral_pipeline::service`.

use std::process::ExitCode;

fn main() -> ExitCode {
    match viral_pipeline::service::main("viral-alerter", None) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("viral-alerter: {e}");
            ExitCode::FAILURE
        }
    }
}
