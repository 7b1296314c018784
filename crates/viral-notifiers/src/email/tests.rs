//! Against a real SMTP server (mailin-embedded, on a free local port) speaking to lettre
//! over TCP: what arrives is parsed back as MIME, so the test sees what a mail client sees.

use std::net::TcpListener;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use mail_parser::{MessageParser, MimeHeaders};
use mailin_embedded::{response, Handler, Response, Server, SslConfig};
use viral_core::time::from_millis;
use viral_core::{AlertStatus, Sample};

use super::*;

/// One message as the server received it.
#[derive(Debug, Clone)]
struct Received {
    from: String,
    to: Vec<String>,
    data: Vec<u8>,
}

struct Shared {
    /// Answer this many transactions with 452 (try again later) before accepting.
    busy: AtomicU32,
    /// Answer every recipient with 550 (mailbox unavailable).
    refuse: bool,
    tx: Mutex<mpsc::Sender<Received>>,
}

#[derive(Clone)]
struct Sink {
    shared: Arc<Shared>,
    current: Option<Received>,
}

impl Handler for Sink {
    fn mail(&mut self, _ip: std::net::IpAddr, _domain: &str, _from: &str) -> Response {
        // A busy or greylisting server answers 4xx early in the transaction.
        let busy = self.shared.busy.load(Ordering::SeqCst);
        if busy > 0 {
            self.shared.busy.store(busy - 1, Ordering::SeqCst);
            return response::OUT_OF_SPACE;
        }
        response::OK
    }

    fn rcpt(&mut self, _to: &str) -> Response {
        if self.shared.refuse {
            // An unknown recipient: permanent.
            return response::NO_MAILBOX;
        }
        response::OK
    }

    fn data_start(&mut self, _domain: &str, from: &str, _8bit: bool, to: &[String]) -> Response {
        self.current = Some(Received {
            from: from.to_owned(),
            to: to.to_vec(),
            data: Vec::new(),
        });
        response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        if let Some(c) = &mut self.current {
            c.data.extend_from_slice(buf);
        }
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        let Some(mail) = self.current.take() else {
            return response::INTERNAL_ERROR;
        };
        let tx = self.shared.tx.lock().unwrap();
        let _ = tx.send(mail);
        response::OK
    }
}

struct SmtpServer {
    port: u16,
    rx: mpsc::Receiver<Received>,
}

impl SmtpServer {
    fn start(busy: u32, refuse: bool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, rx) = mpsc::channel();
        let sink = Sink {
            shared: Arc::new(Shared {
                busy: AtomicU32::new(busy),
                refuse,
                tx: Mutex::new(tx),
            }),
            current: None,
        };
        let mut server = Server::new(sink);
        server
            .with_name("smtp.test")
            .with_ssl(SslConfig::None)
            .unwrap()
            .with_tcp_listener(listener);
        std::thread::spawn(move || {
            // The server runs until the test process ends; its result is of no interest.
            let _ = server.serve();
        });
        Self { port, rx }
    }

    /// The next message, or None if none arrives within a generous guard.
    fn next(&self) -> Option<Received> {
        self.rx.recv_timeout(Duration::from_secs(30)).ok()
    }
}

fn config(port: u16, tls: TlsMode) -> EmailConfig {
    EmailConfig {
        smtp_host: "127.0.0.1".into(),
        smtp_port: Some(port),
        tls,
        from: "viral <alerts@viral.test>".into(),
        to: vec![
            "comms@brand.test".into(),
            "Data Team <data@brand.test>".into(),
        ],
        username_env: None,
        password_env: None,
        timeout: Duration::from_secs(5),
        max_retry_time: Duration::from_secs(20),
        subject_prefix: "[viral]".into(),
    }
}

fn alert() -> Alert {
    Alert {
        id: "ocean-spray:adaptive:2020-09-26T06:00:00Z".into(),
        topic: "ocean-spray".into(),
        detector: "adaptive".into(),
        status: AlertStatus::Firing,
        window_start: from_millis(1_601_100_000_000),
        window_end: from_millis(1_601_101_800_000),
        count: 2338,
        expected: Some(175.3),
        band: Some(viral_core::Band {
            low: 121.6,
            high: 243.2,
        }),
        score: 12.4,
        started_at: from_millis(1_601_100_000_000),
        samples: vec![
            Sample {
                text: "Ocean Spray <3 & skateboards".into(),
                url: Some("https://bsky.app/profile/x/post/1".into()),
            },
            Sample {
                text: "cranberry juice vibes ✨".into(),
                url: None,
            },
        ],
    }
}

#[tokio::test]
async fn an_alert_arrives_as_a_readable_two_part_email() {
    let smtp = SmtpServer::start(0, false);
    let n = EmailNotifier::new(config(smtp.port, TlsMode::None)).unwrap();
    n.notify(&alert()).await.unwrap();
    let mail = tokio::task::spawn_blocking(move || smtp.next())
        .await
        .unwrap()
        .expect("the server received the e-mail");
    assert_eq!(mail.from, "alerts@viral.test");
    assert_eq!(mail.to, ["comms@brand.test", "data@brand.test"]);

    let msg = MessageParser::default()
        .parse(&mail.data)
        .expect("valid MIME");
    assert_eq!(
        msg.subject(),
        Some("[viral] ocean-spray is spiking: 2,338 mentions in 30m (usually ~175)")
    );
    assert_eq!(
        msg.message_id(),
        Some("ocean-spray-adaptive-2020-09-26T06-00-00Z.firing@viral")
    );
    let text = msg.body_text(0).expect("a text part");
    for want in [
        "ocean-spray is getting unusual attention",
        "Mentions        2,338",
        "Expected        ~175",
        "Normal range    121–244 (fires at 244 and above)",
        "adaptive (score 12.40)",
        "Ocean Spray <3 & skateboards",
        "https://bsky.app/profile/x/post/1",
        "cranberry juice vibes ✨",
    ] {
        assert!(text.contains(want), "{want:?} missing from:\n{text}");
    }
    let html = msg.body_html(0).expect("an HTML part");
    assert!(
        html.contains("Ocean Spray &lt;3 &amp; skateboards"),
        "escaped: {html}"
    );
    assert!(html.contains("<a href=\"https://bsky.app/profile/x/post/1\">"));
    assert!(msg.parts.iter().any(|p| p
        .content_type()
        .is_some_and(|c| c.subtype() == Some("alternative"))));
}

#[tokio::test]
async fn a_busy_server_is_retried_and_a_refusal_is_final() {
    // Two 452s, then accepted: delivered once, on the third attempt.
    let smtp = SmtpServer::start(2, false);
    let n = EmailNotifier::new(config(smtp.port, TlsMode::None))
        .unwrap()
        .with_initial_backoff(Duration::from_millis(20));
    let mut resolved = alert();
    resolved.status = AlertStatus::Resolved;
    resolved.count = 181;
    n.notify(&resolved).await.unwrap();
    let mail = tokio::task::spawn_blocking(move || (smtp.next(), smtp.rx.try_recv().ok()))
        .await
        .unwrap();
    let msg = MessageParser::default()
        .parse(&mail.0.expect("delivered after the retries").data)
        .unwrap()
        .subject()
        .map(str::to_owned);
    assert_eq!(
        msg.as_deref(),
        Some("[viral] ocean-spray is back to normal: 181 mentions in 30m (usually ~175)")
    );
    assert!(mail.1.is_none(), "delivered once");

    // 550 for the recipient: permanent; no retry would help, so none is made.
    let smtp = SmtpServer::start(0, true);
    let n = EmailNotifier::new(config(smtp.port, TlsMode::None))
        .unwrap()
        .with_initial_backoff(Duration::from_secs(3600));
    let err = n.notify(&alert()).await.unwrap_err();
    assert!(matches!(err, NotifyError::Refused(_)), "{err}");
}

#[tokio::test]
async fn starttls_required_never_falls_back_to_plain_text() {
    // The test server offers no STARTTLS: the notifier must refuse rather than send the
    // alert (and any credentials) in the clear.
    let smtp = SmtpServer::start(0, false);
    let n = EmailNotifier::new(config(smtp.port, TlsMode::Starttls))
        .unwrap()
        .with_initial_backoff(Duration::from_secs(3600));
    let err = n.notify(&alert()).await.unwrap_err();
    assert!(matches!(err, NotifyError::Refused(_)), "{err}");
    assert!(smtp.rx.try_recv().is_err(), "nothing was delivered");
}

#[test]
fn bad_addresses_fail_at_start_up_naming_the_key() {
    let mut c = config(25, TlsMode::None);
    c.from = "not an address".into();
    assert!(c.validate().unwrap_err().starts_with("from"));
    let mut c = config(25, TlsMode::None);
    c.to = vec![];
    assert!(c.validate().unwrap_err().starts_with("to"));
    let mut c = config(25, TlsMode::None);
    c.password_env = Some("X".into());
    assert!(c.validate().unwrap_err().contains("both or neither"));
    assert_eq!(config(25, TlsMode::Tls).smtp_port.map(|_| ()), Some(()));
    let mut c = config(25, TlsMode::Tls);
    c.smtp_port = None;
    assert_eq!(c.port(), 465);
}
