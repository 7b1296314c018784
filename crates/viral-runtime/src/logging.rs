//! Logs go to stderr through `tracing`: readable text on a terminal, one JSON object per
//! line in containers. Standard output stays free for data (alerts, counts). Colours only
//! on a terminal (and never with `NO_COLOR` set): a log redirected to a file is plain text.

use std::io::IsTerminal;

use tracing_subscriber::{fmt, EnvFilter};

/// Install the global subscriber. `level` is a tracing filter (`info`,
/// `viral=debug,info`); `RUST_LOG` overrides it. Calling twice is harmless.
pub fn init(json: bool, level: &str) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour);
    let _ = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.compact().try_init()
    };
}
