//! X's reconnection guidance as a pure policy: after a network error (connection refused
//! or lost, a stall) wait 250 ms more each time up to 16 s; after an HTTP error, 5 s
//! doubling up to 320 s; after 429, 1 min doubling (and at least until the rate limit
//! resets, when X says when). A different kind of failure starts its own sequence
//! afresh, and a connection that delivers anything resets them all.

use std::time::Duration;

use crate::live::Backoff;

/// The kinds of failure X's guidance distinguishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    Network,
    Http,
    RateLimited,
}

#[derive(Debug)]
pub struct XBackoff {
    network: Backoff,
    http: Backoff,
    rate_limited: Backoff,
    last: Option<Failure>,
}

/// The longest wait after repeated 429s: X's rate-limit windows are 15 minutes.
const MAX_RATE_LIMIT_WAIT: Duration = Duration::from_secs(15 * 60);

impl XBackoff {
    /// `jitter`: the fraction of each delay added at random (0 for exact delays).
    pub fn new(jitter: f64) -> Self {
        let ms = Duration::from_millis;
        let s = Duration::from_secs;
        Self {
            network: Backoff::linear(ms(250), s(16)).with_jitter(jitter),
            http: Backoff::exponential(s(5), s(320)).with_jitter(jitter),
            rate_limited: Backoff::exponential(s(60), MAX_RATE_LIMIT_WAIT).with_jitter(jitter),
            last: None,
        }
    }

    /// How long to wait after `failure`; `until_reset` is how long X said its rate
    /// limit lasts (`x-rate-limit-reset`), if it did.
    pub fn next(&mut self, failure: Failure, until_reset: Option<Duration>) -> Duration {
        if self.last != Some(failure) {
            self.reset();
            self.last = Some(failure);
        }
        match failure {
            Failure::Network => self.network.next_delay(),
            Failure::Http => self.http.next_delay(),
            Failure::RateLimited => {
                let backoff = self.rate_limited.next_delay();
                until_reset.map_or(backoff, |r| r.min(MAX_RATE_LIMIT_WAIT).max(backoff))
            }
        }
    }

    /// A connection worked: the next failure starts from the first delay.
    pub fn reset(&mut self) {
        self.network.reset();
        self.http.reset();
        self.rate_limited.reset();
        self.last = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_is_x_s_and_restarts_per_kind_of_failure() {
        let (s, ms) = (Duration::from_secs, Duration::from_millis);
        let mut b = XBackoff::new(0.0);
        let network: Vec<_> = (0..66).map(|_| b.next(Failure::Network, None)).collect();
        assert_eq!(&network[..4], [ms(250), ms(500), ms(750), ms(1000)]);
        assert_eq!(network[63], s(16));
        assert_eq!(network[65], s(16), "linear up to 16 s");
        let http: Vec<_> = (0..8).map(|_| b.next(Failure::Http, None)).collect();
        assert_eq!(
            http,
            [s(5), s(10), s(20), s(40), s(80), s(160), s(320), s(320)]
        );
        let limited: Vec<_> = (0..6).map(|_| b.next(Failure::RateLimited, None)).collect();
        assert_eq!(limited, [s(60), s(120), s(240), s(480), s(900), s(900)]);
        b.reset();
        assert_eq!(
            b.next(Failure::RateLimited, Some(s(600))),
            s(600),
            "X's reset time wins when later"
        );
        assert_eq!(
            b.next(Failure::RateLimited, Some(s(1))),
            s(120),
            "but never below the backoff"
        );
        assert_eq!(
            b.next(Failure::RateLimited, Some(s(86_400))),
            s(900),
            "nor beyond a window"
        );
        let mut jittered = XBackoff::new(crate::live::JITTER);
        let d = jittered.next(Failure::Http, None);
        assert!(
            d >= s(5) && d <= s(5).mul_f64(1.0 + crate::live::JITTER),
            "{d:?}"
        );
    }
}
