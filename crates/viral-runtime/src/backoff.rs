//! How long a process waits before it tries again: a source its service, a stage its bus
//! or its store, a store its database. One home, so that every retry loop grows its
//! delays the same way.
//!
//! The shapes are pure iterators over delays (exponential from [`backon`], linear for X's
//! network-error rule), so a test can assert the exact sequence a policy produces. Jitter
//! is added on top, as a fraction of each delay, so that processes restarted together
//! (a deployment, a network blip) do not all knock on the service at the same instant.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Fraction of a delay added at random by default: each wait lies in `[d, 1.25·d)`.
pub const JITTER: f64 = 0.25;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// `first`, `2·first`, `4·first`, … up to `max`.
    Exponential { first: Duration, max: Duration },
    /// `step`, `2·step`, `3·step`, … up to `max`.
    Linear { step: Duration, max: Duration },
}

/// A sequence of delays between attempts; [`reset`](Self::reset) after a success.
#[derive(Debug)]
pub struct Backoff {
    shape: Shape,
    jitter: f64,
    rng: ChaCha8Rng,
    exponential: Option<ExponentialBackoff>,
    attempts: u32,
}

impl Backoff {
    /// Doubling delays from `first`, never above `max`.
    pub fn exponential(first: Duration, max: Duration) -> Self {
        Self::new(Shape::Exponential {
            first,
            max: max.max(first),
        })
    }

    /// Delays growing by `step` each attempt, never above `max`.
    pub fn linear(step: Duration, max: Duration) -> Self {
        Self::new(Shape::Linear {
            step,
            max: max.max(step),
        })
    }

    fn new(shape: Shape) -> Self {
        let mut b = Self {
            shape,
            jitter: JITTER,
            rng: ChaCha8Rng::seed_from_u64(fresh_seed()),
            exponential: None,
            attempts: 0,
        };
        b.reset();
        b
    }

    /// Add up to `fraction` of each delay at random (0: exact delays, as tests want).
    pub fn with_jitter(mut self, fraction: f64) -> Self {
        self.jitter = if fraction.is_finite() {
            fraction.clamp(0.0, 1.0)
        } else {
            0.0
        };
        self
    }

    /// Make the jitter reproducible.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.rng = ChaCha8Rng::seed_from_u64(seed);
        self
    }

    /// The next delay before jitter, and the count of attempts since the last reset.
    fn next_base(&mut self) -> Duration {
        self.attempts = self.attempts.saturating_add(1);
        match self.shape {
            Shape::Exponential { max, .. } => self
                .exponential
                .as_mut()
                .and_then(Iterator::next)
                .unwrap_or(max),
            Shape::Linear { step, max } => step.saturating_mul(self.attempts).min(max),
        }
    }

    /// How long to wait before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let base = self.next_base();
        if self.jitter == 0.0 {
            return base;
        }
        let extra = base.mul_f64(self.jitter * self.rng.random::<f64>());
        base.saturating_add(extra)
    }

    /// Attempts since the last reset.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Start again from the first delay (after a connection that worked).
    pub fn reset(&mut self) {
        self.attempts = 0;
        self.exponential = match self.shape {
            Shape::Exponential { first, max } => Some(
                ExponentialBuilder::default()
                    .with_min_delay(first)
                    .with_max_delay(max)
                    .with_factor(2.0)
                    .without_max_times()
                    .build(),
            ),
            Shape::Linear { .. } => None,
        };
    }
}

/// A different seed for each backoff, good enough for jitter (which needs spread, not
/// secrecy): the clock's nanoseconds mixed with a process-wide counter.
fn fresh_seed() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    nanos ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Where a source's waits go: real sleeps in production; in tests, a record of each
/// delay asked for (the wait itself returns at once), so a test can check the delays a
/// source chose against a misbehaving server without waiting for them.
#[derive(Debug, Clone, Default)]
pub struct Pause {
    record: Option<mpsc::UnboundedSender<Duration>>,
}

impl Pause {
    /// Sleep for real.
    pub fn real() -> Self {
        Self::default()
    }

    /// Do not sleep; send each delay to the returned receiver instead.
    pub fn recorded() -> (Self, mpsc::UnboundedReceiver<Duration>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self { record: Some(tx) }, rx)
    }

    /// Wait `delay`; false if shutdown came first.
    pub async fn wait(&self, delay: Duration, shutdown: &CancellationToken) -> bool {
        if let Some(record) = &self.record {
            let _ = record.send(delay);
            // Let the other side (a test server) run before the next attempt.
            tokio::task::yield_now().await;
            return !shutdown.is_cancelled();
        }
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => false,
            _ = tokio::time::sleep(delay) => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn take(b: &mut Backoff, n: usize) -> Vec<Duration> {
        (0..n).map(|_| b.next_delay()).collect()
    }

    #[test]
    fn exponential_doubles_up_to_its_cap_and_resets() {
        let mut b = Backoff::exponential(ms(500), ms(4000)).with_jitter(0.0);
        assert_eq!(
            take(&mut b, 6),
            [ms(500), ms(1000), ms(2000), ms(4000), ms(4000), ms(4000)]
        );
        assert_eq!(b.attempts(), 6);
        b.reset();
        assert_eq!(b.attempts(), 0);
        assert_eq!(take(&mut b, 2), [ms(500), ms(1000)]);
    }

    #[test]
    fn linear_grows_by_its_step_up_to_its_cap() {
        let mut b = Backoff::linear(ms(250), ms(1000)).with_jitter(0.0);
        assert_eq!(
            take(&mut b, 6),
            [ms(250), ms(500), ms(750), ms(1000), ms(1000), ms(1000)]
        );
        b.reset();
        assert_eq!(b.next_delay(), ms(250));
    }

    #[test]
    fn jitter_only_adds_up_to_its_fraction_and_is_reproducible_by_seed() {
        let exact = take(
            &mut Backoff::exponential(ms(100), Duration::from_secs(60)).with_jitter(0.0),
            10,
        );
        let jittered = take(
            &mut Backoff::exponential(ms(100), Duration::from_secs(60)).with_seed(7),
            10,
        );
        for (d, j) in exact.iter().zip(&jittered) {
            assert!(*j >= *d && *j <= d.mul_f64(1.0 + JITTER), "{j:?} vs {d:?}");
        }
        assert_ne!(exact, jittered, "jitter changes something");
        let again = take(
            &mut Backoff::exponential(ms(100), Duration::from_secs(60)).with_seed(7),
            10,
        );
        assert_eq!(jittered, again);
    }

    #[tokio::test]
    async fn recorded_pause_reports_the_delay_and_returns_at_once() {
        let (pause, mut delays) = Pause::recorded();
        let stop = tokio_util::sync::CancellationToken::new();
        assert!(pause.wait(Duration::from_secs(3600), &stop).await);
        assert_eq!(delays.recv().await, Some(Duration::from_secs(3600)));
        stop.cancel();
        assert!(!pause.wait(ms(1), &stop).await);
    }
}
