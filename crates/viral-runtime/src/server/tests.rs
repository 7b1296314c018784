//! The limits on real sockets, the way an attacker would try them: many idle or half-open
//! connections, a body that never finishes, more connections than allowed. The listener
//! keeps answering, and closes what it should.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Bytes;
use axum::routing::{get, post};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

use super::*;

/// A safety net so that a broken test fails instead of hanging; never a timing assertion.
const PATIENCE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

struct Server {
    addr: SocketAddr,
    metrics: Metrics,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Server {
    async fn start(limits: Limits) -> Self {
        let metrics = Metrics::new();
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tcp.local_addr().unwrap();
        let router = Router::new()
            .route("/healthz", get(|| async { "ok\n" }))
            .route(
                "/echo",
                post(|body: Bytes| async move { body.len().to_string() }),
            );
        let stop = CancellationToken::new();
        let listener = Listener {
            name: "http",
            limits,
            metrics: metrics.clone(),
        };
        let task = tokio::spawn(serve(tcp, router, listener, stop.clone()));
        Self {
            addr,
            metrics,
            stop,
            task,
        }
    }

    async fn healthz(&self) -> u16 {
        let client = reqwest::Client::builder()
            .timeout(PATIENCE)
            .build()
            .unwrap();
        let r = client
            .get(format!("http://{}/healthz", self.addr))
            .send()
            .await
            .unwrap();
        r.status().as_u16()
    }

    fn open(&self) -> i64 {
        let label = ListenerLabel { listener: "http" };
        self.metrics.http_connections.get_or_create(&label).get()
    }

    fn limit_reached(&self) -> u64 {
        let label = ListenerLabel { listener: "http" };
        self.metrics
            .http_connection_limit_reached
            .get_or_create(&label)
            .get()
    }

    async fn stop(self) {
        self.stop.cancel();
        tokio::time::timeout(PATIENCE, self.task)
            .await
            .expect("the server stops")
            .unwrap();
    }
}

/// Read until the server closes the connection (end of stream or reset); fails the test
/// if it never does.
async fn closed_by_server(mut s: TcpStream) {
    let mut buf = Vec::new();
    if tokio::time::timeout(PATIENCE, s.read_to_end(&mut buf))
        .await
        .is_err()
    {
        panic!("the server never closed the connection");
    }
}

/// Poll `f` until it holds (an event the test awaits, not a timing assertion).
async fn until(what: &str, f: impl Fn() -> bool) {
    let give_up = tokio::time::Instant::now() + PATIENCE;
    while !f() {
        assert!(
            tokio::time::Instant::now() < give_up,
            "gave up waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn idle_and_half_open_connections_are_closed_and_healthz_keeps_answering() {
    let server = Server::start(Limits {
        header_read_timeout: Duration::from_millis(200),
        idle_timeout: HOUR,
        max_connections: 8,
    })
    .await;
    // Eight times the limit: half send nothing, half the start of a request, forever.
    let mut attackers = Vec::new();
    for i in 0..64 {
        let mut s = TcpStream::connect(server.addr).await.unwrap();
        if i % 2 == 1 {
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                .await
                .unwrap();
        }
        attackers.push(s);
    }
    assert_eq!(server.healthz().await, 200);
    for s in attackers {
        closed_by_server(s).await;
    }
    assert!(server.limit_reached() >= 1);
    until("every connection to close", || server.open() == 0).await;
    server.stop().await;
}

#[tokio::test]
async fn past_max_connections_the_listener_waits_for_one_to_close() {
    let server = Server::start(Limits {
        header_read_timeout: HOUR,
        idle_timeout: HOUR,
        max_connections: 2,
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(server.addr).await.unwrap());
    }
    until("the limit to be reached", || server.limit_reached() >= 1).await;
    assert_eq!(server.open(), 2, "two connections served, the third waits");
    // Closing them makes room: /healthz is served again.
    drop(held);
    assert_eq!(server.healthz().await, 200);
    // Shutdown does not wait for an idle connection.
    let _idle = TcpStream::connect(server.addr).await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn a_body_that_stops_arriving_is_cut_at_the_idle_timeout() {
    let server = Server::start(Limits {
        header_read_timeout: HOUR,
        idle_timeout: Duration::from_millis(200),
        max_connections: 8,
    })
    .await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
        .await
        .unwrap();
    closed_by_server(s).await;
    server.stop().await;
}

#[test]
fn limits_are_checked() {
    assert!(Limits::default().check().is_ok());
    for (bad, key) in [
        (
            Limits {
                header_read_timeout: Duration::ZERO,
                ..Limits::default()
            },
            "header_read_timeout",
        ),
        (
            Limits {
                idle_timeout: Duration::ZERO,
                ..Limits::default()
            },
            "idle_timeout",
        ),
        (
            Limits {
                max_connections: 0,
                ..Limits::default()
            },
            "max_connections",
        ),
    ] {
        assert_eq!(bad.check().unwrap_err().0, key);
    }
}
