//! Against a real HTTP server on loopback that answers from a script of status codes and
//! reports every request it receives on a channel.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use tokio::sync::mpsc;
use viral_core::{Alert, AlertStatus, Sample};

use super::*;

/// Long enough that a test which waited for it would fail by giving up (the retry budget
/// is shorter) instead of passing slowly: it proves a retry did not wait for the backoff.
const FOREVER: Duration = Duration::from_secs(3600);

struct Server {
    url: String,
    requests: mpsc::UnboundedReceiver<(HeaderMap, Bytes)>,
}

impl Server {
    /// Everything the server has received so far; only called after `notify` returned, so
    /// every request it made has already been recorded.
    fn received(&mut self) -> Vec<(HeaderMap, Bytes)> {
        let mut out = Vec::new();
        while let Ok(r) = self.requests.try_recv() {
            out.push(r);
        }
        out
    }
}

/// Answers each request with the next scripted (status, Retry-After), then 200.
async fn server(script: Vec<(u16, Option<&'static str>)>) -> Server {
    let script = Arc::new(Mutex::new(VecDeque::from(script)));
    let (tx, requests) = mpsc::unbounded_channel();
    let app = Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: Bytes| {
            let (script, tx) = (script.clone(), tx.clone());
            async move {
                // Recorded before answering, so the client cannot see a response first.
                let _ = tx.send((headers, body));
                let (code, retry_after) = script.lock().unwrap().pop_front().unwrap_or((200, None));
                let mut h = HeaderMap::new();
                if let Some(r) = retry_after {
                    h.insert("retry-after", r.parse().unwrap());
                }
                (StatusCode::from_u16(code).unwrap(), h, "")
            }
        }),
    );
    Server {
        url: serve(app).await,
        requests,
    }
}

/// Serves `app` on an ephemeral loopback port; returns the URL of its `/hook`.
async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/hook")
}

fn alert(status: AlertStatus) -> Alert {
    let mut a = crate::render::tests::alert(vec![Sample {
        text: "Ocean Spray and Dreams".into(),
        url: Some("https://example.com/1".into()),
    }]);
    a.status = status;
    a
}

fn config(url: &str) -> WebhookConfig {
    WebhookConfig {
        url: url.into(),
        timeout: Duration::from_secs(5),
        max_retry_time: Duration::from_secs(30),
        secret_env: None,
        format: WebhookFormat::Standard,
    }
}

fn slack_notifier(url: &str) -> WebhookNotifier {
    WebhookNotifier::new(WebhookConfig {
        format: WebhookFormat::Slack,
        ..config(url)
    })
    .unwrap()
}

fn notifier(url: &str, initial_backoff: Duration) -> WebhookNotifier {
    WebhookNotifier::new(config(url))
        .unwrap()
        .with_initial_backoff(initial_backoff)
}

fn header(h: &HeaderMap, k: &str) -> String {
    h.get(k).unwrap().to_str().unwrap().to_owned()
}

/// The Standard Webhooks signature, computed here without the code under test.
fn expected_signature(key: &[u8], headers: &HeaderMap, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(
        format!(
            "{}.{}.",
            header(headers, "webhook-id"),
            header(headers, "webhook-timestamp")
        )
        .as_bytes(),
    );
    mac.update(body);
    let b64 = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    format!("v1,{b64}")
}

#[tokio::test]
async fn delivers_the_alert_with_standard_webhooks_headers_and_a_valid_signature() {
    let mut s = server(vec![]).await;
    // "secret-key", base64-encoded behind the whsec_ prefix.
    let n = WebhookNotifier::with_secret(config(&s.url), "whsec_c2VjcmV0LWtleQ==").unwrap();
    assert_eq!(n.name(), "webhook");
    n.notify(&alert(AlertStatus::Firing)).await.unwrap();
    let got = s.received();
    assert_eq!(got.len(), 1);
    let (headers, body) = &got[0];
    let parsed: Alert = serde_json::from_slice(body).unwrap();
    assert_eq!(parsed, alert(AlertStatus::Firing));
    assert_eq!(header(headers, "content-type"), "application/json");
    assert_eq!(
        header(headers, "webhook-id"),
        "ocean-spray:threshold:2020-09-25T18:00:00Z:firing"
    );
    let ts: u64 = header(headers, "webhook-timestamp").parse().unwrap();
    assert!(
        ts > 1_700_000_000,
        "unix seconds, not millis or a date: {ts}"
    );
    assert!(ts < 100_000_000_000, "unix seconds, not millis: {ts}");
    assert_eq!(
        header(headers, "webhook-signature"),
        expected_signature(b"secret-key", headers, body)
    );
}

#[tokio::test]
async fn the_secret_is_read_from_the_named_variable_and_used_raw_without_prefix() {
    let mut s = server(vec![]).await;
    // Cargo sets CARGO_PKG_NAME for the test process, so no test has to mutate the
    // environment (unsound while other test threads read it).
    let n = WebhookNotifier::new(WebhookConfig {
        secret_env: Some("CARGO_PKG_NAME".into()),
        ..config(&s.url)
    })
    .unwrap();
    n.notify(&alert(AlertStatus::Resolved)).await.unwrap();
    let (headers, body) = s.received().pop().unwrap();
    assert_eq!(
        header(&headers, "webhook-id"),
        "ocean-spray:threshold:2020-09-25T18:00:00Z:resolved"
    );
    assert_eq!(
        header(&headers, "webhook-signature"),
        expected_signature(env!("CARGO_PKG_NAME").as_bytes(), &headers, &body)
    );
}

#[tokio::test]
async fn retries_server_errors_until_delivered() {
    let mut s = server(vec![(500, None), (500, None)]).await;
    notifier(&s.url, Duration::from_millis(2))
        .notify(&alert(AlertStatus::Firing))
        .await
        .unwrap();
    let got = s.received();
    assert_eq!(got.len(), 3, "two failures, then success");
    for (headers, body) in &got {
        assert!(
            headers.get("webhook-signature").is_none(),
            "no secret, no signature"
        );
        assert_eq!(body, &got[0].1, "every attempt sends the same alert");
        assert_eq!(
            header(headers, "webhook-id"),
            header(&got[0].0, "webhook-id")
        );
    }
}

#[tokio::test]
async fn retries_408() {
    let mut s = server(vec![(408, None)]).await;
    notifier(&s.url, Duration::from_millis(2))
        .notify(&alert(AlertStatus::Firing))
        .await
        .unwrap();
    assert_eq!(s.received().len(), 2);
}

#[tokio::test]
async fn honours_429_with_retry_after() {
    let mut s = server(vec![(429, Some("0"))]).await;
    // Had it waited for the hour-long backoff instead, it would have given up.
    notifier(&s.url, FOREVER)
        .notify(&alert(AlertStatus::Firing))
        .await
        .unwrap();
    assert_eq!(s.received().len(), 2);
}

#[tokio::test]
async fn client_errors_fail_at_once() {
    for status in [400u16, 401, 404, 410, 422] {
        let mut s = server(vec![(status, None)]).await;
        let err = notifier(&s.url, Duration::from_millis(2))
            .notify(&alert(AlertStatus::Firing))
            .await
            .unwrap_err();
        assert!(
            matches!(err, NotifyError::Rejected { status: got } if got == status),
            "{status}: {err}"
        );
        assert_eq!(s.received().len(), 1, "{status}: one attempt only");
    }
}

#[tokio::test]
async fn redirects_are_not_followed() {
    // Following it would reach a 200 and report success; not following reports the 307.
    let app = Router::new()
        .route(
            "/hook",
            post(|| async { (StatusCode::TEMPORARY_REDIRECT, [("location", "/elsewhere")]) }),
        )
        .route("/elsewhere", post(|| async { StatusCode::OK }));
    let url = serve(app).await;
    let err = notifier(&url, Duration::from_millis(2))
        .notify(&alert(AlertStatus::Firing))
        .await
        .unwrap_err();
    assert!(
        matches!(err, NotifyError::Rejected { status: 307 }),
        "{err}"
    );
}

#[tokio::test]
async fn gives_up_when_the_next_wait_would_pass_max_retry_time() {
    let mut s = server(vec![(503, Some("0")), (503, Some("0")), (500, None)]).await;
    let err = notifier(&s.url, FOREVER)
        .notify(&alert(AlertStatus::Firing))
        .await
        .unwrap_err();
    match err {
        NotifyError::GaveUp {
            attempts,
            last_error,
        } => {
            assert_eq!(attempts, 3);
            assert!(last_error.contains("500"), "{last_error}");
        }
        other => panic!("expected GaveUp, got {other}"),
    }
    assert_eq!(s.received().len(), 3);
}

#[tokio::test]
async fn a_retry_after_beyond_max_retry_time_gives_up_at_once() {
    let mut s = server(vec![(429, Some("3600"))]).await;
    let err = notifier(&s.url, Duration::from_millis(2))
        .notify(&alert(AlertStatus::Firing))
        .await
        .unwrap_err();
    assert!(
        matches!(err, NotifyError::GaveUp { attempts: 1, .. }),
        "{err}"
    );
    assert_eq!(s.received().len(), 1);
}

#[tokio::test]
async fn timeouts_are_retryable() {
    let (tx, mut reached) = mpsc::unbounded_channel();
    let app = Router::new().route(
        "/hook",
        post(move || {
            let tx = tx.clone();
            async move {
                let _ = tx.send(());
                std::future::pending::<()>().await;
            }
        }),
    );
    let url = serve(app).await;
    let n = WebhookNotifier::new(WebhookConfig {
        timeout: Duration::from_millis(50),
        ..config(&url)
    })
    .unwrap()
    .with_initial_backoff(FOREVER);
    let err = n.notify(&alert(AlertStatus::Firing)).await.unwrap_err();
    assert!(
        matches!(err, NotifyError::GaveUp { attempts: 1, .. }),
        "a timeout is worth retrying, so it ends in GaveUp, not Rejected: {err}"
    );
    reached.recv().await.unwrap();
}

#[tokio::test]
async fn connection_errors_are_retryable_and_do_not_leak_the_url() {
    // Accepts and hangs up at once, so the request fails on the network.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            drop(sock);
        }
    });
    let url = format!("http://{addr}/hook?token=do-not-log");
    let err = notifier(&url, FOREVER)
        .notify(&alert(AlertStatus::Firing))
        .await
        .unwrap_err();
    match err {
        NotifyError::GaveUp {
            attempts,
            last_error,
        } => {
            assert_eq!(attempts, 1);
            assert!(!last_error.contains("do-not-log"), "{last_error}");
        }
        other => panic!("expected GaveUp, got {other}"),
    }
}

#[test]
fn secrets_are_decoded_and_bad_ones_refused_without_being_quoted() {
    assert_eq!(
        decode_secret("whsec_c2VjcmV0LWtleQ==").unwrap(),
        b"secret-key"
    );
    assert_eq!(decode_secret("plain").unwrap(), b"plain");
    let err = decode_secret("whsec_not*base64!").unwrap_err().to_string();
    assert!(!err.contains("not*base64"), "{err}");
    assert!(decode_secret("whsec_").is_err());
    assert!(decode_secret("").is_err());
    assert!(WebhookNotifier::with_secret(config("http://127.0.0.1:9/x"), "whsec_%%").is_err());
}

#[test]
fn config_is_validated() {
    let mut c = config("ftp://x");
    assert!(c.validate().unwrap_err().contains("scheme"));
    c.url = "not a url".into();
    assert!(c.validate().is_err());
    c.url = "https://hooks.example.com/x".into();
    assert!(c.validate().is_ok());
    c.timeout = Duration::ZERO;
    assert!(c.validate().unwrap_err().contains("timeout"));
    c.timeout = Duration::from_secs(1);
    c.secret_env = Some("VIRAL_TEST_UNSET_SECRET_VARIABLE".into());
    assert!(c.validate().unwrap_err().contains("not set"));
    assert!(matches!(
        WebhookNotifier::new(c.clone()),
        Err(NotifyError::Config(_))
    ));
    c.secret_env = Some(String::new());
    assert!(c.validate().is_err());
}

#[test]
fn config_defaults_durations_and_rejects_unknown_keys() {
    let c: WebhookConfig = serde_json::from_str(r#"{"url":"http://h/x"}"#).unwrap();
    assert_eq!(c.timeout, Duration::from_secs(5));
    assert_eq!(c.max_retry_time, Duration::from_secs(60));
    assert_eq!(c.secret_env, None);
    let c: WebhookConfig = serde_json::from_str(
        r#"{"url":"http://h/x","timeout":"250ms","max_retry_time":"2m","secret_env":"HOOK_SECRET"}"#,
    )
    .unwrap();
    assert_eq!(c.timeout, Duration::from_millis(250));
    assert_eq!(c.max_retry_time, Duration::from_secs(120));
    assert_eq!(c.secret_env.as_deref(), Some("HOOK_SECRET"));
    let err = serde_json::from_str::<WebhookConfig>(r#"{"url":"http://h/x","secret":"x"}"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown field"), "{err}");
}

#[tokio::test]
async fn the_slack_format_posts_text_and_blocks_a_person_can_read() {
    let mut s = server(vec![]).await;
    let n = slack_notifier(&s.url);
    let mut a = alert(AlertStatus::Firing);
    a.samples = vec![viral_core::Sample {
        text: "<b>Ocean</b> & spray".into(),
        url: Some("https://bsky.app/p/1".into()),
    }];
    n.notify(&a).await.unwrap();
    let (headers, body) = s.received().pop().unwrap();
    // Still a Standard Webhooks delivery (id header), with a Slack body.
    assert_eq!(
        header(&headers, "webhook-id"),
        "ocean-spray:threshold:2020-09-25T18:00:00Z:firing"
    );
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let text = v["text"].as_str().unwrap();
    assert!(
        text.starts_with("[viral] ocean-spray is spiking: "),
        "{text}"
    );
    let blocks = v["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "section");
    let fields = blocks[1]["fields"].as_array().unwrap();
    assert!(fields.len() <= 10);
    assert!(fields
        .iter()
        .any(|f| f["text"].as_str().unwrap().starts_with("*Mentions*")));
    let samples = blocks.last().unwrap()["text"]["text"].as_str().unwrap();
    assert_eq!(
        samples,
        "• &lt;b&gt;Ocean&lt;/b&gt; &amp; spray <https://bsky.app/p/1|open>"
    );
}

#[tokio::test]
async fn a_slack_message_of_hostile_posts_stays_within_limits_and_links_only_the_web() {
    let mut s = server(vec![]).await;
    let n = slack_notifier(&s.url);
    let mut a = alert(AlertStatus::Firing);
    let long = "Ocean Spray <3 & more ".repeat(200);
    a.samples = vec![
        Sample {
            text: long.clone(),
            url: Some("https://evil.example/|Your password expired, sign in".into()),
        },
        Sample {
            text: long.clone(),
            url: Some("javascript:alert(document.domain)".into()),
        },
        Sample {
            text: long,
            url: Some("https://example.com/ok".into()),
        },
    ];
    n.notify(&a).await.unwrap();
    let (_, body) = s.received().pop().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    for block in v["blocks"].as_array().unwrap() {
        if let Some(t) = block["text"]["text"].as_str() {
            assert!(t.chars().count() <= 3000, "{} chars", t.chars().count());
        }
    }
    let samples = v["blocks"].as_array().unwrap().last().unwrap()["text"]["text"]
        .as_str()
        .unwrap();
    assert!(
        samples.contains("<https://evil.example/%7CYour%20password%20expired,%20sign%20in|open>"),
        "{samples}"
    );
    assert!(!samples.contains("javascript"), "{samples}");
    assert_eq!(
        samples.matches("|open>").count(),
        1,
        "only the first post fits: {samples}"
    );
}

#[test]
fn an_invalid_url_is_named_but_never_quoted() {
    for (url, why) in [
        (
            "hooks.slack.com/services/T0/B0/XXsecretXX",
            "not an absolute http(s) URL",
        ),
        (
            "ftp://hooks.example/XXsecretXX",
            "scheme must be http or https, not \"ftp\"",
        ),
        (
            "https://hooks.example:99999/XXsecretXX",
            "not an absolute http(s) URL",
        ),
        (
            "https://hooks example/XXsecretXX",
            "not an absolute http(s) URL",
        ),
    ] {
        let e = config(url).validate().unwrap_err();
        assert!(e.starts_with("url: "), "{e}");
        assert!(e.contains(why), "{e}");
        assert!(!e.contains("XXsecretXX") && !e.contains("hooks"), "{e}");
    }
}
