//! A real HTTP server for notifier tests: binds a free loopback port, answers 200 (or
//! whatever status the test sets, to play a receiver that is down), and hands every
//! request (headers, body, the status it got) to the test through a channel, so tests
//! await deliveries instead of sleeping.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use tokio::sync::mpsc;

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HashMap<String, String>,
    pub body: serde_json::Value,
    /// The status the receiver answered with.
    pub status: u16,
}

pub struct Receiver {
    pub addr: SocketAddr,
    pub requests: mpsc::UnboundedReceiver<Received>,
    answer: Arc<AtomicU16>,
}

impl Receiver {
    /// The URL notifiers should POST to.
    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// Answer every following request with `status` (200 at the start).
    pub fn answer(&self, status: u16) {
        self.answer.store(status, Ordering::SeqCst);
    }
}

/// Start a receiver on 127.0.0.1 with a free port; it runs until the runtime stops.
pub async fn start() -> Receiver {
    let (tx, requests) = mpsc::unbounded_channel();
    let answer = Arc::new(AtomicU16::new(200));
    let status_of = answer.clone();
    let app = Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: Bytes| {
            let tx = tx.clone();
            let status = status_of.load(Ordering::SeqCst);
            async move {
                let headers = headers
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
                    .collect();
                let body = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
                let _ = tx.send(Received {
                    headers,
                    body,
                    status,
                });
                let code = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
                (code, "ok")
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let addr = listener.local_addr().expect("local address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Receiver {
        addr,
        requests,
        answer,
    }
}
