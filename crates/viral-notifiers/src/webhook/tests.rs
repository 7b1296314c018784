//! Against a real HTTP server on loopback that answers from a script of status codes.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use tokio::sync::mpsc;
use viral_core::time::from_millis;
use viral_core::{Alert, AlertStatus, Sample};

use super::*;

struct Server {
    url: String,
    requests: mpsc::UnboundedReceiver<(HeaderMap, Bytes)>,
}

/// Answers each request with the next scripted response (then 200).
async fn server(script: Vec<(u16, Option<&'static str>)>) -> Server {
    let script = Arc::new(Mutex::new(VecDeque::from(script)));
    let (tx, requests) = mpsc::unbounded_channel();
    let app = Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: Bytes| {
            let (script, tx) = (script.clone(), tx.clone());
            async move {
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
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Server {
        url: format!("http://{addr}/hook"),
        requests,
    }
}

fn alert() -> Alert {
    Alert {
        id: "ocean-spray:threshold:2020-09-25T18:00:00Z".into(),
        topic: "ocean-spray".into(),
        detector: "threshold".into(),
        status: AlertStatus::Firing,
        window_start: from_millis(1_601_056_800_000),
        window_end: from_millis(1_601_058_600_000),
        count: 25_000,
        expected: None,
        score: 1.25,
        started_at: from_millis(1_601_056_800_000),
        samples: vec![Sample {
            text: "Ocean Spray and Dreams".into(),
            url: Some("https://example.com/1".into()),
        }],
    }
}

fn notifier(url: &str, secret_env: Option<&str>) -> WebhookNotifier {
    WebhookNotifier::new(WebhookConfig {
        url: url.into(),
        timeout: Duration::from_secs(5),
        max_retry_time: Duration::from_secs(30),
        secret_env: secret_env.map(str::to_owned),
    })
    .unwrap()
    .with_min_delay(Duration::from_millis(5))
}

#[tokio::test]
async fn delivers_the_alert_with_standard_webhooks_headers_and_a_valid_signature() {
    let mut s = server(vec![]).await;
    // A variable only this test sets, so parallel tests cannot disturb it.
    std::env::set_var("VIRAL_TEST_WEBHOOK_SECRET", "whsec_c2VjcmV0LWtleQ==");
    let n = notifier(&s.url, Some("VIRAL_TEST_WEBHOOK_SECRET"));
    n.notify(&alert()).await.unwrap();
    let (headers, body) = s.requests.recv().await.unwrap();
    let got: Alert = serde_json::from_slice(&body).unwrap();
    assert_eq!(got, alert());
    let h = |k: &str| headers.get(k).unwrap().to_str().unwrap().to_owned();
    assert_eq!(
        h("webhook-id"),
        "ocean-spray:threshold:2020-09-25T18:00:00Z:firing"
    );
    assert_eq!(h("content-type"), "application/json");
    let ts = h("webhook-timestamp");
    assert!(ts.parse::<u64>().unwrap() > 1_700_000_000);
    // Recompute independently: key = base64-decoded part after whsec_.
    let mut mac = Hmac::<Sha256>::new_from_slice(b"secret-key").unwrap();
    mac.update(format!("{}.{}.", h("webhook-id"), ts).as_bytes());
    mac.update(&body);
    let want = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    assert_eq!(h("webhook-signature"), format!("v1,{want}"));
}

#[tokio::test]
async fn retries_server_errors_until_delivered() {
    let mut s = server(vec![(500, None), (503, None)]).await;
    notifier(&s.url, None).notify(&alert()).await.unwrap();
    for _ in 0..3 {
        let (headers, _) = s.requests.recv().await.unwrap();
        assert!(
            headers.get("webhook-signature").is_none(),
            "no secret, no signature"
        );
    }
    assert!(s.requests.try_recv().is_err(), "exactly three attempts");
}

#[tokio::test]
async fn honours_429_with_retry_after() {
    let mut s = server(vec![(429, Some("0"))]).await;
    notifier(&s.url, None).notify(&alert()).await.unwrap();
    s.requests.recv().await.unwrap();
    s.requests.recv().await.unwrap();
    assert!(s.requests.try_recv().is_err());
}

#[tokio::test]
async fn client_errors_fail_at_once() {
    let mut s = server(vec![(400, None)]).await;
    let err = notifier(&s.url, None).notify(&alert()).await.unwrap_err();
    assert!(
        matches!(err, NotifyError::Rejected { status: 400 }),
        "{err}"
    );
    s.requests.recv().await.unwrap();
    assert!(s.requests.try_recv().is_err(), "one attempt only");
}

#[tokio::test]
async fn gives_up_after_max_retry_time() {
    let s = server(vec![(500, None); 1000]).await;
    let n = WebhookNotifier::new(WebhookConfig {
        url: s.url.clone(),
        timeout: Duration::from_secs(5),
        max_retry_time: Duration::from_millis(50),
        secret_env: None,
    })
    .unwrap()
    .with_min_delay(Duration::from_millis(5));
    let err = n.notify(&alert()).await.unwrap_err();
    match err {
        NotifyError::GaveUp { attempts, .. } => assert!(attempts >= 2, "{attempts}"),
        other => panic!("{other}"),
    }
}

#[test]
fn config_is_validated() {
    let mut c = WebhookConfig {
        url: "ftp://x".into(),
        timeout: Duration::from_secs(1),
        max_retry_time: Duration::from_secs(1),
        secret_env: None,
    };
    assert!(c.validate().unwrap_err().contains("scheme"));
    c.url = "https://hooks.example.com/x".into();
    assert!(c.validate().is_ok());
    c.secret_env = Some("VIRAL_TEST_UNSET_SECRET_VARIABLE".into());
    assert!(c.validate().unwrap_err().contains("not set"));
}
