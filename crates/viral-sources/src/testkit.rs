//! Helpers the sources' tests share: fixtures, bounded waits, running a source.

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use viral_core::Post;

use crate::{Source, SourceError};

/// A safety net so that a broken test fails instead of hanging; never a timing assertion.
pub(crate) const PATIENCE: Duration = Duration::from_secs(20);

/// Await `f`, failing the test (naming `what`) if it never completes.
pub(crate) async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    match tokio::time::timeout(PATIENCE, f).await {
        Ok(v) => v,
        Err(_) => panic!("gave up waiting for {what}"),
    }
}

/// The lines of `fixtures/<path>`.
pub(crate) fn fixture_lines(path: &str) -> Vec<String> {
    let full = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(path);
    let text = std::fs::read_to_string(&full)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", full.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

/// A running source and what it sends.
pub(crate) struct Running {
    pub posts: mpsc::Receiver<Post>,
    pub stop: CancellationToken,
    pub task: JoinHandle<Result<(), SourceError>>,
}

impl Running {
    pub(crate) fn start(source: Box<dyn Source>) -> Self {
        let (tx, posts) = mpsc::channel(64);
        let stop = CancellationToken::new();
        let task = tokio::spawn(source.run(tx, stop.clone()));
        Self { posts, stop, task }
    }

    pub(crate) async fn next_post(&mut self) -> Post {
        within("a post", self.posts.recv())
            .await
            .expect("the source stopped before sending a post")
    }

    /// Stop the source and check that it stopped cleanly.
    pub(crate) async fn stop(self) {
        self.stop.cancel();
        within("the source to stop", self.task)
            .await
            .expect("the source panicked")
            .expect("the source failed");
    }
}
