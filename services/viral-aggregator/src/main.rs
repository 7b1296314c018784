//! `viral-aggregator`: mentions → windows → counts on the bus and in the store, as its own process.
//!
//! A separate process only makes sense on a shared bus (Kafka); until that bus lands,
//! this binary validates its configuration and explains how to run the pipeline instead
//! (`viral standalone`), rather than starting something that cannot talk to anyone.

use clap::Parser;

#[derive(Parser)]
#[command(name = "viral-aggregator", version, about = "viral aggregator service")]
struct Args {
    #[arg(long, env = "VIRAL_CONFIG")]
    config: std::path::PathBuf,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config = viral_config::load(Some(&args.config))?;
    viral_runtime::logging::init(
        config.log.format == viral_config::LogFormat::Json,
        &config.log.level,
    );
    anyhow::bail!(viral_runtime::SEPARATE_SERVICES_NEED_KAFKA)
}
