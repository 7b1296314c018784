//! E-mail notifier: one message per alert over SMTP (lettre), a plain-text and an HTML
//! part, sent to every configured recipient. Transient SMTP failures (4xx, connection
//! trouble, timeouts) are retried with backoff until `max_retry_time`; a permanent refusal
//! (5xx) or a TLS requirement the server cannot meet fails at once. The Message-ID is
//! derived from the incident id and status, so a mail system that sees the same alert
//! twice (a retry after a lost reply) can tell.

mod config;
#[cfg(test)]
mod tests;

pub use config::{EmailConfig, TlsMode};

use std::time::Duration;

use async_trait::async_trait;
use lettre::message::{header::ContentType, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use viral_core::Alert;

use crate::render;
use crate::retry::{self, Failure};
use crate::{Notifier, NotifyError};

const DEFAULT_INITIAL_BACKOFF: Duration = Duration::from_secs(2);

pub struct EmailNotifier {
    config: EmailConfig,
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
    initial_backoff: Duration,
}

impl EmailNotifier {
    /// Reads the SMTP credentials from the variables the config names, if any.
    pub fn new(config: EmailConfig) -> Result<Self, NotifyError> {
        config.validate().map_err(NotifyError::Config)?;
        let credentials = match (&config.username_env, &config.password_env) {
            (Some(u), Some(p)) => {
                let read = |var: &str| {
                    std::env::var(var).map_err(|_| {
                        NotifyError::Config(format!("environment variable {var:?} is not set"))
                    })
                };
                Some(Credentials::new(read(u)?, read(p)?))
            }
            _ => None,
        };
        let (from, to) = config.mailboxes().map_err(NotifyError::Config)?;
        let tls = match config.tls {
            TlsMode::None => Tls::None,
            mode => {
                let params = TlsParameters::new(config.smtp_host.clone()).map_err(|e| {
                    NotifyError::Config(format!("TLS for {}: {e}", config.smtp_host))
                })?;
                if mode == TlsMode::Tls {
                    Tls::Wrapper(params)
                } else {
                    Tls::Required(params)
                }
            }
        };
        let mut builder =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.smtp_host)
                .port(config.port())
                .tls(tls)
                .timeout(Some(config.timeout));
        if let Some(c) = credentials {
            builder = builder.credentials(c);
        }
        Ok(Self {
            transport: builder.build(),
            config,
            from,
            to,
            initial_backoff: DEFAULT_INITIAL_BACKOFF,
        })
    }

    /// Delay before the first retry (default 2 s), doubling with jitter from there.
    pub fn with_initial_backoff(mut self, d: Duration) -> Self {
        self.initial_backoff = d;
        self
    }

    fn message(&self, alert: &Alert) -> Result<Message, NotifyError> {
        let mut b = Message::builder()
            .from(self.from.clone())
            .subject(render::subject(&self.config.subject_prefix, alert))
            .message_id(Some(message_id(alert)));
        for to in &self.to {
            b = b.to(to.clone());
        }
        b.multipart(
            MultiPart::alternative()
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_PLAIN)
                        .body(render::text(alert)),
                )
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_HTML)
                        .body(render::html(alert)),
                ),
        )
        .map_err(|e| NotifyError::Config(format!("cannot build the e-mail: {e}")))
    }

    async fn attempt(&self, message: &Message) -> Result<(), Failure> {
        // lettre bounds the connection, not every read: a server that stops answering
        // mid-transaction would hold the alerter, so the whole attempt has a deadline.
        let sent = tokio::time::timeout(self.config.timeout, self.transport.send(message.clone()));
        let Ok(result) = sent.await else {
            return Err(Failure::Retryable {
                retry_after: None,
                message: format!("SMTP: no answer within {:?}", self.config.timeout),
            });
        };
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() || e.is_tls() || e.is_client() => Err(Failure::Final(
                NotifyError::Refused(format!("SMTP: {}", describe(&e))),
            )),
            Err(e) => Err(Failure::Retryable {
                retry_after: None,
                message: format!("SMTP: {}", describe(&e)),
            }),
        }
    }
}

/// `<incident-id.status@viral>` with every character a Message-ID cannot hold replaced.
fn message_id(alert: &Alert) -> String {
    let left: String = format!("{}.{}", alert.id, alert.status.as_str())
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("<{left}@viral>")
}

/// The error with its causes (lettre's own message can be just "Connection error").
fn describe(e: &lettre::transport::smtp::Error) -> String {
    let mut out = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[async_trait]
impl Notifier for EmailNotifier {
    fn name(&self) -> &str {
        "email"
    }

    async fn notify(&self, alert: &Alert) -> Result<(), NotifyError> {
        let message = self.message(alert)?;
        let id = format!("{}:{}", alert.id, alert.status.as_str());
        let (budget, first) = (self.config.max_retry_time, self.initial_backoff);
        retry::deliver("email", &id, budget, first, || self.attempt(&message)).await
    }
}
