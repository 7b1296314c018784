//! Loading and validation: good files load, the environment overrides the file, and each
//! mistake fails with a message naming the key.

use std::time::Duration;

use viral_config::{load, load_str, ConfigError, DEMO_CONFIG};

const GOOD: &str = r#"
[[topics]]
name = "ocean-spray"
terms = ["ocean spray", "oceanspray"]

[window]
size = "30m"
hop = "10m"
lateness = "1m"

[[detectors]]
kind = "threshold"
threshold = 20000
"#;

fn err(toml: &str) -> String {
    load_str(toml).unwrap_err().to_string()
}

#[test]
fn the_pinned_keys_load() {
    let c = load_str(GOOD).unwrap();
    assert_eq!(c.window.size, Duration::from_secs(1800));
    assert_eq!(c.window_spec().unwrap().hop(), 600_000);
    assert_eq!(c.detectors[0].name(), "threshold");
    assert_eq!(c.matcher().unwrap().find("#OceanSpray!"), ["ocean-spray"]);
}

#[test]
fn the_demo_config_is_valid() {
    let c = load(None).unwrap();
    assert!(!c.topics.is_empty());
    // The adaptive detector first, so the dashboard draws its expected line and band; the
    // original threshold rule beside it.
    let kinds: Vec<&str> = c.detectors.iter().map(|d| d.kind()).collect();
    assert_eq!(kinds, ["adaptive", "threshold"]);
    assert!(DEMO_CONFIG.contains("[[topics]]"));
}

#[test]
fn max_delay_defaults_to_an_hour_and_is_checked() {
    let c = load_str(GOOD).unwrap();
    assert_eq!(c.window_spec().unwrap().max_delay(), 3_600_000);
    let c = load_str(&GOOD.replace(
        "lateness = \"1m\"",
        "lateness = \"1m\"\nmax_delay = \"15m\"",
    ))
    .unwrap();
    assert_eq!(c.window_spec().unwrap().max_delay(), 900_000);
    for (value, problem) in [("0s", "at least 1ms"), ("400d", "too large")] {
        let e = err(&GOOD.replace(
            "lateness = \"1m\"",
            &format!("lateness = \"1m\"\nmax_delay = \"{value}\""),
        ));
        assert!(e.contains("window.max_delay") && e.contains(problem), "{e}");
    }
    let e = err(&GOOD.replace(
        "lateness = \"1m\"",
        "lateness = \"1m\"\nmax_delay = \"soon\"",
    ));
    assert!(e.contains("max_delay"), "{e}");
}

#[test]
fn hop_defaults_to_size() {
    let c = load_str(&GOOD.replace("hop = \"10m\"\n", "")).unwrap();
    assert_eq!(c.window_spec().unwrap().hop(), 1_800_000);
}

#[test]
fn mistakes_name_their_key() {
    let cases: &[(&str, &str, &str)] = &[
        ("size = \"30m\"", "size = \"thirty\"", "window.size"),
        ("hop = \"10m\"", "hop = \"7m\"", "window"),
        (
            "threshold = 20000",
            "threshold = 0",
            "detectors[0].threshold",
        ),
        ("threshold = 20000", "threshold = -5", "detectors"),
        ("kind = \"threshold\"", "kind = \"magic\"", "detectors"),
        (
            "terms = [\"ocean spray\", \"oceanspray\"]",
            "terms = [\"ocean spray\", \"#!\"]",
            "topics[0].terms[1]",
        ),
        (
            "terms = [\"ocean spray\", \"oceanspray\"]",
            "terms = []",
            "topics[0].terms",
        ),
        (
            "name = \"ocean-spray\"",
            "name = \"ocean spray\"",
            "topics[0].name",
        ),
        ("[window]", "[window]\nsizee = \"1m\"", "sizee"),
    ];
    for (from, to, key) in cases {
        let toml = GOOD.replace(from, to);
        assert_ne!(toml, GOOD, "{from} not found");
        let e = err(&toml);
        assert!(e.contains(key), "{to:?} should name {key:?}, got: {e}");
    }
}

#[test]
fn cross_key_rules() {
    let e = err(&format!(
        "{GOOD}\n[[detectors]]\nkind = \"threshold\"\nthreshold = 5\n"
    ));
    assert!(e.contains("detectors[1].name"), "{e}");
    let e = err(&format!(
        "{GOOD}\n[sources.synthetic]\nspike_topic = \"nope\"\n"
    ));
    assert!(e.contains("sources.synthetic.spike_topic"), "{e}");
    let e = err(&format!("{GOOD}\n[http]\nlisten = \"localhost\"\n"));
    assert!(e.contains("http.listen"), "{e}");
    let e = err(&format!(
        "{GOOD}\n[notifiers.webhook]\nurl = \"not a url\"\n"
    ));
    assert!(e.contains("notifiers.webhook"), "{e}");
    let e = err(&format!("{GOOD}\n[bus]\nkind = \"kafka\"\n"));
    assert!(e.contains("bus.kind"), "{e}");
    let e = err(&format!("{GOOD}\n[aggregator]\nsamples = 21\n"));
    assert!(e.contains("aggregator.samples"), "{e}");
    assert!(load_str(&format!("{GOOD}\n[aggregator]\nsamples = 20\n")).is_ok());
    let e = err("[window]\nsize = \"1m\"\n");
    assert!(e.contains("topics"), "{e}");
}

#[test]
fn a_missing_file_is_an_error() {
    let e = load(Some(std::path::Path::new("/nonexistent/viral.toml"))).unwrap_err();
    assert!(matches!(e, ConfigError::Read { .. }), "{e}");
    assert!(e.to_string().contains("/nonexistent/viral.toml"));
}

#[test]
fn the_scylla_store_loads_with_production_settings() {
    let c = load_str(&format!(
        r#"{GOOD}
[store]
kind = "scylla"

[store.scylla]
nodes = "scylla-0:9042, scylla-1:9042"
keyspace = "viral_prod"
replication = {{ class = "NetworkTopologyStrategy", dc1 = 3, dc2 = 3 }}
local_datacenter = "dc1"
retention = "90d"
"#
    ))
    .unwrap();
    let s = c.store.scylla.unwrap();
    assert_eq!(s.nodes, ["scylla-0:9042", "scylla-1:9042"]);
    assert_eq!(s.consistency, "local_quorum");
    assert_eq!(s.retention, Duration::from_secs(90 * 24 * 3600));
    assert_eq!(
        s.replication.to_cql(),
        "{'class': 'NetworkTopologyStrategy', 'dc1': 3, 'dc2': 3}"
    );
}

#[test]
fn scylla_mistakes_name_their_key() {
    let base = format!("{GOOD}\n[store]\nkind = \"scylla\"\n");
    let e = err(&base);
    assert!(e.contains("store.scylla.nodes"), "{e}");
    let cases = [
        ("keyspace = \"viral-prod\"", "store.scylla.keyspace"),
        ("consistency = \"most\"", "store.scylla.consistency"),
        (
            "replication = { class = \"SimpleStrategy\", replication_factor = 0 }",
            "store.scylla.replication",
        ),
        (
            "replication = { class = \"NetworkTopologyStrategy\" }",
            "store.scylla.replication",
        ),
        ("retention = \"soon\"", "store.scylla.retention"),
        ("write_concurrency = 0", "store.scylla.write_concurrency"),
        (
            "password_env = \"VIRAL_TEST_SURELY_UNSET\"\nusername_env = \"PATH\"",
            "store.scylla.password_env",
        ),
        ("nodes_ = 1", "nodes_"),
    ];
    for (line, key) in cases {
        let e = err(&format!(
            "{base}\n[store.scylla]\nnodes = [\"db:9042\"]\n{line}\n"
        ));
        assert!(e.contains(key), "{line:?} should name {key:?}, got: {e}");
    }
}

#[test]
fn adaptive_and_burst_detectors_load_and_their_mistakes_name_the_key() {
    let c = load_str(&format!(
        "{GOOD}\n[[detectors]]\nkind = \"adaptive\"\nsensitivity = \"strict\"\n\n\
         [[detectors]]\nkind = \"burst\"\nfactor = 3.5\n"
    ))
    .unwrap();
    let kinds: Vec<&str> = c.detectors.iter().map(|d| d.kind()).collect();
    assert_eq!(kinds, ["threshold", "adaptive", "burst"]);
    let e = err(&format!(
        "{GOOD}\n[[detectors]]\nkind = \"adaptive\"\nsensitivity = \"paranoid\"\n"
    ));
    assert!(e.contains("detectors[1].sensitivity"), "{e}");
    let e = err(&format!(
        "{GOOD}\n[[detectors]]\nkind = \"burst\"\nfactor = 0.5\n"
    ));
    assert!(e.contains("detectors[1].factor"), "{e}");
}

#[test]
fn the_email_notifier_loads_and_a_bad_address_names_its_key() {
    let c = load_str(&format!(
        "{GOOD}\n[notifiers.email]\nsmtp_host = \"smtp.example.com\"\n\
         from = \"viral <alerts@example.com>\"\nto = [\"comms@example.com\"]\n"
    ))
    .unwrap();
    let e = c.notifiers.email.unwrap();
    assert_eq!(e.port(), 587, "STARTTLS by default");
    let e = err(&format!(
        "{GOOD}\n[notifiers.email]\nsmtp_host = \"smtp.example.com\"\n\
         from = \"nobody\"\nto = [\"comms@example.com\"]\n"
    ));
    assert!(e.contains("notifiers.email.from"), "{e}");
}

#[test]
fn sources_are_checked_by_key_and_the_demo_runs_alone() {
    let c = load_str(&format!("{GOOD}\n[sources.jetstream]\n")).unwrap();
    assert_eq!(c.sources.others(), ["jetstream"]);
    assert!(!c.sources.synthetic_runs());
    assert_eq!(
        c.sources.jetstream.unwrap().host,
        "jetstream2.us-east.bsky.network"
    );
    assert!(load_str(GOOD).unwrap().sources.synthetic_runs());

    let e = err(&format!(
        "{GOOD}\n[sources.jetstream]\nhost = \"http://example.com\"\n"
    ));
    assert!(e.contains("sources.jetstream.host"), "{e}");
    let e = err(&format!(
        "{GOOD}\n[sources.jetstream]\nreconnect_min = \"0s\"\n"
    ));
    assert!(e.contains("sources.jetstream.reconnect_min"), "{e}");
    let e = err(&format!("{GOOD}\n[sources.jetstream]\nhots = \"typo\"\n"));
    assert!(e.contains("hots"), "{e}");
    let e = err(&format!(
        "{GOOD}\n[sources.synthetic]\n[sources.jetstream]\n"
    ));
    assert!(e.contains("sources.synthetic"), "{e}");
    let e = err(&format!("{GOOD}\n[sources.file]\npath = \"\"\n"));
    assert!(e.contains("sources.file.path"), "{e}");
    let e = err(&format!("{GOOD}\n[sources.http]\nlisten = \"localhost\"\n"));
    assert!(e.contains("sources.http.listen"), "{e}");
    let e = err(&format!(
        "{GOOD}\n[http]\nlisten = \"127.0.0.1:8080\"\n[sources.http]\n"
    ));
    assert!(e.contains("sources.http.listen"), "{e}");
    let e = err(&format!("{GOOD}\n[sources.http]\nmax_body_bytes = 0\n"));
    assert!(e.contains("sources.http.max_body_bytes"), "{e}");
}

#[test]
fn the_brand_example_is_valid() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/brand.toml");
    let c = load(Some(&path)).unwrap();
    assert_eq!(c.sources.others(), ["jetstream", "mastodon"]);
    assert!(c.notifiers.webhook.is_some());
}

#[test]
fn the_bluesky_example_is_valid() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/bluesky.toml");
    let c = load(Some(&path)).unwrap();
    assert_eq!(c.sources.others(), ["jetstream"]);
}

#[test]
fn listener_limits_load_with_sane_defaults_and_mistakes_name_their_key() {
    let c = load_str(GOOD).unwrap();
    assert_eq!(c.http.header_read_timeout, Duration::from_secs(10));
    assert_eq!(c.http.idle_timeout, Duration::from_secs(60));
    assert_eq!(
        (
            c.http.max_connections,
            c.http.max_concurrent_queries,
            c.http.max_event_streams
        ),
        (256, 4, 64)
    );
    let c = load_str(&format!(
        "{GOOD}\n[http]\nheader_read_timeout = \"5s\"\nidle_timeout = \"30s\"\nmax_connections = 100\n\
         max_concurrent_queries = 2\nmax_event_streams = 8\n\
         [sources.http]\nmax_posts = 50\nheader_read_timeout = \"2s\"\nidle_timeout = \"20s\"\nmax_connections = 10\n"
    ))
    .unwrap();
    assert_eq!(c.http.limits().header_read_timeout, Duration::from_secs(5));
    assert_eq!(c.http.max_event_streams, 8);
    let ingest = c.sources.http.unwrap();
    assert_eq!((ingest.max_posts, ingest.max_connections), (50, 10));
    assert_eq!(ingest.limits().idle_timeout, Duration::from_secs(20));
    for (toml, key) in [
        (
            "[http]\nheader_read_timeout = \"0s\"",
            "http.header_read_timeout",
        ),
        ("[http]\nidle_timeout = \"5s\"", "http.idle_timeout"),
        ("[http]\nmax_connections = 0", "http.max_connections"),
        (
            "[http]\nmax_concurrent_queries = 0",
            "http.max_concurrent_queries",
        ),
        ("[http]\nmax_event_streams = 0", "http.max_event_streams"),
        ("[sources.http]\nmax_posts = 0", "sources.http.max_posts"),
        (
            "[sources.http]\nidle_timeout = \"0s\"",
            "sources.http.idle_timeout",
        ),
        (
            "[sources.http]\nmax_connections = 0",
            "sources.http.max_connections",
        ),
    ] {
        let e = err(&format!("{GOOD}\n{toml}\n"));
        assert!(e.contains(key), "{toml}: {e}");
    }
}
