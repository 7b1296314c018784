//! Tests of the Mastodon source against a local SSE server shaped like Mastodon's
//! streaming API (with its `/api/v2/instance` announcement): fixture statuses become
//! plain-text posts, bad events and heartbeats are survived, a refused token or a
//! failing server is retried with growing delays, several streams run at once and each
//! reconnects alone.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as Status, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures::StreamExt;
use serde_json::json;
use tokio::net::TcpListener;
use viral_core::time::parse_rfc3339;

use super::*;
use crate::testkit::{within, Running};

const TOKEN: &str = "mastodon-user-token";

/// What the server answers to one request of a stream.
enum Reply {
    Status(u16),
    /// This SSE body, cut into small chunks; then the stream ends (`close`) or stays
    /// open and silent.
    Sse {
        body: String,
        close: bool,
    },
}

/// A request the server saw: path with query, and its Authorization header.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    target: String,
    auth: Option<String>,
}

#[derive(Clone)]
struct Server {
    addr: String,
    announce: bool,
    scripts: Arc<Mutex<HashMap<String, VecDeque<Reply>>>>,
    seen: mpsc::UnboundedSender<Seen>,
}

/// Start the server; `scripts` maps a request target (`/api/v1/streaming/…?tag=…`) to
/// its replies, one per connection; past them a stream stays open and silent.
async fn mastodon_server(
    announce: bool,
    scripts: Vec<(&str, Vec<Reply>)>,
) -> (String, mpsc::UnboundedReceiver<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (seen, requests) = mpsc::unbounded_channel();
    let server = Server {
        addr: addr.clone(),
        announce,
        scripts: Arc::new(Mutex::new(
            scripts
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.into()))
                .collect(),
        )),
        seen,
    };
    let app = Router::new()
        .route("/api/v2/instance", get(instance))
        .fallback(stream)
        .with_state(server);
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), requests)
}

async fn instance(State(s): State<Server>, uri: Uri) -> Response {
    let _ = s.seen.send(Seen {
        target: uri.to_string(),
        auth: None,
    });
    if !s.announce {
        return Status::NOT_FOUND.into_response();
    }
    Json(json!({"domain": "mastodon.example", "title": "Mastodon",
                "configuration": {"urls": {"streaming": format!("ws://{}", s.addr)}}}))
    .into_response()
}

async fn stream(State(s): State<Server>, uri: Uri, headers: HeaderMap) -> Response {
    let target = uri.to_string();
    let auth = headers
        .get("authorization")
        .map(|v| v.to_str().unwrap().to_owned());
    let _ = s.seen.send(Seen {
        target: target.clone(),
        auth: auth.clone(),
    });
    if auth.as_deref() != Some(&format!("Bearer {TOKEN}")) {
        return (
            Status::UNAUTHORIZED,
            Json(json!({"error": "This method requires an authenticated user"})),
        )
            .into_response();
    }
    let reply = s
        .scripts
        .lock()
        .unwrap()
        .get_mut(&target)
        .and_then(VecDeque::pop_front);
    let (body, close) = match reply {
        Some(Reply::Status(code)) => {
            return (
                Status::from_u16(code).unwrap(),
                Json(json!({"error": "scripted"})),
            )
                .into_response()
        }
        Some(Reply::Sse { body, close }) => (body, close),
        None => (String::new(), false),
    };
    // Odd-sized chunks, so lines and events arrive split.
    let chunks: Vec<Result<Vec<u8>, Infallible>> = body
        .into_bytes()
        .chunks(97)
        .map(|c| Ok(c.to_vec()))
        .collect();
    let rest = if close {
        futures::stream::empty().boxed()
    } else {
        futures::stream::pending().boxed()
    };
    let body = Body::from_stream(futures::stream::iter(chunks).chain(rest));
    ([("content-type", "text/event-stream")], body).into_response()
}

fn fixture(name: &str) -> String {
    let path = format!("{}/fixtures/mastodon/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(path).unwrap()
}

/// An SSE `update` event carrying a minimal status.
fn update(n: u32, text: &str) -> String {
    let status = json!({"id": n.to_string(), "uri": format!("https://m.example/users/u/statuses/{n}"),
        "url": format!("https://m.example/@u/{n}"), "created_at": "2024-09-09T19:46:02.000Z",
        "content": format!("<p>{text}</p>"), "spoiler_text": "", "language": "en",
        "account": {"acct": "u"}, "reblog": null});
    format!("event: update\ndata: {status}\n\n")
}

fn config(base: &str, hashtags: &[&str]) -> MastodonConfig {
    MastodonConfig {
        instance: base.to_owned(),
        hashtags: hashtags.iter().map(|t| (*t).to_owned()).collect(),
        ..MastodonConfig::default()
    }
}

fn start(config: MastodonConfig) -> (Running, SourceMonitor, mpsc::UnboundedReceiver<Duration>) {
    let monitor = SourceMonitor::detached(SOURCE);
    let (source, delays) =
        MastodonSource::new(config, TOKEN.into(), monitor.clone()).with_recorded_pauses();
    (Running::start(Box::new(source)), monitor, delays)
}

#[tokio::test]
async fn fixture_statuses_become_plain_text_posts() {
    let (base, mut seen) = mastodon_server(
        true,
        vec![(
            "/api/v1/streaming/hashtag?tag=oceanspray",
            vec![Reply::Sse {
                body: fixture("hashtag.sse"),
                close: false,
            }],
        )],
    )
    .await;
    let (mut run, monitor, _) = start(config(&base, &["#OceanSpray"]));

    let first = run.next_post().await;
    assert_eq!(
        first,
        Post {
            id: "mastodon:https://mastodon.example/users/cranfan/statuses/113106574430213337".into(),
            source: "mastodon".into(),
            text: "Ocean Spray & dreams\nstill a vibe\n\nBog season #OceanSpray https://example.com/cranberries/harvest-2024".into(),
            created_at: parse_rfc3339("2024-09-09T19:46:02.102Z").unwrap(),
            observed_at: None,
            author: Some("cranfan@127.0.0.1".into()),
            url: Some("https://mastodon.example/@cranfan/113106574430213337".into()),
            lang: Some("en".into()),
        }
    );
    // The boost, the delete and the edit in between are not new posts.
    let second = run.next_post().await;
    assert_eq!(second.text, "food talk\n@cranfan cranberries <3");
    assert_eq!(second.author.as_deref(), Some("juice@other.example"));
    assert_eq!(second.lang.as_deref(), Some("de"));
    assert_eq!(
        second.id,
        "mastodon:https://other.example/users/juice/statuses/113106574100000001"
    );

    let discovery = within("a request", seen.recv()).await.unwrap();
    assert_eq!(discovery.target, "/api/v2/instance");
    let streaming = within("a request", seen.recv()).await.unwrap();
    assert_eq!(
        streaming,
        Seen {
            target: "/api/v1/streaming/hashtag?tag=oceanspray".into(),
            auth: Some(format!("Bearer {TOKEN}")),
        }
    );
    let text = monitor.metrics().encode();
    assert!(
        text.contains(r#"viral_source_events_total{source="mastodon"} 5"#),
        "{text}"
    );
    assert!(monitor.bad_counts().is_empty());
    assert!(monitor.health().ready());
    run.stop().await;
}

#[tokio::test]
async fn every_bad_event_is_counted_and_survived() {
    let (base, _seen) = mastodon_server(
        false,
        vec![(
            "/api/v1/streaming/hashtag?tag=oceanspray",
            vec![Reply::Sse {
                body: fixture("bad.sse"),
                close: false,
            }],
        )],
    )
    .await;
    let (mut run, monitor, mut delays) = start(config(&base, &["oceanspray"]));
    assert_eq!(
        run.next_post().await.text,
        "after the bad ones, ocean spray"
    );
    assert_eq!(
        monitor.bad_counts().into_iter().collect::<Vec<_>>(),
        [("invalid_json", 4), ("invalid_post", 1)]
    );
    assert!(
        delays.try_recv().is_err(),
        "bad events do not cost the connection"
    );
    run.stop().await;
}

#[tokio::test]
async fn a_refused_token_or_a_failing_server_is_retried_with_growing_delays() {
    let target = "/api/v1/streaming/hashtag?tag=oceanspray";
    let (base, mut seen) = mastodon_server(
        false,
        vec![(
            target,
            vec![
                Reply::Status(401),
                Reply::Status(503),
                Reply::Status(502),
                Reply::Sse {
                    body: update(1, "ocean spray at last"),
                    close: false,
                },
            ],
        )],
    )
    .await;
    let (mut run, monitor, mut delays) = start(config(&base, &["oceanspray"]));
    assert_eq!(run.next_post().await.text, "ocean spray at last");
    let s = Duration::from_secs;
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(within("a retry", delays.recv()).await.unwrap());
    }
    assert_eq!(got, [s(1), s(2), s(4)]);
    let mut streams = 0;
    while let Ok(request) = seen.try_recv() {
        if request.target == target {
            streams += 1;
            assert_eq!(
                request.auth,
                Some(format!("Bearer {TOKEN}")),
                "every attempt is authenticated"
            );
        }
    }
    assert_eq!(streams, 4);
    let text = monitor.metrics().encode();
    assert!(
        text.contains(r#"viral_source_reconnects_total{source="mastodon"} 3"#),
        "{text}"
    );
    run.stop().await;
}

#[tokio::test]
async fn hashtag_and_public_streams_run_at_once_and_each_reconnects_alone() {
    let (base, mut seen) = mastodon_server(
        false,
        vec![
            (
                "/api/v1/streaming/hashtag/local?tag=oceanspray",
                vec![
                    Reply::Sse {
                        body: update(1, "ocean spray one"),
                        close: true,
                    },
                    Reply::Sse {
                        body: update(2, "ocean spray two"),
                        close: false,
                    },
                ],
            ),
            (
                "/api/v1/streaming/hashtag/local?tag=cranberry",
                vec![Reply::Sse {
                    body: update(3, "cranberry"),
                    close: false,
                }],
            ),
            (
                "/api/v1/streaming/public/local",
                vec![Reply::Sse {
                    body: update(4, "public"),
                    close: false,
                }],
            ),
        ],
    )
    .await;
    let mut c = config(&base, &["oceanspray", "Cranberry"]);
    c.public = true;
    c.local_only = true;
    c.streaming_url = Some(base.replace("http://", "ws://"));
    let (mut run, monitor, mut delays) = start(c);

    let mut texts = Vec::new();
    for _ in 0..4 {
        texts.push(run.next_post().await.text);
    }
    texts.sort();
    assert_eq!(
        texts,
        ["cranberry", "ocean spray one", "ocean spray two", "public"]
    );
    assert_eq!(delays.recv().await, Some(Duration::from_secs(1)));
    let mut targets = Vec::new();
    for _ in 0..4 {
        targets.push(within("a request", seen.recv()).await.unwrap().target);
    }
    targets.sort();
    assert_eq!(
        targets,
        [
            "/api/v1/streaming/hashtag/local?tag=cranberry",
            "/api/v1/streaming/hashtag/local?tag=oceanspray",
            "/api/v1/streaming/hashtag/local?tag=oceanspray",
            "/api/v1/streaming/public/local",
        ],
        "a configured streaming_url is used without asking the instance"
    );
    let text = monitor.metrics().encode();
    assert!(
        text.contains(r#"viral_source_reconnects_total{source="mastodon"} 1"#),
        "{text}"
    );
    assert!(monitor.health().ready());
    run.stop().await;
}

#[tokio::test]
async fn a_silent_stream_is_given_up_and_reopened() {
    let (base, _seen) = mastodon_server(
        false,
        vec![(
            "/api/v1/streaming/hashtag?tag=oceanspray",
            vec![
                Reply::Sse {
                    body: String::new(),
                    close: false,
                },
                Reply::Sse {
                    body: format!(":)\n{}", update(9, "ocean spray")),
                    close: false,
                },
            ],
        )],
    )
    .await;
    let mut c = config(&base, &["oceanspray"]);
    c.idle_timeout = Duration::from_millis(200);
    let (mut run, _monitor, mut delays) = start(c);
    assert_eq!(run.next_post().await.text, "ocean spray");
    assert_eq!(delays.recv().await, Some(Duration::from_secs(1)));
    run.stop().await;
}

#[test]
fn sse_lines_make_events_as_the_spec_says() {
    let mut p = sse::Parser::new(16);
    let mut events = Vec::new();
    for line in [
        ":thump",
        "event: update",
        "data: one",
        "data:two",
        "id: 1",
        "",
        "",
        "event: only a type",
        "",
        "data",
        "",
        "data: 0123456789abcdef!",
        "",
        "event: delete",
        "data: 42",
        "",
    ] {
        events.extend(p.feed(line.as_bytes()));
    }
    let got: Vec<_> = events
        .iter()
        .map(|e| (e.kind.as_str(), e.data.as_str(), e.too_large))
        .collect();
    assert_eq!(
        got,
        [
            ("update", "one\ntwo", false),
            ("message", "", false),
            ("message", "", true),
            ("delete", "42", false),
        ]
    );
}

#[test]
fn html_becomes_the_text_a_reader_sees() {
    for (html, text) in [
        ("<p>a &amp; b<br>c</p><p>d</p>", "a & b\nc\n\nd"),
        ("<p>unclosed <b>bold", "unclosed bold"),
        ("no markup at all", "no markup at all"),
        ("<p>a</p><ul><li>one</li><li>two</li></ul>", "a\none\ntwo"),
        ("", ""),
    ] {
        assert_eq!(status::html_to_text(html), text, "{html}");
    }
}

#[test]
fn configuration_errors_name_the_key() {
    let good = config("https://mastodon.social", &["oceanspray"]);
    assert_eq!(good.validate(), Ok(()));
    for (c, key) in [
        (
            MastodonConfig {
                instance: String::new(),
                ..good.clone()
            },
            "instance",
        ),
        (
            MastodonConfig {
                instance: "ftp://x".into(),
                ..good.clone()
            },
            "instance",
        ),
        (
            MastodonConfig {
                hashtags: vec![],
                ..good.clone()
            },
            "hashtags",
        ),
        (
            MastodonConfig {
                hashtags: vec!["ocean spray".into()],
                ..good.clone()
            },
            "hashtags",
        ),
        (
            MastodonConfig {
                streaming_url: Some("gopher://x".into()),
                ..good.clone()
            },
            "streaming_url",
        ),
        (
            MastodonConfig {
                idle_timeout: Duration::ZERO,
                ..good.clone()
            },
            "idle_timeout",
        ),
    ] {
        assert_eq!(c.validate().unwrap_err().key, key);
    }
    let public_only = MastodonConfig {
        hashtags: vec![],
        public: true,
        ..good
    };
    assert_eq!(public_only.validate(), Ok(()));
}

#[tokio::test]
async fn a_status_url_that_is_not_a_web_address_is_never_passed_on() {
    let status = |n: u32, url: &str| {
        let status = json!({"id": n.to_string(), "uri": format!("https://m.example/users/u/statuses/{n}"),
            "url": url, "created_at": "2024-09-09T19:46:02.000Z",
            "content": "<p>ocean spray</p>", "account": {"acct": "u"}});
        format!("event: update\ndata: {status}\n\n")
    };
    let body = status(1, "javascript:alert(document.domain)")
        + &status(2, "data:text/html,<script>alert(1)</script>")
        + &status(3, "https://m.example/@u/3");
    let (base, _seen) = mastodon_server(
        false,
        vec![(
            "/api/v1/streaming/hashtag?tag=oceanspray",
            vec![Reply::Sse { body, close: false }],
        )],
    )
    .await;
    let (mut run, _monitor, _) = start(config(&base, &["oceanspray"]));
    let mut urls = Vec::new();
    for _ in 0..3 {
        urls.push(run.next_post().await.url);
    }
    // The status's own ActivityPub id stands in when `url` is not a web address.
    assert_eq!(
        urls,
        [
            Some("https://m.example/users/u/statuses/1".to_owned()),
            Some("https://m.example/users/u/statuses/2".to_owned()),
            Some("https://m.example/@u/3".to_owned()),
        ]
    );
    run.stop().await;
}
