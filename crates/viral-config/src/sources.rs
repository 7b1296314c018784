//! The `[sources]` section: one table per source, each registered below with one line,
//! `key: its config type`. A type registered here is a [`SourceConfig`]: it checks itself
//! (the loader names its errors `sources.<key>.<its key>`) and builds its source, so
//! nothing else in viral has to know the list.

use std::sync::LazyLock;

use serde::Deserialize;
use viral_sources::synthetic::SyntheticConfig;
use viral_sources::SourceConfig;

/// The demo's key: it runs alone (it drives the pipeline's simulated clock) and is the
/// source when no other is configured.
const SYNTHETIC: &str = "synthetic";

/// The demo's defaults, for when it runs without a table of its own.
static DEFAULT_SYNTHETIC: LazyLock<SyntheticConfig> = LazyLock::new(SyntheticConfig::default);

/// Declares [`SourcesConfig`] from the registrations: a field per source, and the list
/// of those configured.
macro_rules! sources {
    ($($(#[$doc:meta])* $key:ident: $config:ty,)*) => {
        /// The producer's sources: every table present runs, all at once, except the
        /// synthetic demo, which runs alone (it drives the pipeline's simulated clock) and
        /// is the default when no other source is configured.
        #[derive(Debug, Clone, Default, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct SourcesConfig {
            $($(#[$doc])* #[serde(default)] pub $key: Option<$config>,)*
        }

        impl SourcesConfig {
            /// Every configured source with its key, in the order registered.
            pub fn configured(&self) -> Vec<(&'static str, &dyn SourceConfig)> {
                let mut out: Vec<(&'static str, &dyn SourceConfig)> = Vec::new();
                $(if let Some(c) = &self.$key {
                    out.push((stringify!($key), c));
                })*
                out
            }
        }
    };
}

sources! {
    /// The built-in demo.
    synthetic: SyntheticConfig,
    /// A JSONL file of posts, replayed.
    file: viral_sources::file::FileConfig,
    /// Bluesky, through a Jetstream instance.
    jetstream: viral_sources::jetstream::JetstreamConfig,
    /// Mastodon streaming (hashtags, public timeline) on one instance.
    mastodon: viral_sources::mastodon::MastodonConfig,
    /// The X API v2 filtered stream, its rules kept equal to the topics.
    x: viral_sources::x::XConfig,
    /// The HTTP ingest endpoint (`POST /api/v1/posts`).
    http: viral_sources::http::HttpIngestConfig,
}

impl SourcesConfig {
    /// The keys of the configured sources other than the synthetic demo.
    pub fn others(&self) -> Vec<&'static str> {
        self.configured()
            .into_iter()
            .map(|(key, _)| key)
            .filter(|key| *key != SYNTHETIC)
            .collect()
    }

    /// Whether the synthetic demo is the source: it is when nothing else is configured.
    pub fn synthetic_runs(&self) -> bool {
        self.others().is_empty()
    }

    /// What a producer runs, with their keys: the synthetic demo alone (its defaults when
    /// `[sources.synthetic]` is absent) when no other source is configured, else every
    /// configured source.
    pub fn running(&self) -> Vec<(&'static str, &dyn SourceConfig)> {
        if self.synthetic_runs() {
            let demo = self.synthetic.as_ref().unwrap_or(&DEFAULT_SYNTHETIC);
            return vec![(SYNTHETIC, demo)];
        }
        self.configured()
            .into_iter()
            .filter(|(key, _)| *key != SYNTHETIC)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use crate::load_str;

    const TOPICS: &str = "[[topics]]\nname = \"spray\"\nterms = [\"ocean spray\"]\n\
                          [window]\nsize = \"30m\"\n";

    fn keys(running: Vec<(&'static str, &dyn viral_sources::SourceConfig)>) -> Vec<&'static str> {
        running.into_iter().map(|(key, _)| key).collect()
    }

    #[test]
    fn the_demo_runs_alone_and_otherwise_every_table_present_runs() {
        let none = load_str(TOPICS).unwrap();
        assert!(none.sources.configured().is_empty());
        assert_eq!(keys(none.sources.running()), ["synthetic"]);
        let two = load_str(&format!(
            "{TOPICS}[sources.http]\nlisten = \"127.0.0.1:0\"\n[sources.jetstream]\n"
        ))
        .unwrap();
        assert_eq!(two.sources.others(), ["jetstream", "http"]);
        assert_eq!(keys(two.sources.running()), ["jetstream", "http"]);
    }

    #[test]
    fn a_source_s_own_check_names_the_full_key() {
        for (table, key) in [
            (
                "[sources.synthetic]\nspeed = 0.0",
                "sources.synthetic.speed",
            ),
            (
                "[sources.x]\nmax_rule_length = 3",
                "sources.x.max_rule_length",
            ),
            (
                "[sources.mastodon]\npublic = true",
                "sources.mastodon.instance",
            ),
        ] {
            let e = load_str(&format!("{TOPICS}{table}\n")).unwrap_err();
            assert!(
                e.to_string().starts_with(&format!("config key `{key}`: ")),
                "{e}"
            );
        }
    }
}
