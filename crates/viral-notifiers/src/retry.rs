//! Delivery with retries, shared by the notifiers that talk to a remote receiver:
//! exponential backoff with jitter, the receiver's own hint (`Retry-After`) when it gives
//! one, and a time budget after which the alert is given up rather than holding the
//! alerter back forever.

use std::future::Future;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use tokio::time::Instant;

use crate::NotifyError;

/// Backoff stops growing here, so a long budget still retries now and then.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// Why one attempt failed.
pub(crate) enum Failure {
    /// Sending the same thing again cannot help: give up at once with this error.
    Final(NotifyError),
    /// Worth another attempt (network trouble, timeouts, a busy receiver).
    Retryable {
        retry_after: Option<Duration>,
        message: String,
    },
}

/// Run `attempt` until it succeeds, fails finally, or the next wait would end past
/// `budget`. `what` names the delivery in logs (`webhook`, `email`), `id` the alert.
pub(crate) async fn deliver<F, Fut>(
    what: &str,
    id: &str,
    budget: Duration,
    initial_backoff: Duration,
    mut attempt: F,
) -> Result<(), NotifyError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), Failure>>,
{
    // None only if the budget is too large to add to now: then there is no limit.
    let deadline = Instant::now().checked_add(budget);
    let mut backoff = ExponentialBuilder::default()
        .with_min_delay(initial_backoff)
        .with_max_delay(MAX_BACKOFF)
        .with_jitter()
        .without_max_times()
        .build();
    let mut attempts: u32 = 0;
    loop {
        attempts = attempts.saturating_add(1);
        let (retry_after, message) = match attempt().await {
            Ok(()) => {
                tracing::debug!(notifier = what, id, attempts, "delivered");
                return Ok(());
            }
            Err(Failure::Final(e)) => {
                tracing::warn!(notifier = what, id, error = %e, "delivery refused");
                return Err(e);
            }
            Err(Failure::Retryable {
                retry_after,
                message,
            }) => (retry_after, message),
        };
        // The receiver knows its own load best, so its hint wins over our guess.
        let wait = retry_after.unwrap_or_else(|| backoff.next().unwrap_or(MAX_BACKOFF));
        // Waiting past the deadline only to give up later would hold the alerter back.
        let out_of_time = deadline.is_some_and(|d| {
            Instant::now()
                .checked_add(wait)
                .is_none_or(|resume| resume > d)
        });
        if out_of_time {
            tracing::warn!(notifier = what, id, attempts, error = %message, "delivery given up");
            return Err(NotifyError::GaveUp {
                attempts,
                last_error: message,
            });
        }
        tracing::warn!(notifier = what, id, attempts, error = %message, retry_in = ?wait, "delivery failed; retrying");
        tokio::time::sleep(wait).await;
    }
}
