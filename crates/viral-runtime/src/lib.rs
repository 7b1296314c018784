//! What every viral process shares, whatever stage it runs.
//!
//! # Layout
//!
//! - [`backoff`]: the delays between retries (exponential or linear, with jitter), and
//!   waits that tests can record instead.
//! - [`clock`]: wall-clock or accelerated simulation time, one trait for both.
//! - [`metrics`]: the Prometheus metrics every stage reports, named the same everywhere.
//! - [`health`]: liveness and readiness as components report them.
//! - [`http`]: the `/metrics`, `/healthz` and `/readyz` server.
//! - [`server`]: serving HTTP within limits (header and idle timeouts, a connection
//!   limit), for every listener.
//! - [`logging`]: `tracing` set up as text for terminals or JSON for containers.
//! - [`shutdown`]: Ctrl-C / SIGTERM as a cancellation token.

pub mod backoff;
pub mod clock;
pub mod health;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod server;
pub mod shutdown;

pub use tokio_util::sync::CancellationToken;
