//! Tests of the HTTP ingest against a real client over loopback, with the producer played
//! by the test: 202 only once the batch is acknowledged, a precise 400 for each bad post
//! (and nothing accepted), 401, 413, 429 and 503 where they belong, and every bad request
//! survived and counted.

use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::*;
use crate::testkit::{within, Running};

pub(super) const TOKEN: &str = "s3cret-ingest-token";

pub(super) struct Ingest {
    pub(super) url: String,
    pub(super) acked: mpsc::Receiver<Acked>,
    pub(super) monitor: SourceMonitor,
    pub(super) run: Running,
    pub(super) client: reqwest::Client,
}

impl Ingest {
    pub(super) fn start(tweak: impl FnOnce(&mut HttpIngestConfig)) -> Self {
        let mut config = HttpIngestConfig {
            listen: "127.0.0.1:0".into(),
            ..HttpIngestConfig::default()
        };
        tweak(&mut config);
        let monitor = SourceMonitor::detached(NAME);
        let (tx, acked) = mpsc::channel(8);
        let source = HttpIngestSource::bind(config, TOKEN.into(), monitor.clone(), tx).unwrap();
        let url = format!("http://{}{PATH}", source.local_addr().unwrap());
        Self {
            url,
            acked,
            monitor,
            run: Running::start(Box::new(source)),
            client: reqwest::Client::new(),
        }
    }

    pub(super) fn post(&self, body: impl Into<reqwest::Body>) -> reqwest::RequestBuilder {
        self.client
            .post(&self.url)
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .body(body)
    }

    /// Send in the background, so the test can play the producer meanwhile.
    pub(super) fn send(
        &self,
        body: &Value,
    ) -> tokio::task::JoinHandle<(u16, Value, Option<String>)> {
        let request = self.post(body.to_string());
        tokio::spawn(async move { answer(request).await })
    }
}

pub(super) async fn answer(request: reqwest::RequestBuilder) -> (u16, Value, Option<String>) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    (status, body, retry_after)
}

pub(super) fn post_json(id: &str) -> Value {
    json!({"id": id, "source": "scraper", "text": "Ocean Spray!",
           "created_at": "2020-09-25T18:00:00.123Z", "url": "https://example.com/p/1",
           "an_unknown_field": "is ignored"})
}

#[tokio::test]
async fn a_post_or_an_array_is_answered_202_only_after_the_bus_accepted_it() {
    let mut ingest = Ingest::start(|_| {});
    let request = ingest.send(&post_json("one"));
    let batch = within("a batch", ingest.acked.recv()).await.unwrap();
    assert_eq!(batch.posts.len(), 1);
    assert_eq!(batch.posts[0].id, "one");
    assert_eq!(
        batch.posts[0].url.as_deref(),
        Some("https://example.com/p/1")
    );
    assert!(
        !request.is_finished(),
        "the acknowledgement is still held, so there can be no answer yet"
    );
    batch.done.send(()).unwrap();
    let (status, body, _) = within("the answer", request).await.unwrap();
    assert_eq!((status, body), (202, json!({"accepted": 1})));

    let request = ingest.send(&json!([post_json("a"), post_json("b")]));
    let batch = within("a batch", ingest.acked.recv()).await.unwrap();
    let ids: Vec<_> = batch.posts.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["a", "b"]);
    batch.done.send(()).unwrap();
    assert_eq!(within("the answer", request).await.unwrap().0, 202);

    let (status, body, _) = answer(ingest.post("[]")).await;
    assert_eq!((status, body), (202, json!({"accepted": 0})));
    let text = ingest.monitor.metrics().encode();
    assert!(
        text.contains(r#"viral_source_events_total{source="http"} 3"#),
        "{text}"
    );
    assert!(ingest.monitor.health().ready());
    ingest.run.stop().await;
}

#[tokio::test]
async fn bad_posts_get_a_reason_each_and_nothing_is_accepted() {
    let mut ingest = Ingest::start(|c| c.allowed_sources = vec!["scraper".into()]);
    let mut no_created = post_json("x");
    no_created.as_object_mut().unwrap().remove("created_at");
    let mut bad_time = post_json("y");
    bad_time["created_at"] = json!("yesterday at noon");
    let mut empty_id = post_json("");
    empty_id["id"] = json!("");
    let mut text_number = post_json("z");
    text_number["text"] = json!(42);
    let mut other_source = post_json("w");
    other_source["source"] = json!("elsewhere");
    let body = json!([
        post_json("fine"),
        no_created,
        bad_time,
        empty_id,
        "a string",
        text_number,
        other_source
    ]);
    let (status, body, _) = answer(ingest.post(body.to_string())).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "6 of 7 posts are invalid; none was accepted");
    let problems: Vec<(u64, String)> = body["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["index"].as_u64().unwrap(),
                p["error"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let indexes: Vec<u64> = problems.iter().map(|(i, _)| *i).collect();
    assert_eq!(indexes, [1, 2, 3, 4, 5, 6]);
    let reasons: Vec<&str> = problems.iter().map(|(_, e)| e.as_str()).collect();
    assert!(
        reasons[0].contains("missing field `created_at`"),
        "{reasons:?}"
    );
    assert!(
        reasons[1].starts_with("created_at: invalid RFC 3339 timestamp \"yesterday at noon\""),
        "{reasons:?}"
    );
    assert_eq!(reasons[2], "id: must not be empty");
    assert_eq!(reasons[3], "expected a Post object, got a string");
    assert!(
        reasons[4].starts_with("text: invalid type: integer `42`"),
        "{reasons:?}"
    );
    assert_eq!(
        reasons[5],
        "source: \"elsewhere\" is not accepted here (allowed: scraper)"
    );

    for (body, why) in [
        ("{\"id\": ", "the body is not JSON"),
        ("42", "expected a Post object or a JSON array of Posts"),
    ] {
        let (status, answer_body, _) = answer(ingest.post(body)).await;
        assert_eq!(status, 400);
        assert!(
            answer_body["error"].as_str().unwrap().starts_with(why),
            "{answer_body}"
        );
    }
    assert!(ingest.acked.try_recv().is_err(), "nothing was handed on");
    assert_eq!(
        ingest.monitor.bad_counts().into_iter().collect::<Vec<_>>(),
        [("invalid_json", 2), ("invalid_post", 6)]
    );
    // Still serving.
    let request = ingest.send(&post_json("after"));
    within("a batch", ingest.acked.recv())
        .await
        .unwrap()
        .done
        .send(())
        .unwrap();
    assert_eq!(within("the answer", request).await.unwrap().0, 202);
    ingest.run.stop().await;
}

/// Fields over viral's bounds are the sender's to fix: 400 naming post and field. A long
/// text is not (the producer carries it cut), so a body just under the limit with one
/// ~1 MB post goes on.
#[tokio::test]
async fn over_long_fields_are_refused_naming_them_and_a_long_text_is_not() {
    let mut ingest = Ingest::start(|_| {});
    let with = |field: &str, len: usize| {
        let mut p = post_json(field);
        p[field] = json!("x".repeat(len));
        p
    };
    let body = json!([
        with("url", 2049),
        with("author", 257),
        with("lang", 36),
        with("id", 1025),
        with("url", 2048),
    ]);
    let (status, body, _) = answer(ingest.post(body.to_string())).await;
    assert_eq!(status, 400, "{body}");
    let problems: Vec<(u64, &str)> = body["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["index"].as_u64().unwrap(), p["error"].as_str().unwrap()))
        .collect();
    assert_eq!(
        problems,
        [
            (0, "url: 2049 bytes, longer than 2048"),
            (1, "author: 257 bytes, longer than 256"),
            (2, "lang: 36 bytes, longer than 35"),
            (3, "id: 1025 bytes, longer than 1024"),
        ]
    );

    let mut long = post_json("long");
    long["text"] = json!(format!("Ocean Spray {}", "y".repeat(1_009_900)));
    let body = long.to_string();
    assert!(body.len() > 1_010_000 && body.len() < HttpIngestConfig::default().max_body_bytes);
    let request = tokio::spawn(answer(ingest.post(body)));
    let batch = within("a batch", ingest.acked.recv()).await.unwrap();
    assert_eq!(batch.posts[0].text.len(), 1_009_912);
    batch.done.send(()).unwrap();
    assert_eq!(within("the answer", request).await.unwrap().0, 202);
    ingest.run.stop().await;
}

#[tokio::test]
async fn no_token_a_wrong_token_or_a_large_body_are_refused_before_anything_is_read() {
    let mut ingest = Ingest::start(|c| c.max_body_bytes = 1024);
    let body = post_json("x").to_string();
    let no_token = ingest
        .client
        .post(&ingest.url)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(no_token.status().as_u16(), 401);
    assert_eq!(no_token.headers()["www-authenticate"], "Bearer");
    let wrong = ingest
        .client
        .post(&ingest.url)
        .bearer_auth("s3cret-ingest-tokem")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status().as_u16(), 401);

    let big = Value::Array(vec![post_json("x"); 20]).to_string();
    assert!(big.len() > 1024);
    let (status, body, _) = answer(ingest.post(big)).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(ingest.monitor.bad_counts().get("too_large"), Some(&1));

    let wrong_method = ingest
        .client
        .get(&ingest.url)
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_method.status().as_u16(), 405);
    assert!(ingest.acked.try_recv().is_err());
    ingest.run.stop().await;
}

#[tokio::test]
async fn requests_beyond_max_in_flight_get_429_with_retry_after() {
    let mut ingest = Ingest::start(|c| c.max_in_flight = 1);
    let first = ingest.send(&post_json("first"));
    let held = within("a batch", ingest.acked.recv()).await.unwrap();
    let (status, _, retry_after) = answer(ingest.post(post_json("second").to_string())).await;
    assert_eq!((status, retry_after.as_deref()), (429, Some("1")));
    held.done.send(()).unwrap();
    assert_eq!(within("the answer", first).await.unwrap().0, 202);
    let again = ingest.send(&post_json("second"));
    within("a batch", ingest.acked.recv())
        .await
        .unwrap()
        .done
        .send(())
        .unwrap();
    assert_eq!(within("the answer", again).await.unwrap().0, 202);
    ingest.run.stop().await;
}

#[tokio::test]
async fn no_acknowledgement_means_503_with_retry_after() {
    let mut ingest = Ingest::start(|c| c.ack_timeout = Duration::from_millis(100));
    // The bus never accepts: the batch is held past ack_timeout.
    let request = ingest.send(&post_json("slow"));
    let held = within("a batch", ingest.acked.recv()).await.unwrap();
    let (status, body, retry_after) = within("the answer", request).await.unwrap();
    assert_eq!((status, retry_after.as_deref()), (503, Some("1")));
    assert!(
        body["error"].as_str().unwrap().contains("retrying is safe"),
        "{body}"
    );
    drop(held);

    // The producer stops: the acknowledgement is dropped unsent.
    let request = ingest.send(&post_json("orphan"));
    drop(within("a batch", ingest.acked.recv()).await.unwrap());
    let (status, _, _) = within("the answer", request).await.unwrap();
    assert_eq!(status, 503);
    ingest.run.stop().await;
}

#[test]
fn a_port_in_use_or_a_bad_configuration_fails_at_bind() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let (tx, _rx) = mpsc::channel(1);
    let config = HttpIngestConfig {
        listen: taken.local_addr().unwrap().to_string(),
        ..HttpIngestConfig::default()
    };
    let e = HttpIngestSource::bind(
        config,
        TOKEN.into(),
        SourceMonitor::detached(NAME),
        tx.clone(),
    )
    .err()
    .unwrap();
    assert!(e.to_string().contains("cannot listen on"), "{e}");
    let config = HttpIngestConfig {
        allowed_sources: vec!["no spaces".into()],
        ..HttpIngestConfig::default()
    };
    let e = config.validate().unwrap_err();
    assert_eq!(e.key, "allowed_sources");
}
