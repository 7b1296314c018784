//! `viral test-alert`: one made-up alert sent to every configured notifier, so the owner
//! sees what Slack, e-mail or a webhook will get without waiting for a spike (Grafana's
//! and Alertmanager's "send test notification"). Each notifier is tried once more at most
//! for a short while, not for its configured retry time, and says how it went.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use chrono::{DateTime, Utc};
use viral_config::Config;
use viral_core::time::{format_rfc3339, from_millis};
use viral_core::window::WindowSpec;
use viral_core::{Alert, AlertStatus, Sample};
use viral_pipeline::service::build;

/// How long a notifier may keep retrying the test alert.
const PATIENCE: Duration = Duration::from_secs(20);

pub fn run(path: &Path, topic: Option<String>, only: Option<&str>) -> anyhow::Result<ExitCode> {
    let mut config = viral_config::load(Some(path))?;
    let topic = match topic {
        Some(t) => t,
        None => config
            .topics
            .first()
            .map(|t| t.name.clone())
            .ok_or_else(|| anyhow::anyhow!("config key `topics`: no topic to send about"))?,
    };
    shorten_retries(&mut config);
    let alert = test_alert(config.window_spec()?, &topic, Utc::now());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let results = rt.block_on(async {
        let mut notifiers = build::notifiers(&config)?;
        if let Some(only) = only {
            let names: Vec<String> = notifiers.iter().map(|n| n.name().to_owned()).collect();
            notifiers.retain(|n| n.name() == only);
            anyhow::ensure!(
                !notifiers.is_empty(),
                "--notifier {only:?} is not configured; the configured ones are: {}",
                names.join(", ")
            );
        }
        let mut results = Vec::new();
        for n in notifiers {
            results.push((n.name().to_owned(), n.notify(&alert).await));
        }
        anyhow::Ok(results)
    })?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "test alert {} ({topic}):", alert.id)?;
    let mut failed = 0;
    for (name, result) in &results {
        match result {
            Ok(()) => writeln!(out, "  {name}: delivered")?,
            Err(e) => {
                failed += 1;
                writeln!(out, "  {name}: failed: {e}")?
            }
        }
    }
    anyhow::ensure!(
        !results.is_empty(),
        "no notifier is configured ([notifiers])"
    );
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// A test should answer within seconds, whatever the notifiers' retry settings.
fn shorten_retries(config: &mut Config) {
    if let Some(w) = config.notifiers.webhook.as_mut() {
        w.max_retry_time = w.max_retry_time.min(PATIENCE);
    }
    if let Some(e) = config.notifiers.email.as_mut() {
        e.max_retry_time = e.max_retry_time.min(PATIENCE);
    }
}

/// A firing alert about `topic` in the window that holds `now`, plainly a test: its own
/// id each time (receivers de-duplicate on ids), detector `test`, one sample saying so.
fn test_alert(spec: WindowSpec, topic: &str, now: DateTime<Utc>) -> Alert {
    let start_ms = spec.last_start_at(now.timestamp_millis());
    let (start, end) = (from_millis(start_ms), from_millis(start_ms + spec.size()));
    Alert {
        id: format!("{topic}:test:{}", format_rfc3339(&now)),
        topic: topic.to_owned(),
        detector: "test".into(),
        status: AlertStatus::Firing,
        window_start: start,
        window_end: end,
        count: 0,
        expected: None,
        band: None,
        score: 0.0,
        started_at: start,
        samples: vec![Sample {
            text: "This is a test notification from `viral test-alert`: nothing is going viral."
                .into(),
            url: None,
        }],
    }
}
