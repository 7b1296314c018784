//! Keys of `[notifiers.email]`, validated when the configuration is loaded so a bad
//! address fails at start-up instead of at the first alert.

use std::time::Duration;

use lettre::message::Mailbox;
use serde::Deserialize;

/// How the connection to the SMTP server is secured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TlsMode {
    /// Plain connection upgraded with STARTTLS, which the server must offer (port 587).
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption: only for a relay on localhost or a trusted network (port 25).
    None,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    pub smtp_host: String,
    /// Default by `tls`: 587 (starttls), 465 (tls), 25 (none).
    #[serde(default)]
    pub smtp_port: Option<u16>,
    #[serde(default)]
    pub tls: TlsMode,
    /// `Name <address>` or a bare address.
    pub from: String,
    pub to: Vec<String>,
    /// Names of the environment variables holding the SMTP credentials; the values
    /// never go in the file.
    #[serde(default)]
    pub username_env: Option<String>,
    #[serde(default)]
    pub password_env: Option<String>,
    /// Longest one attempt may take, connection to QUIT. (An attempt cut off after the
    /// message was sent may deliver it twice; the Message-ID is the same both times.)
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// Give up on an alert once retrying it has taken this long.
    #[serde(default = "default_max_retry_time", with = "humantime_serde")]
    pub max_retry_time: Duration,
    #[serde(default = "default_prefix")]
    pub subject_prefix: String,
}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

fn default_max_retry_time() -> Duration {
    Duration::from_secs(300)
}

fn default_prefix() -> String {
    "[viral]".into()
}

impl EmailConfig {
    pub fn port(&self) -> u16 {
        self.smtp_port.unwrap_or(match self.tls {
            TlsMode::Starttls => 587,
            TlsMode::Tls => 465,
            TlsMode::None => 25,
        })
    }

    pub(crate) fn mailboxes(&self) -> Result<(Mailbox, Vec<Mailbox>), String> {
        let from = self
            .from
            .parse()
            .map_err(|e| format!("from = {:?}: not an e-mail address ({e})", self.from))?;
        if self.to.is_empty() {
            return Err("to: name at least one recipient".into());
        }
        let to = self
            .to
            .iter()
            .map(|t| {
                t.parse()
                    .map_err(|e| format!("to: {t:?} is not an e-mail address ({e})"))
            })
            .collect::<Result<_, _>>()?;
        Ok((from, to))
    }

    /// Everything but the environment: addresses, host, timeouts.
    pub(crate) fn check(&self) -> Result<(), String> {
        if self.smtp_host.trim().is_empty() {
            return Err("smtp_host: must name the SMTP server".into());
        }
        self.mailboxes()?;
        if self.timeout.is_zero() {
            return Err("timeout: must be positive".into());
        }
        if self.username_env.is_some() != self.password_env.is_some() {
            return Err("username_env and password_env: set both or neither".into());
        }
        Ok(())
    }

    /// [`check`](Self::check), and the credential variables are set (values not shown).
    pub fn validate(&self) -> Result<(), String> {
        self.check()?;
        for (key, var) in [
            ("username_env", &self.username_env),
            ("password_env", &self.password_env),
        ] {
            if let Some(var) = var {
                if std::env::var_os(var).is_none() {
                    return Err(format!(
                        "{key}: names {var:?}, but that environment variable is not set"
                    ));
                }
            }
        }
        Ok(())
    }
}
