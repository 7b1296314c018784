//! `viral test-alert`: one made-up alert reaches a real webhook receiver, signed like any
//! other, and a receiver that refuses it makes the command fail, saying so.

use viral_integration_tests::config::{quoted, TestConfig};
use viral_integration_tests::webhook;

fn config_with_hook(dir: &std::path::Path, url: &str) -> std::path::PathBuf {
    TestConfig::demo()
        .detector("adaptive")
        .with(&format!(
            "[notifiers]\nstdout = false\n\n[notifiers.webhook]\nurl = {}\nmax_retry_time = \"1s\"",
            quoted(url)
        ))
        .write_in(dir)
}

async fn test_alert(config: &std::path::Path, topic: &str) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_viral"))
        .args(["test-alert", "--topic", topic, "--config"])
        .arg(config)
        .output()
        .await
        .expect("viral runs")
}

#[tokio::test]
async fn the_test_alert_reaches_the_webhook() {
    let dir = tempfile::tempdir().unwrap();
    let mut hook = webhook::start().await;
    let config = config_with_hook(dir.path(), &hook.url());
    let out = test_alert(&config, "cranberry").await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("webhook: delivered"), "{stdout}");
    let got = hook
        .requests
        .recv()
        .await
        .expect("the receiver got a request");
    assert_eq!(got.body["topic"], "cranberry");
    assert_eq!(got.body["detector"], "test");
    assert_eq!(got.body["status"], "firing");
    assert!(got.headers.contains_key("webhook-id"), "{:?}", got.headers);
    assert!(
        got.headers.contains_key("webhook-signature")
            || got.headers.contains_key("webhook-timestamp")
    );
}

#[tokio::test]
async fn a_refusing_receiver_fails_the_command() {
    let dir = tempfile::tempdir().unwrap();
    let hook = webhook::start().await;
    hook.answer(403);
    let config = config_with_hook(dir.path(), &hook.url());
    let out = test_alert(&config, "ocean-spray").await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(stdout.contains("webhook: failed"), "{stdout}");
}

#[tokio::test]
async fn one_notifier_is_picked_by_name_and_an_unknown_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut hook = webhook::start().await;
    let config = config_with_hook(dir.path(), &hook.url());
    let run = |name: &'static str| {
        let config = config.clone();
        async move {
            tokio::process::Command::new(env!("CARGO_BIN_EXE_viral"))
                .args(["test-alert", "--notifier", name, "--config"])
                .arg(&config)
                .output()
                .await
                .expect("viral runs")
        }
    };
    let out = run("webhook").await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(hook.requests.recv().await.is_some());
    let out = run("email").await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(r#"--notifier "email" is not configured"#) && stderr.contains("webhook"),
        "{stderr}"
    );
}
