//! Logs go to stderr through `tracing`: readable text on a terminal, one JSON object per
//! line in containers. Standard output stays free for data (alerts, counts).

use tracing_subscriber::{fmt, EnvFilter};

/// Install the global subscriber. `level` is a tracing filter (`info`,
/// `viral=debug,info`); `RUST_LOG` overrides it. Calling twice is harmless.
pub fn init(json: bool, level: &str) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.compact().try_init()
    };
}
