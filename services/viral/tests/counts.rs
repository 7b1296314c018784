//! `viral counts` on a SQLite store: a topic the config does not track is an error that
//! lists the tracked ones, not an empty answer.

use std::process::Command;

#[test]
fn a_misspelled_topic_names_the_tracked_ones_and_fails() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let config = dir.path().join("viral.toml");
    let db = dir.path().join("counts.db");
    std::fs::write(
        &config,
        format!(
            "[[topics]]\nname = \"ocean-spray\"\nterms = [\"ocean spray\"]\n\n\
             [[topics]]\nname = \"cranberry\"\nterms = [\"cranberry\"]\n\n\
             [window]\nsize = \"30m\"\n\n[store]\nkind = \"sqlite\"\n\n[store.sqlite]\npath = {:?}\n",
            db.display().to_string()
        ),
    )
    .expect("config written");
    let out = Command::new(env!("CARGO_BIN_EXE_viral"))
        .args(["counts", "--config"])
        .arg(&config)
        .args(["--topic", "oceanspray"])
        .output()
        .expect("viral runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "exit {:?}; stderr: {stderr}",
        out.status
    );
    assert!(out.stdout.is_empty());
    assert!(
        stderr.contains(r#"--topic "oceanspray" is not tracked"#)
            && stderr.contains("ocean-spray, cranberry"),
        "{stderr}"
    );
}
