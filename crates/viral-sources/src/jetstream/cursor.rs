//! The saved Jetstream cursor: the `time_us` of the last event handled, in a small text
//! file, replaced atomically (write a temporary file, then rename) so a crash mid-write
//! leaves the previous cursor rather than a torn one.

use std::io;
use std::path::{Path, PathBuf};

pub(crate) struct CursorFile {
    path: PathBuf,
}

impl CursorFile {
    pub(crate) fn new(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
        }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The saved cursor; `None` when there is none yet. A file that does not hold a
    /// number is reported, so the caller can start afresh and say why.
    pub(crate) async fn load(&self) -> io::Result<Option<i64>> {
        let text = match tokio::fs::read_to_string(&self.path).await {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        text.trim().parse::<i64>().map(Some).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("not a cursor ({e}): {:?}", text.trim()),
            )
        })
    }

    pub(crate) async fn save(&self, time_us: i64) -> io::Result<()> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(dir).await?;
        }
        let mut tmp = self.path.clone().into_os_string();
        tmp.push(".tmp");
        tokio::fs::write(&tmp, format!("{time_us}\n")).await?;
        tokio::fs::rename(&tmp, &self.path).await
    }
}
