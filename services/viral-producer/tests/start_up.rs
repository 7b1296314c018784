//! What a service binary does today: it validates its configuration — so deployments can
//! check their files — and refuses to run without a shared bus, saying why.

use std::process::Command;

fn run(config: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("viral.toml");
    std::fs::write(&path, config).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_viral-producer"))
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    (out.status.success(), String::from_utf8(out.stderr).unwrap())
}

const GOOD: &str = "[[topics]]\nname = \"a\"\nterms = [\"a\"]\n[window]\nsize = \"1m\"\n";

#[test]
fn a_valid_config_is_accepted_then_the_missing_bus_explained() {
    let (ok, stderr) = run(GOOD);
    assert!(!ok);
    assert!(
        stderr.contains("bus.kind") && stderr.contains("viral standalone"),
        "{stderr}"
    );
}

#[test]
fn an_invalid_config_names_the_key() {
    let (ok, stderr) = run(&GOOD.replace("size = \"1m\"", "size = \"-1m\""));
    assert!(!ok);
    assert!(stderr.contains("window.size"), "{stderr}");
}

#[test]
fn no_config_is_a_usage_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_viral-producer"))
        .env_remove("VIRAL_CONFIG")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8(out.stderr).unwrap().contains("usage"));
}
