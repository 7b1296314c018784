//! What the sources that keep a connection to a remote service share (Jetstream, Mastodon,
//! X, and in part HTTP ingest): reconnect delays with jitter ([`Backoff`]) and a way to
//! wait that tests can record instead ([`Pause`]), both from `viral_runtime::backoff`
//! (every retry loop in viral shares them), the per-source metrics and readiness
//! ([`SourceMonitor`]), the life around the connections ([`Reconnect`]: start, one
//! bounded attempt, the way back after a loss; [`Patience`]: the keys every connected
//! source has), line framing of a streamed HTTP body, and the TLS and HTTP client set-up.

mod lines;
mod monitor;
mod reconnect;
#[cfg(test)]
mod tests;

pub(crate) use lines::{LineStream, Next};
pub use monitor::{SourceMonitor, UNREADY_AFTER};
pub(crate) use reconnect::{connect, positive, Attempt};
pub use reconnect::{Patience, Reconnect};
pub use viral_runtime::backoff::{Backoff, Pause, JITTER};

use std::sync::Arc;

/// A TLS client configuration with the Mozilla roots and an explicit crypto provider:
/// with more than one provider compiled into the binary (other crates bring their own),
/// rustls cannot pick a default by itself.
pub(crate) fn tls_config() -> Result<Arc<rustls::ClientConfig>, rustls::Error> {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// An HTTP client for a streaming source: connect timeout only (a stream's body lasts as
/// long as the connection), no redirects to other hosts with our bearer token.
pub(crate) fn http_client(
    connect_timeout: std::time::Duration,
) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("viral/", env!("CARGO_PKG_VERSION")))
        .build()
}
