//! Tests of the X source against a local server speaking the filtered stream's protocol:
//! rule endpoints that keep state, a chunked stream with `\r\n` keep-alives, scripted
//! 429/5xx answers. They check rule sync (missing added, stale deleted, tagged by topic),
//! parsing, the backoff sequence X prescribes, stalls, and that every bad line is
//! survived. (The backoff policy's exact sequences are tested in backoff.rs.)

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as Status, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures::StreamExt;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use viral_core::time::parse_rfc3339;

use super::*;
use crate::testkit::{fixture_lines, within, Running};

const TOKEN: &str = "x-app-bearer";

enum Reply {
    Status(u16),
    /// These lines, each ended by `\r\n`; then the stream ends (`close`) or stays open
    /// and silent.
    Lines {
        lines: Vec<String>,
        close: bool,
    },
}

/// A request the server saw.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    method: &'static str,
    target: String,
    body: Option<Value>,
}

#[derive(Clone)]
struct Server {
    rules: Arc<Mutex<Vec<(String, String, String)>>>,
    next_id: Arc<AtomicU64>,
    rules_failures: Arc<Mutex<VecDeque<u16>>>,
    stream: Arc<Mutex<VecDeque<Reply>>>,
    seen: mpsc::UnboundedSender<Seen>,
}

struct X {
    url: String,
    seen: mpsc::UnboundedReceiver<Seen>,
    rules: Arc<Mutex<Vec<(String, String, String)>>>,
}

async fn x_server(initial_rules: Value, rules_failures: Vec<u16>, stream: Vec<Reply>) -> X {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let rules: Vec<(String, String, String)> = initial_rules["data"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|r| {
                    let s = |k: &str| r[k].as_str().unwrap().to_owned();
                    (s("id"), s("value"), s("tag"))
                })
                .collect()
        })
        .unwrap_or_default();
    let (seen, seen_rx) = mpsc::unbounded_channel();
    let server = Server {
        rules: Arc::new(Mutex::new(rules)),
        next_id: Arc::new(AtomicU64::new(1_900_000_000_000_000_000)),
        rules_failures: Arc::new(Mutex::new(rules_failures.into())),
        stream: Arc::new(Mutex::new(stream.into())),
        seen,
    };
    let rules = server.rules.clone();
    let app = Router::new()
        .route(
            "/2/tweets/search/stream/rules",
            get(list_rules).post(change_rules),
        )
        .route("/2/tweets/search/stream", get(filtered_stream))
        .with_state(server);
    tokio::spawn(async move { axum::serve(listener, app).await });
    X {
        url,
        seen: seen_rx,
        rules,
    }
}

fn authorised(headers: &HeaderMap) -> bool {
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {TOKEN}"))
}

fn unauthorised() -> Response {
    (Status::UNAUTHORIZED, Json(json!({"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"}))).into_response()
}

async fn list_rules(State(s): State<Server>, uri: Uri, headers: HeaderMap) -> Response {
    let _ = s.seen.send(Seen {
        method: "GET",
        target: uri.to_string(),
        body: None,
    });
    if !authorised(&headers) {
        return unauthorised();
    }
    if let Some(code) = s.rules_failures.lock().unwrap().pop_front() {
        return (
            Status::from_u16(code).unwrap(),
            Json(json!({"title": "scripted"})),
        )
            .into_response();
    }
    let rules = s.rules.lock().unwrap().clone();
    let meta = json!({"sent": "2024-09-09T19:40:00.000Z", "result_count": rules.len()});
    if rules.is_empty() {
        return Json(json!({ "meta": meta })).into_response();
    }
    let data: Vec<Value> = rules
        .iter()
        .map(|(id, value, tag)| json!({"id": id, "value": value, "tag": tag}))
        .collect();
    Json(json!({ "data": data, "meta": meta })).into_response()
}

async fn change_rules(
    State(s): State<Server>,
    uri: Uri,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let _ = s.seen.send(Seen {
        method: "POST",
        target: uri.to_string(),
        body: Some(body.clone()),
    });
    if !authorised(&headers) {
        return unauthorised();
    }
    let mut rules = s.rules.lock().unwrap();
    if let Some(ids) = body.pointer("/delete/ids").and_then(Value::as_array) {
        let before = rules.len();
        rules.retain(|(id, _, _)| !ids.iter().any(|x| x.as_str() == Some(id)));
        let deleted = before - rules.len();
        return Json(json!({"meta": {"sent": "2024-09-09T19:40:01.000Z", "summary": {"deleted": deleted, "not_deleted": ids.len() - deleted}}})).into_response();
    }
    let mut data = Vec::new();
    for r in body["add"].as_array().cloned().unwrap_or_default() {
        let id = s.next_id.fetch_add(1, Ordering::SeqCst).to_string();
        let (value, tag) = (
            r["value"].as_str().unwrap().to_owned(),
            r["tag"].as_str().unwrap_or("").to_owned(),
        );
        data.push(json!({"id": id, "value": value, "tag": tag}));
        rules.push((id, value, tag));
    }
    let n = data.len();
    (Status::CREATED, Json(json!({"data": data, "meta": {"sent": "2024-09-09T19:40:02.000Z", "summary": {"created": n, "not_created": 0, "valid": n, "invalid": 0}}}))).into_response()
}

async fn filtered_stream(State(s): State<Server>, uri: Uri, headers: HeaderMap) -> Response {
    let _ = s.seen.send(Seen {
        method: "GET",
        target: uri.to_string(),
        body: None,
    });
    if !authorised(&headers) {
        return unauthorised();
    }
    let (lines, close) = match s.stream.lock().unwrap().pop_front() {
        Some(Reply::Status(code)) => {
            return (
                Status::from_u16(code).unwrap(),
                Json(json!({"title": "scripted", "status": code})),
            )
                .into_response()
        }
        Some(Reply::Lines { lines, close }) => (lines, close),
        None => (Vec::new(), false),
    };
    let chunks: Vec<Result<String, Infallible>> =
        lines.into_iter().map(|l| Ok(l + "\r\n")).collect();
    let rest = if close {
        futures::stream::empty().boxed()
    } else {
        futures::stream::pending().boxed()
    };
    let body = Body::from_stream(futures::stream::iter(chunks).chain(rest));
    ([("content-type", "application/json")], body).into_response()
}

fn topics() -> Vec<(String, Vec<String>)> {
    vec![
        (
            "ocean-spray".into(),
            vec!["ocean spray".into(), "oceanspray".into()],
        ),
        ("cranberry".into(), vec!["cranberry".into()]),
    ]
}

fn start(
    url: &str,
    tweak: impl FnOnce(&mut XConfig),
) -> (Running, SourceMonitor, mpsc::UnboundedReceiver<Duration>) {
    let mut config = XConfig {
        api_url: url.to_owned(),
        ..XConfig::default()
    };
    tweak(&mut config);
    let monitor = SourceMonitor::detached(SOURCE);
    let (source, delays) =
        XSource::new(config, TOKEN.into(), topics(), monitor.clone()).with_recorded_pauses();
    (Running::start(Box::new(source)), monitor, delays)
}

fn fixture_json(name: &str) -> Value {
    serde_json::from_str(&fixture_lines(name).join("\n")).unwrap()
}

/// A stream line carrying post `id`.
fn tweet(id: u64, text: &str) -> String {
    json!({"data": {"id": id.to_string(), "text": text, "author_id": "12", "created_at": "2024-09-09T19:46:02.000Z",
                    "edit_history_tweet_ids": [id.to_string()]},
           "matching_rules": [{"id": "1", "tag": "ocean-spray"}]})
    .to_string()
}

fn stream_lines(name: &str) -> Vec<String> {
    // Blank lines in the fixture are X's keep-alives; fixture_lines drops them, so read raw.
    let path = format!("{}/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

const STREAM_TARGET: &str = "/2/tweets/search/stream?tweet.fields=created_at%2Cauthor_id%2Clang";
const RULES_TARGET: &str = "/2/tweets/search/stream/rules";

#[tokio::test]
async fn rules_follow_the_topics_and_then_posts_stream() {
    let mut x = x_server(
        fixture_json("x/rules.json"),
        vec![],
        vec![Reply::Lines {
            lines: stream_lines("x/stream.jsonl"),
            close: false,
        }],
    )
    .await;
    let (mut run, monitor, _) = start(&x.url, |_| {});

    let first = run.next_post().await;
    assert_eq!(
        Post {
            observed_at: None,
            ..first.clone()
        },
        Post {
            id: "x:1833218477311709573".into(),
            source: "x".into(),
            text: "Ocean Spray and Dreams, still a vibe https://t.co/abcDEF1234".into(),
            created_at: parse_rfc3339("2024-09-09T19:46:02Z").unwrap(),
            observed_at: None,
            author: Some("2244994945".into()),
            url: Some("https://x.com/i/web/status/1833218477311709573".into()),
            lang: Some("en".into()),
        }
    );
    assert!(first.observed_at.is_some());
    let second = run.next_post().await;
    assert_eq!(
        (second.text.as_str(), second.lang),
        ("🫐🫐🫐 #cranberry", None),
        "lang und is no language"
    );
    let third = run.next_post().await;
    assert_eq!(third.text, "@jack oceanspray &amp; cranberry juice, both");

    let mut requests = Vec::new();
    for _ in 0..4 {
        requests.push(within("a request", x.seen.recv()).await.unwrap());
    }
    assert_eq!(
        requests[0],
        Seen {
            method: "GET",
            target: RULES_TARGET.into(),
            body: None
        }
    );
    assert_eq!(
        requests[1].body,
        Some(json!({"delete": {"ids": ["1833218411185242114", "1833218411185242113"]}})),
        "the rule of an old topic and the outdated one are deleted"
    );
    assert_eq!(
        requests[2].body,
        Some(json!({"add": [{"value": "\"cranberry\" -is:retweet", "tag": "cranberry"}]})),
        "only the missing rule is added"
    );
    assert_eq!(requests[3].target, STREAM_TARGET);
    let mut now: Vec<(String, String)> = x
        .rules
        .lock()
        .unwrap()
        .iter()
        .map(|(_, v, t)| (v.clone(), t.clone()))
        .collect();
    now.sort();
    assert_eq!(
        now,
        [
            (
                "\"cranberry\" -is:retweet".to_owned(),
                "cranberry".to_owned()
            ),
            (
                "(\"ocean spray\" OR \"oceanspray\") -is:retweet".to_owned(),
                "ocean-spray".to_owned()
            ),
        ]
    );
    let text = monitor.metrics().encode();
    assert!(
        text.contains(r#"viral_source_events_total{source="x"} 3"#),
        "keep-alives are not events: {text}"
    );
    assert!(monitor.health().ready());
    run.stop().await;
}

#[tokio::test]
async fn rules_already_in_sync_are_left_alone() {
    let want = rules::desired(&topics(), "-is:retweet", 512).unwrap();
    let initial: Vec<Value> = want
        .iter()
        .enumerate()
        .map(|(i, r)| json!({"id": i.to_string(), "value": r.value, "tag": r.tag}))
        .collect();
    let mut x = x_server(
        json!({"data": initial}),
        vec![],
        vec![Reply::Lines {
            lines: vec![tweet(7, "ocean spray")],
            close: false,
        }],
    )
    .await;
    let (mut run, _monitor, _) = start(&x.url, |_| {});
    assert_eq!(run.next_post().await.id, "x:7");
    let first = within("a request", x.seen.recv()).await.unwrap();
    let second = within("a request", x.seen.recv()).await.unwrap();
    assert_eq!((first.method, first.target.as_str()), ("GET", RULES_TARGET));
    assert_eq!(second.target, STREAM_TARGET, "no POST in between");
    run.stop().await;
}

#[tokio::test]
async fn a_failing_rules_endpoint_is_retried_before_streaming() {
    let mut x = x_server(
        json!({}),
        vec![503, 429],
        vec![Reply::Lines {
            lines: vec![tweet(8, "ocean spray")],
            close: false,
        }],
    )
    .await;
    let (mut run, _monitor, mut delays) = start(&x.url, |_| {});
    assert_eq!(run.next_post().await.id, "x:8");
    let s = Duration::from_secs;
    assert_eq!(delays.recv().await, Some(s(5)), "HTTP error: 5 s");
    assert_eq!(delays.recv().await, Some(s(60)), "429: 1 min");
    let mut methods = Vec::new();
    while let Ok(seen) = x.seen.try_recv() {
        methods.push((seen.method, seen.target));
    }
    assert_eq!(
        methods,
        [
            ("GET", RULES_TARGET.to_owned()),
            ("GET", RULES_TARGET.to_owned()),
            ("GET", RULES_TARGET.to_owned()),
            ("POST", RULES_TARGET.to_owned()),
            ("GET", STREAM_TARGET.to_owned()),
        ]
    );
    run.stop().await;
}

#[tokio::test]
async fn reconnects_follow_x_guidance() {
    let mut x = x_server(
        json!({}),
        vec![],
        vec![
            Reply::Status(429),
            Reply::Status(429),
            Reply::Status(503),
            Reply::Status(500),
            Reply::Lines {
                lines: vec![String::new(), tweet(1, "ocean spray one")],
                close: true,
            },
            // Connected, then silent: a stall.
            Reply::Lines {
                lines: vec![],
                close: false,
            },
            Reply::Lines {
                lines: vec![tweet(2, "ocean spray two")],
                close: false,
            },
        ],
    )
    .await;
    let (mut run, monitor, mut delays) = start(&x.url, |c| {
        c.sync_rules = false;
        c.stall_timeout = Duration::from_millis(200);
    });
    assert_eq!(run.next_post().await.id, "x:1");
    assert_eq!(run.next_post().await.id, "x:2");
    let mut got = Vec::new();
    for _ in 0..6 {
        got.push(within("a retry", delays.recv()).await.unwrap());
    }
    let (s, ms) = (Duration::from_secs, Duration::from_millis);
    assert_eq!(
        got,
        [s(60), s(120), s(5), s(10), ms(250), ms(500)],
        "429 from 1 min doubling; HTTP errors from 5 s doubling; then a stream that ended (network, \
         linear from 250 ms) and one that stalled (the next step)"
    );
    while let Ok(seen) = x.seen.try_recv() {
        assert_eq!(
            seen.target, STREAM_TARGET,
            "no rules requests with sync_rules = false"
        );
    }
    let text = monitor.metrics().encode();
    assert!(
        text.contains(r#"viral_source_reconnects_total{source="x"} 6"#),
        "{text}"
    );
    run.stop().await;
}

#[tokio::test]
async fn every_bad_line_is_survived_and_an_operational_disconnect_reconnects() {
    let x = x_server(
        json!({}),
        vec![],
        vec![
            Reply::Lines {
                lines: stream_lines("x/bad.jsonl"),
                close: false,
            },
            Reply::Lines {
                lines: vec![tweet(3, "ocean spray again")],
                close: false,
            },
        ],
    )
    .await;
    let (mut run, monitor, mut delays) = start(&x.url, |c| c.sync_rules = false);
    let after = run.next_post().await;
    assert_eq!(after.text, "after the bad ones: ocean spray");
    assert_eq!(
        Some(after.created_at),
        after.observed_at,
        "a bad created_at falls back to arrival"
    );
    assert_eq!(run.next_post().await.id, "x:3");
    assert_eq!(
        delays.recv().await,
        Some(Duration::from_millis(250)),
        "a disconnect is a network error"
    );
    assert_eq!(
        monitor.bad_counts().into_iter().collect::<Vec<_>>(),
        [
            ("invalid_json", 2),
            ("invalid_post", 3),
            ("stream_error", 1)
        ]
    );
    drop(x);
    run.stop().await;
}

#[test]
fn rules_quote_each_term_and_split_long_topics() {
    let topics = vec![
        ("a".to_owned(), vec!["one".to_owned()]),
        (
            "b".to_owned(),
            vec![
                "say \"hi\"".to_owned(),
                "back\\slash".to_owned(),
                "  ".to_owned(),
            ],
        ),
        ("c".to_owned(), (0..6).map(|i| format!("term{i}")).collect()),
    ];
    let got = rules::desired(&topics, "-is:retweet", 44).unwrap();
    let got: Vec<(&str, &str)> = got
        .iter()
        .map(|r| (r.value.as_str(), r.tag.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("\"one\" -is:retweet", "a"),
            ("(\"say \\\"hi\\\"\" OR \"back\\\\slash\") -is:retweet", "b"),
            ("(\"term0\" OR \"term1\" OR \"term2\") -is:retweet", "c"),
            ("(\"term3\" OR \"term4\" OR \"term5\") -is:retweet", "c"),
        ]
    );
    assert!(got.iter().all(|(v, _)| v.chars().count() <= 44));
    let too_long = vec![("d".to_owned(), vec!["x".repeat(40)])];
    assert_eq!(
        rules::desired(&too_long, "-is:retweet", 44)
            .unwrap_err()
            .key,
        "max_rule_length"
    );
    assert_eq!(
        rules::desired(&topics[..1], "", 40).unwrap()[0].value,
        "\"one\""
    );
}

#[test]
fn configuration_errors_name_the_key() {
    assert_eq!(XConfig::default().validate(), Ok(()));
    for (c, key) in [
        (
            XConfig {
                api_url: "api.x.com".into(),
                ..XConfig::default()
            },
            "api_url",
        ),
        (
            XConfig {
                token_env: String::new(),
                ..XConfig::default()
            },
            "token_env",
        ),
        (
            XConfig {
                max_rule_length: 4,
                ..XConfig::default()
            },
            "max_rule_length",
        ),
        (
            XConfig {
                stall_timeout: Duration::ZERO,
                ..XConfig::default()
            },
            "stall_timeout",
        ),
    ] {
        assert_eq!(c.validate().unwrap_err().key, key);
    }
}
