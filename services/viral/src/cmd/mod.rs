//! One module per subcommand.

mod backtest;
mod check;
mod counts;
mod generate;
mod labels;
mod migrate;
pub mod replay;
mod standalone;
mod test_alert;

use std::fs::File;
use std::io::{self, BufReader, BufWriter};
use std::process::ExitCode;

use anyhow::Context;
use chrono::{DateTime, Utc};

use crate::cli::{Cli, Command};

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Standalone { config } => standalone::run(config.as_deref()),
        Command::Replay {
            config,
            input,
            output,
        } => {
            let config = viral_config::load(Some(&config))?;
            let matcher = config.matcher()?;
            let spec = config.window_spec()?;
            let reader: Box<dyn io::BufRead> = if input == "-" {
                Box::new(io::stdin().lock())
            } else {
                let f =
                    File::open(&input).with_context(|| format!("cannot open --input {input}"))?;
                Box::new(BufReader::with_capacity(1 << 20, f))
            };
            let writer: Box<dyn io::Write> = if output == "-" {
                Box::new(BufWriter::new(io::stdout().lock()))
            } else {
                let f = File::create(&output)
                    .with_context(|| format!("cannot create --output {output}"))?;
                Box::new(BufWriter::with_capacity(1 << 20, f))
            };
            let stderr = io::stderr().lock();
            let now = viral_runtime::clock::Clock::now_ms(&viral_runtime::clock::SystemClock);
            let summary = replay::replay(&matcher, spec, now, reader, writer, stderr)
                .context("replay failed")?;
            eprintln!("{}", serde_json::to_string(&summary)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Counts {
            config,
            topic,
            from,
            to,
            limit,
        } => counts::run(&config, topic, from.as_deref(), to.as_deref(), limit),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let mut cli = crate::cli::Cli::command();
            clap_complete::generate(shell, &mut cli, "viral", &mut io::stdout().lock());
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { config } => check::run(&config),
        Command::TestAlert {
            config,
            topic,
            notifier,
        } => test_alert::run(&config, topic, notifier.as_deref()),
        Command::Migrate { config, print } => migrate::run(&config, print),
        Command::Backtest {
            config,
            counts,
            output,
            labels,
            probation,
        } => {
            let scoring = labels
                .map(|path| labels::Scoring::load(&path, &probation))
                .transpose()?;
            backtest::run(&config, &counts, output.as_deref(), scoring)
        }
        Command::Generate {
            config,
            output,
            duration,
            start,
            limit,
        } => generate::run(config.as_deref(), &output, &duration, &start, limit),
    }
}

/// A time flag: RFC 3339, or a humantime duration meaning that long before now.
pub(crate) fn parse_time(flag: &str, value: &str) -> anyhow::Result<DateTime<Utc>> {
    if let Ok(t) = viral_core::time::parse_rfc3339(value) {
        return Ok(t);
    }
    let ago = humantime::parse_duration(value).map_err(|_| {
        anyhow::anyhow!("--{flag} {value:?}: expected an RFC 3339 time or a duration such as 24h")
    })?;
    let ago = chrono::Duration::from_std(ago)
        .map_err(|_| anyhow::anyhow!("--{flag} {value:?}: duration too large"))?;
    Ok(Utc::now() - ago)
}
