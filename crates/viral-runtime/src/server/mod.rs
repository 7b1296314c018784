//! Serving HTTP with bounds, for every listener of viral (the ops and query port, the
//! ingest port): one connection cannot be held open for free, and many cannot exhaust the
//! process.
//!
//! - `header_read_timeout`: a request's headers must arrive within this from when the
//!   server starts waiting for them (a new connection, or the end of the previous
//!   answer on a kept-alive one), so idle or half-open connections — slowloris — are
//!   closed (hyper's own timer).
//! - `idle_timeout`: a connection on which nothing is read or written for this long is
//!   closed: a trickling body or a client that stops reading ([`idle`]).
//! - `max_connections`: past this many open connections, the listener accepts no more
//!   until one closes (they wait in the kernel's backlog); the file descriptors of the
//!   process stay available for its bus and store. Each time the limit is reached,
//!   `viral_http_connection_limit_reached_total` counts it.
//!
//! axum's own `serve` offers none of these, hence this accept loop around hyper's
//! HTTP/1 connection.

pub mod idle;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::metrics::{ListenerLabel, Metrics};
use idle::IdleTimeout;

/// How long requests in progress may take to finish after shutdown begins; event
/// streams never finish, so they are cut then.
const GRACE: Duration = Duration::from_secs(5);

/// What one listener allows each connection, and how many connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 256,
        }
    }
}

impl Limits {
    /// Why these limits cannot work: the key (as in the `[http]` table) and the problem.
    pub fn check(&self) -> Result<(), (&'static str, &'static str)> {
        if self.header_read_timeout.is_zero() {
            return Err(("header_read_timeout", "must be positive"));
        }
        if self.idle_timeout.is_zero() {
            return Err(("idle_timeout", "must be positive"));
        }
        if self.max_connections == 0 {
            return Err(("max_connections", "must be at least 1"));
        }
        Ok(())
    }
}

/// A listener's name in metrics and logs, its limits, and where it reports.
#[derive(Clone)]
pub struct Listener {
    pub name: &'static str,
    pub limits: Limits,
    pub metrics: Metrics,
}

/// Serve `router` on `listener` until `shutdown`, then let the requests in progress
/// finish (at most a few seconds).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    config: Listener,
    shutdown: CancellationToken,
) {
    let Listener {
        name,
        limits,
        metrics,
    } = config;
    let label = ListenerLabel { listener: name };
    let open = metrics.http_connections.get_or_create(&label).clone();
    let limit_reached = metrics
        .http_connection_limit_reached
        .get_or_create(&label)
        .clone();
    let places = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    loop {
        let place = match places.clone().try_acquire_owned() {
            Ok(place) => place,
            Err(_) => {
                if limit_reached.inc() == 0 {
                    tracing::warn!(
                        listener = name,
                        max_connections = limits.max_connections,
                        "connection limit reached: new connections wait until one closes (counted in viral_http_connection_limit_reached_total)"
                    );
                }
                tokio::select! {
                    place = places.clone().acquire_owned() => match place {
                        Ok(place) => place,
                        Err(_) => break,
                    },
                    _ = shutdown.cancelled() => break,
                }
            }
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => stream,
                Err(e) => {
                    if !per_connection(&e) {
                        // Out of file descriptors and the like: wait instead of spinning.
                        tracing::error!(listener = name, error = %e, "cannot accept connections; retrying in 1 s");
                        tokio::select! {
                            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                            _ = shutdown.cancelled() => break,
                        }
                    }
                    continue;
                }
            },
            _ = shutdown.cancelled() => break,
        };
        let _ = stream.set_nodelay(true);
        let io = TokioIo::new(IdleTimeout::new(stream, limits.idle_timeout));
        let connection =
            graceful.watch(builder.serve_connection(io, TowerToHyperService::new(router.clone())));
        let open = open.clone();
        open.inc();
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(listener = name, error = %e, "connection closed with an error");
            }
            open.dec();
            drop(place);
        });
    }
    drop(listener);
    if tokio::time::timeout(GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::debug!(
            listener = name,
            "connections still open {GRACE:?} after shutdown began (event streams); closing them"
        );
    }
}

/// An accept error about one connection (gone before it was accepted), not the listener.
fn per_connection(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    )
}
