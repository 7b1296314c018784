//! `viral`: the command line. Thin by design: each subcommand parses its flags, loads the
//! configuration and calls into the library crates, where the behaviour lives.

mod cli;
mod cmd;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    match cmd::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("viral: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
