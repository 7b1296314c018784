//! The viral configs tests write, from one builder: the demo's topics and windows are
//! written once here, and each test states only what it is about (its store, detectors,
//! sources). The result is TOML text, what `--config` reads, so tests also go through
//! the real loader and its validation.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// A config under construction; [`TestConfig::toml`] is the file's text.
#[derive(Debug, Clone, Default)]
pub struct TestConfig {
    topics: Vec<(String, Vec<String>)>,
    window: Vec<(&'static str, String)>,
    tables: Vec<String>,
}

impl TestConfig {
    /// No topics, no window: for tests that write their own.
    pub fn empty() -> Self {
        Self::default()
    }

    /// The demo's topics, `ocean-spray` ("ocean spray", "oceanspray") and `cranberry`,
    /// in 30-minute windows with a minute of lateness.
    pub fn demo() -> Self {
        Self::empty()
            .topic("ocean-spray", &["ocean spray", "oceanspray"])
            .topic("cranberry", &["cranberry"])
            .window("30m")
            .lateness("1m")
    }

    /// One `[[topics]]` entry (in place of one of the same name).
    pub fn topic(mut self, name: &str, terms: &[&str]) -> Self {
        let terms = terms.iter().map(|t| (*t).to_owned()).collect();
        match self.topics.iter_mut().find(|(n, _)| n == name) {
            Some(topic) => topic.1 = terms,
            None => self.topics.push((name.to_owned(), terms)),
        }
        self
    }

    /// Only these topics (replacing the demo's).
    pub fn topics(mut self, topics: &[(&str, &[&str])]) -> Self {
        self.topics.clear();
        topics
            .iter()
            .fold(self, |c, (name, terms)| c.topic(name, terms))
    }

    /// `window.size`.
    pub fn window(self, size: &str) -> Self {
        self.window_key("size", size)
    }

    /// `window.lateness`.
    pub fn lateness(self, lateness: &str) -> Self {
        self.window_key("lateness", lateness)
    }

    /// `window.hop`.
    pub fn hop(self, hop: &str) -> Self {
        self.window_key("hop", hop)
    }

    /// No `window.lateness` (the default).
    pub fn default_lateness(mut self) -> Self {
        self.window.retain(|(k, _)| *k != "lateness");
        self
    }

    fn window_key(mut self, key: &'static str, value: &str) -> Self {
        self.window.retain(|(k, _)| *k != key);
        self.window.push((key, value.to_owned()));
        self
    }

    /// A `[[detectors]]` entry of kind `threshold`.
    pub fn threshold(self, threshold: u64) -> Self {
        self.with(&format!(
            "[[detectors]]\nkind = \"threshold\"\nthreshold = {threshold}\n"
        ))
    }

    /// A `[[detectors]]` entry of `kind` with its defaults.
    pub fn detector(self, kind: &str) -> Self {
        self.with(&format!("[[detectors]]\nkind = {}\n", quoted(kind)))
    }

    /// The SQLite store at `path`.
    pub fn sqlite(self, path: &Path) -> Self {
        self.with(&format!(
            "[store.sqlite]\npath = {}\n",
            quoted(&path.display().to_string())
        ))
    }

    /// The ops/query server on a port the system picks (the service logs it).
    pub fn any_port(self) -> Self {
        self.with("[http]\nlisten = \"127.0.0.1:0\"\n")
    }

    /// One JSON object per log line, for tests that read the log.
    pub fn json_logs(self) -> Self {
        self.with("[log]\nformat = \"json\"\n")
    }

    /// More TOML, as written (tables and arrays of tables, not top-level keys).
    pub fn with(mut self, toml: &str) -> Self {
        if !toml.trim().is_empty() {
            self.tables.push(toml.trim().to_owned());
        }
        self
    }

    /// The file's text.
    pub fn toml(&self) -> String {
        let mut out = String::new();
        for (name, terms) in &self.topics {
            let terms: Vec<String> = terms.iter().map(|t| quoted(t)).collect();
            let _ = writeln!(
                out,
                "[[topics]]\nname = {}\nterms = [{}]\n",
                quoted(name),
                terms.join(", ")
            );
        }
        if !self.window.is_empty() {
            out.push_str("[window]\n");
            for (k, v) in &self.window {
                let _ = writeln!(out, "{k} = {}", quoted(v));
            }
            out.push('\n');
        }
        for table in &self.tables {
            let _ = writeln!(out, "{table}\n");
        }
        out
    }

    /// Write the file as `dir/viral.toml` and return its path.
    pub fn write_in(&self, dir: &Path) -> PathBuf {
        let path = dir.join("viral.toml");
        std::fs::write(&path, self.toml())
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        path
    }
}

/// `s` as a TOML basic string (a JSON string is one: the same quotes and escapes).
pub fn quoted(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_loader_reads_what_the_builder_writes() {
        let db = Path::new("/tmp/a \"b\"/viral.db");
        let text = TestConfig::demo()
            .hop("10m")
            .threshold(50)
            .sqlite(db)
            .toml();
        let c = viral_config::load_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let topics: Vec<(&str, &[String])> = c
            .topics
            .iter()
            .map(|t| (t.name.as_str(), t.terms.as_slice()))
            .collect();
        assert_eq!(
            topics,
            [
                (
                    "ocean-spray",
                    &["ocean spray".to_owned(), "oceanspray".to_owned()][..]
                ),
                ("cranberry", &["cranberry".to_owned()][..]),
            ]
        );
        assert_eq!(c.window.size, std::time::Duration::from_secs(1800));
        assert_eq!(c.window.hop, Some(std::time::Duration::from_secs(600)));
        assert_eq!(c.window.lateness, std::time::Duration::from_secs(60));
        assert_eq!(c.detectors.len(), 1);
        assert_eq!(c.store.sqlite.path, db);
    }
}
