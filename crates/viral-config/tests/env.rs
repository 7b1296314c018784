//! Environment overrides. In a test binary of their own, because they change the process
//! environment that every config load in the same process would read.
#![allow(clippy::result_large_err)] // figment::Jail's closure signature, not ours

use std::path::Path;
use std::time::Duration;

use figment::Jail;
use viral_config::load;

const GOOD: &str = r#"
[[topics]]
name = "ocean-spray"
terms = ["ocean spray"]

[window]
size = "30m"
"#;

#[test]
fn environment_overrides_the_file() {
    Jail::expect_with(|jail| {
        jail.create_file("viral.toml", GOOD)?;
        jail.set_env("VIRAL__WINDOW__SIZE", "1h");
        jail.set_env("VIRAL__WINDOW__HOP", "1h");
        jail.set_env("VIRAL__HTTP__LISTEN", "0.0.0.0:9999");
        let c = load(Some(Path::new("viral.toml"))).map_err(|e| e.to_string())?;
        assert_eq!(c.window.size, Duration::from_secs(3600));
        assert_eq!(c.http.listen, "0.0.0.0:9999");
        Ok(())
    });
}

#[test]
fn a_bad_environment_value_names_its_key() {
    Jail::expect_with(|jail| {
        jail.create_file("viral.toml", GOOD)?;
        jail.set_env("VIRAL__WINDOW__LATENESS", "soon");
        let e = load(Some(Path::new("viral.toml"))).unwrap_err().to_string();
        assert!(e.contains("window.lateness"), "{e}");
        Ok(())
    });
}
