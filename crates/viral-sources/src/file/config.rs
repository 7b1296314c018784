//! Keys of `[sources.file]`: which JSONL file of posts to replay into the pipeline, where
//! in time, and how fast.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::FileTime;
use crate::{BuildContext, CheckContext, InvalidConfig, Source, SourceConfig};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// A JSONL file of posts (the Post message: docs/ARCHITECTURE.md), one per line.
    pub path: PathBuf,
    /// Where the recording is placed in time: moved onto the present (default) or as
    /// recorded.
    #[serde(default)]
    pub time: FileTime,
    /// With `time = "rebase"`: how many times faster than real time the pipeline's clock
    /// runs (unset: real time), as in the demo. With `time = "recorded"`: unset, as fast
    /// as the pipeline takes them; set, paced by the gaps between the posts'
    /// `created_at`, divided by this (1.0 = as they happened, 60.0 = an hour a minute).
    #[serde(default)]
    pub speed: Option<f64>,
}

impl FileConfig {
    /// Check the values; the keys named are relative to `sources.file`.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        if self.path.as_os_str().is_empty() {
            return Err(InvalidConfig::new("path", "must not be empty"));
        }
        if let Some(speed) = self.speed {
            if !(speed.is_finite() && speed > 0.0) {
                return Err(InvalidConfig::new(
                    "speed",
                    format!("must be a positive number, got {speed}"),
                ));
            }
        }
        Ok(())
    }
}

impl SourceConfig for FileConfig {
    fn check(&self, _: &CheckContext<'_>) -> Result<(), InvalidConfig> {
        self.validate()
    }

    fn build(&self, ctx: &BuildContext) -> Result<Box<dyn Source>, InvalidConfig> {
        Ok(Box::new(super::FileSource::new(
            self.clone(),
            ctx.clock.clone(),
        )))
    }
}
