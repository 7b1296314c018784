//! Tests of the Jetstream source against a local websocket server that speaks like
//! Jetstream: fixture events become posts, bad events are survived, a lost or silent
//! connection is resumed from the cursor (rewound), a restart resumes from the saved
//! cursor, and refused connections back off with growing delays that reset once a
//! connection works.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::Message;
use viral_core::time::parse_rfc3339;

use super::*;
use crate::testkit::{fixture_lines, within, Running};

/// What the server does on one connection.
#[derive(Clone)]
enum Step {
    Text(String),
    Binary,
    /// Send a close frame and end the connection.
    Close,
}

/// A Jetstream stand-in on 127.0.0.1. Connection i plays `scripts[i]` and then stays
/// open and silent (as does every connection past the scripts). Each connection's
/// request path and query are sent to the returned receiver as it is accepted.
async fn jetstream_server(scripts: Vec<Vec<Step>>) -> (String, mpsc::UnboundedReceiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (format!("ws://{addr}"), serve(listener, scripts))
}

fn serve(listener: TcpListener, scripts: Vec<Vec<Step>>) -> mpsc::UnboundedReceiver<String> {
    let (requests_tx, requests) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut scripts = scripts.into_iter();
        while let Ok((tcp, _)) = listener.accept().await {
            let script = scripts.next().unwrap_or_default();
            let requests_tx = requests_tx.clone();
            tokio::spawn(async move {
                let mut uri = String::new();
                // The signature is tungstenite's; the large error type is not ours.
                #[allow(clippy::result_large_err)]
                let callback = |req: &Request, resp: Response| {
                    uri = req.uri().to_string();
                    Ok(resp)
                };
                let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(tcp, callback).await else {
                    return;
                };
                let _ = requests_tx.send(uri);
                for step in script {
                    let sent = match step {
                        Step::Text(t) => ws.send(Message::text(t)).await,
                        Step::Binary => {
                            ws.send(Message::binary(vec![0x28, 0xb5, 0x2f, 0xfd])).await
                        }
                        Step::Close => {
                            let _ = ws.close(None).await;
                            return;
                        }
                    };
                    if sent.is_err() {
                        return;
                    }
                }
                // Silent but alive: answer pings and the client's close.
                while let Some(Ok(_)) = ws.next().await {}
            });
        }
    });
    requests
}

fn config(host: &str, dir: &tempfile::TempDir) -> JetstreamConfig {
    JetstreamConfig {
        host: host.to_owned(),
        cursor_path: dir.path().join("state/jetstream.cursor"),
        // Saved only on disconnects and at shutdown, so the tests know when.
        cursor_interval: Duration::from_secs(3600),
        ..JetstreamConfig::default()
    }
}

fn start(config: JetstreamConfig) -> (Running, SourceMonitor, mpsc::UnboundedReceiver<Duration>) {
    let monitor = SourceMonitor::detached(SOURCE);
    let (source, delays) = JetstreamSource::new(config, monitor.clone()).with_recorded_pauses();
    (Running::start(Box::new(source)), monitor, delays)
}

fn texts(lines: &[String]) -> Vec<Step> {
    lines.iter().map(|l| Step::Text(l.clone())).collect()
}

/// A post event at `time_us` with record key `rkey`.
fn post_event(rkey: &str, time_us: i64) -> String {
    format!(
        r#"{{"did":"did:plc:abc","time_us":{time_us},"kind":"commit","commit":{{"rev":"r","operation":"create","collection":"app.bsky.feed.post","rkey":"{rkey}","record":{{"$type":"app.bsky.feed.post","createdAt":"2024-09-09T19:46:02Z","text":"ocean spray {rkey}"}},"cid":"c"}}}}"#
    )
}

fn query_param(uri: &str, key: &str) -> Option<String> {
    let url = reqwest::Url::parse(&format!("ws://h{uri}")).unwrap();
    url.query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

async fn saved_cursor(dir: &tempfile::TempDir) -> String {
    tokio::fs::read_to_string(dir.path().join("state/jetstream.cursor"))
        .await
        .unwrap()
        .trim()
        .to_owned()
}

#[tokio::test]
async fn fixture_events_become_posts_and_the_rest_is_skipped() {
    let (host, mut requests) =
        jetstream_server(vec![texts(&fixture_lines("jetstream/events.jsonl"))]).await;
    let dir = tempfile::tempdir().unwrap();
    let (mut run, monitor, _) = start(config(&host, &dir));

    let first = run.next_post().await;
    assert_eq!(
        first,
        Post {
            id: "bluesky:at://did:plc:eygmaihciaxprqvxpfvl6flk/app.bsky.feed.post/3l3qo2vuowo2b"
                .into(),
            source: "bluesky".into(),
            text: "Ocean Spray and Dreams, still a vibe".into(),
            created_at: parse_rfc3339("2024-09-09T19:46:02.102Z").unwrap(),
            observed_at: Some(parse_rfc3339("2024-09-09T19:46:02.329308Z").unwrap()),
            author: Some("did:plc:eygmaihciaxprqvxpfvl6flk".into()),
            url: Some(
                "https://bsky.app/profile/did:plc:eygmaihciaxprqvxpfvl6flk/post/3l3qo2vuowo2b"
                    .into()
            ),
            lang: Some("en".into()),
        }
    );
    let reply = run.next_post().await;
    assert_eq!(reply.text, "the bog is calling 🫐 #OceanSpray");
    assert_eq!(reply.lang.as_deref(), Some("en"));
    // The delete and the update in between are not posts.
    let image_only = run.next_post().await;
    assert_eq!((image_only.text.as_str(), image_only.lang), ("", None));
    let no_zone = run.next_post().await;
    assert_eq!(no_zone.author.as_deref(), Some("did:web:ocean.example.com"));
    assert_eq!(
        Some(no_zone.created_at),
        no_zone.observed_at,
        "a createdAt that is not RFC 3339 falls back to time_us"
    );

    let uri = within("the subscription", requests.recv()).await.unwrap();
    assert!(uri.starts_with("/subscribe?"), "{uri}");
    assert_eq!(
        query_param(&uri, "wantedCollections").as_deref(),
        Some("app.bsky.feed.post")
    );
    assert_eq!(query_param(&uri, "cursor"), None, "no saved cursor: live");
    let text = monitor.metrics().encode();
    assert!(
        text.contains(r#"viral_source_events_total{source="bluesky"} 8"#),
        "{text}"
    );
    assert!(monitor.bad_counts().is_empty());
    assert!(monitor.health().ready());

    run.stop().await;
    assert_eq!(
        saved_cursor(&dir).await,
        "1725911162900000",
        "saved at shutdown"
    );
}

#[tokio::test]
async fn every_bad_event_is_counted_and_survived() {
    let mut script = texts(&fixture_lines("jetstream/bad.jsonl"));
    script.push(Step::Binary);
    script.push(Step::Text(post_event("after", 1_725_911_164_000_000)));
    let (host, _requests) = jetstream_server(vec![script]).await;
    let dir = tempfile::tempdir().unwrap();
    let (mut run, monitor, mut delays) = start(config(&host, &dir));

    assert_eq!(run.next_post().await.text, "ocean spray after");
    assert_eq!(
        monitor.bad_counts().into_iter().collect::<Vec<_>>(),
        [
            ("binary_frame", 1),
            ("invalid_json", 4),
            ("invalid_post", 4)
        ]
    );
    assert!(
        delays.try_recv().is_err(),
        "bad events do not cost the connection"
    );
    let text = monitor.metrics().encode();
    assert!(
        text.contains(r#"viral_source_bad_events_total{source="bluesky",kind="invalid_post"} 4"#),
        "{text}"
    );
    run.stop().await;
}

#[tokio::test]
async fn a_lost_connection_resumes_from_the_cursor_rewound() {
    let t1 = 1_725_911_162_000_000;
    let t2 = t1 + 1_500_000;
    let (host, mut requests) = jetstream_server(vec![
        vec![
            Step::Text(post_event("a", t1)),
            Step::Text(post_event("b", t2)),
            Step::Close,
        ],
        vec![Step::Text(post_event("c", t2 + 1))],
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (mut run, monitor, mut delays) = start(config(&host, &dir));

    for want in ["a", "b", "c"] {
        assert_eq!(run.next_post().await.text, format!("ocean spray {want}"));
    }
    let first = within("a request", requests.recv()).await.unwrap();
    assert_eq!(query_param(&first, "cursor"), None);
    let second = within("a request", requests.recv()).await.unwrap();
    assert_eq!(
        query_param(&second, "cursor"),
        Some((t2 - 5_000_000).to_string()),
        "resumes 5 s (rewind) before the last event handled"
    );
    assert_eq!(
        delays.recv().await,
        Some(Duration::from_secs(1)),
        "the first retry waits reconnect_min"
    );
    let text = monitor.metrics().encode();
    assert!(
        text.contains(r#"viral_source_reconnects_total{source="bluesky"} 1"#),
        "{text}"
    );
    run.stop().await;
    assert_eq!(saved_cursor(&dir).await, (t2 + 1).to_string());
}

#[tokio::test]
async fn a_silent_connection_is_given_up_and_reopened() {
    let (host, mut requests) = jetstream_server(vec![
        vec![],
        vec![Step::Text(post_event("x", 1_725_911_162_000_000))],
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(&host, &dir);
    c.idle_timeout = Duration::from_millis(200);
    let (mut run, _monitor, mut delays) = start(c);

    assert_eq!(run.next_post().await.text, "ocean spray x");
    within("a request", requests.recv()).await.unwrap();
    within("a request", requests.recv()).await.unwrap();
    assert_eq!(delays.recv().await, Some(Duration::from_secs(1)));
    run.stop().await;
}

/// The subscription a source starts with when the cursor file holds `saved`.
async fn first_subscription(saved: Option<String>) -> String {
    let (host, mut requests) = jetstream_server(vec![]).await;
    let dir = tempfile::tempdir().unwrap();
    let c = config(&host, &dir);
    if let Some(saved) = saved {
        std::fs::create_dir_all(c.cursor_path.parent().unwrap()).unwrap();
        std::fs::write(&c.cursor_path, saved).unwrap();
    }
    let (run, _monitor, _delays) = start(c);
    let uri = within("a request", requests.recv()).await.unwrap();
    run.stop().await;
    uri
}

#[tokio::test]
async fn a_restart_resumes_from_the_saved_cursor_unless_it_is_unusable() {
    let recent = now_us() - 10_000_000;
    let uri = first_subscription(Some(format!("{recent}\n"))).await;
    assert_eq!(
        query_param(&uri, "cursor"),
        Some((recent - 5_000_000).to_string())
    );

    let too_old = now_us() - 2 * 3600 * 1_000_000;
    let uri = first_subscription(Some(too_old.to_string())).await;
    assert_eq!(
        query_param(&uri, "cursor"),
        None,
        "older than max_replay: live"
    );

    let uri = first_subscription(Some("not a number".into())).await;
    assert_eq!(query_param(&uri, "cursor"), None, "unreadable: live");
}

#[tokio::test]
async fn refused_connections_back_off_forever_and_a_working_one_resets_the_backoff() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(&format!("ws://{addr}"), &dir);
    c.reconnect_max = Duration::from_secs(8);
    let (mut run, monitor, mut delays) = start(c);

    let mut refused = Vec::new();
    for _ in 0..6 {
        refused.push(within("a retry", delays.recv()).await.unwrap());
    }
    let s = Duration::from_secs;
    assert_eq!(refused, [s(1), s(2), s(4), s(8), s(8), s(8)]);
    assert!(
        monitor.health().ready(),
        "not yet disconnected for unready_after"
    );

    // The service comes back on the same address.
    let listener = TcpListener::bind(addr).await.unwrap();
    let mut requests = serve(
        listener,
        vec![vec![
            Step::Text(post_event("back", 1_725_911_162_000_000)),
            Step::Close,
        ]],
    );
    assert_eq!(run.next_post().await.text, "ocean spray back");
    within("a request", requests.recv()).await.unwrap();
    within("a request", requests.recv()).await.unwrap();
    let mut rest = Vec::new();
    while let Ok(d) = delays.try_recv() {
        rest.push(d);
    }
    assert_eq!(
        rest.last(),
        Some(&s(1)),
        "after a working connection: {rest:?}"
    );
    assert!(
        rest[..rest.len() - 1].iter().all(|d| *d == s(8)),
        "{rest:?}"
    );
    run.stop().await;
}

#[test]
fn configuration_errors_name_the_key() {
    let mut c = JetstreamConfig::default();
    assert_eq!(c.validate(), Ok(()));
    assert_eq!(
        c.subscribe_url(Some(42)).unwrap().as_str(),
        "wss://jetstream2.us-east.bsky.network/subscribe?wantedCollections=app.bsky.feed.post&cursor=42"
    );
    c.host = "http://example.com".into();
    assert_eq!(c.validate().unwrap_err().key, "host");
    c.host = String::new();
    assert_eq!(c.validate().unwrap_err().key, "host");
    c = JetstreamConfig {
        reconnect_min: Duration::from_secs(10),
        reconnect_max: Duration::from_secs(1),
        ..JetstreamConfig::default()
    };
    assert_eq!(c.validate().unwrap_err().key, "reconnect_max");
    c = JetstreamConfig {
        idle_timeout: Duration::ZERO,
        ..JetstreamConfig::default()
    };
    assert_eq!(c.validate().unwrap_err().key, "idle_timeout");
}

#[tokio::test]
async fn a_time_us_out_of_range_moves_neither_the_cursor_nor_time() {
    let t1 = 1_725_911_162_000_000;
    let year_9999 = 253_402_300_799_000_000;
    let identity_far_ahead = format!(
        r#"{{"did":"did:plc:abc","time_us":{},"kind":"identity"}}"#,
        i64::MAX
    );
    let (host, _requests) = jetstream_server(vec![vec![
        Step::Text(post_event("a", t1)),
        Step::Text(post_event("future", year_9999)),
        Step::Text(post_event("negative", -5)),
        Step::Text(identity_far_ahead),
        Step::Text(post_event("d", t1 + 1)),
    ]])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (mut run, monitor, _) = start(config(&host, &dir));
    assert_eq!(run.next_post().await.text, "ocean spray a");
    let d = run.next_post().await;
    assert_eq!(
        d.text, "ocean spray d",
        "the out-of-range events are skipped"
    );
    assert_eq!(
        monitor.bad_counts().into_iter().collect::<Vec<_>>(),
        [("invalid_time", 3)]
    );
    run.stop().await;
    assert_eq!(saved_cursor(&dir).await, (t1 + 1).to_string());
}
