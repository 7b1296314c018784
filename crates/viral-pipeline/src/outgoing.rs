//! The aggregator's output fitted to the bus, so that no record can make its commit fail
//! over and over (which would restart it from the same commit forever).
//!
//! Before a commit every record is checked against the bus's limit: a window count sheds
//! samples until it fits (the count is the product, its samples the least of it), and
//! anything else that does not fit is replaced by its dead letter. When the bus refuses
//! records all the same (a broker whose own limit is lower), the commit is redone once
//! with a count sent without its samples, a dead letter without its excerpt, and
//! anything else as a dead letter.

use viral_bus::{Record, Refusal, TopicNames};
use viral_core::WindowCount;

use crate::deadletter::{self, Reason};

/// Builds the dead letter (counted) of a record that cannot go out.
pub(crate) trait Letters {
    fn letter(&self, record: &Record, reason: Reason, error: &str) -> Option<Record>;
}

/// `wc` as a message of at most `limit` bytes if it can be: samples are shed (last
/// first) until it fits; the count itself always goes out.
pub(crate) fn encode_count(
    wc: &mut WindowCount,
    limit: usize,
) -> Result<Vec<u8>, serde_json::Error> {
    loop {
        let payload = serde_json::to_vec(wc)?;
        let fits = Refusal::of_size(0, limit, &wc.topic, &payload).is_none();
        if fits || wc.samples.is_empty() {
            return Ok(payload);
        }
        wc.samples.pop();
        tracing::warn!(topic = %wc.topic, bytes = payload.len(), limit, "a window count over the bus's limit: shed a sample");
    }
}

/// Replace each of `records` over `limit` by its dead letter.
pub(crate) fn fit(records: &mut [Record], limit: usize, letters: &impl Letters) {
    for r in records {
        if let Some(too_large) = Refusal::of_size(0, limit, &r.key, &r.payload) {
            if let Some(letter) = letters.letter(r, Reason::TooLarge, &too_large.reason) {
                *r = letter;
            }
        }
    }
}

/// Put in place of each record of a commit that the bus `refused` for good what can go
/// instead (see the module's documentation).
pub(crate) fn replace_refused(
    records: &mut [Record],
    refused: &[Refusal],
    topics: &TopicNames,
    letters: &impl Letters,
) {
    for r in refused {
        let Some(record) = records.get_mut(r.index) else {
            continue;
        };
        if record.topic == topics.counts {
            if let Some(bare) = without_samples(&record.payload) {
                tracing::warn!(topic = %record.key, reason = %r.reason, "the bus refused a window count; sending it without its samples");
                record.payload = bare;
                continue;
            }
        }
        if record.topic == topics.deadletter {
            if let Some(small) = deadletter::shrink(record) {
                tracing::warn!(reason = %r.reason, "the bus refused a dead letter; sending it without its excerpt");
                *record = small;
                continue;
            }
        }
        let reason = if r.too_large {
            Reason::TooLarge
        } else {
            Reason::Rejected
        };
        if let Some(letter) = letters.letter(record, reason, &r.reason) {
            *record = letter;
        }
    }
}

/// An encoded window count without its samples, if it had any.
fn without_samples(payload: &[u8]) -> Option<Vec<u8>> {
    let mut wc: WindowCount = serde_json::from_slice(payload).ok()?;
    if wc.samples.is_empty() {
        return None;
    }
    wc.samples.clear();
    serde_json::to_vec(&wc).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use viral_core::time::from_millis;
    use viral_core::Sample;

    #[test]
    fn a_count_sheds_samples_until_it_fits_and_always_goes_out() {
        let sample = Sample {
            text: "s".repeat(1000),
            url: None,
        };
        let mut wc = WindowCount {
            topic: "t".into(),
            window_start: from_millis(0),
            window_end: from_millis(600_000),
            count: 7,
            samples: vec![sample; 5],
        };
        let payload = encode_count(&mut wc, 2500).unwrap();
        assert!(payload.len() < 2500, "{}", payload.len());
        assert_eq!((wc.count, wc.samples.len()), (7, 2));
        let payload = encode_count(&mut wc, 10).unwrap();
        assert!(wc.samples.is_empty());
        let back: WindowCount = serde_json::from_slice(&payload).unwrap();
        assert_eq!(back.count, 7);
    }
}
