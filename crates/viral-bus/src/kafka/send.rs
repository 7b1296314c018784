//! Handing records to librdkafka and collecting their outcomes, shared by plain
//! publishing and transactions.
//!
//! Two things every send path must get right:
//!
//! - `QueueFull`: librdkafka's local queue (`queue.buffering.max.messages` / `…kbytes`)
//!   is full. Not an error of the record: wait for the oldest of our records in flight to
//!   be confirmed (or, with none of ours in flight, a moment) and try again, for at most
//!   the publish timeout.
//! - Refusals for good (too large, invalid record): retrying the record can never help,
//!   so it is reported as a [`Refusal`] naming it, apart from errors that a retry can
//!   cure (a broker away), so that the caller dead-letters it instead of retrying forever.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};

use super::unavailable;
use crate::{BusError, Refusal};

/// How long to wait for librdkafka's queue to drain when none of our records is in it.
const QUEUE_FULL_PAUSE: Duration = Duration::from_millis(10);

/// Whether the broker or librdkafka refuses a record for good with `code`.
fn permanent(code: RDKafkaErrorCode) -> Option<bool> {
    use RDKafkaErrorCode as C;
    match code {
        C::MessageSizeTooLarge | C::InvalidMessageSize | C::MessageBatchTooLarge => Some(true),
        C::InvalidMessage | C::InvalidRecord | C::BadMessage => Some(false),
        _ => None,
    }
}

/// A record's failure: a refusal for good, or an error worth retrying.
fn classify(index: usize, e: &KafkaError) -> Result<Refusal, BusError> {
    match e.rdkafka_error_code().and_then(permanent) {
        Some(too_large) => Ok(Refusal {
            index,
            too_large,
            reason: e.to_string(),
        }),
        None => Err(unavailable(e)),
    }
}

/// What a delivery future yields.
type Delivered = <DeliveryFuture as std::future::Future>::Output;

/// Records handed to one producer, in order, and what became of them.
#[derive(Default)]
pub(super) struct Sent {
    in_flight: VecDeque<(usize, DeliveryFuture)>,
    refused: Vec<Refusal>,
    /// The first failure a retry could cure.
    failed: Option<BusError>,
}

impl Sent {
    /// Enqueue `record` (the `index`th of the call), waiting while librdkafka's queue is
    /// full, at most `timeout`. A refusal is recorded, not returned; `Err` only when the
    /// queue stayed full or the producer failed otherwise.
    pub(super) async fn send(
        &mut self,
        producer: &FutureProducer,
        index: usize,
        mut record: FutureRecord<'_, str, [u8]>,
        timeout: Duration,
    ) -> Result<(), BusError> {
        let deadline = Instant::now() + timeout;
        loop {
            match producer.send_result(record) {
                Ok(d) => {
                    self.in_flight.push_back((index, d));
                    return Ok(());
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    if Instant::now() >= deadline {
                        return Err(BusError::Unavailable(format!(
                            "librdkafka's queue stayed full for {timeout:?}"
                        )));
                    }
                    record = back;
                    match self.in_flight.pop_front() {
                        Some((i, d)) => self.confirm(i, d).await,
                        // Others' records fill it (a shared producer): they drain by
                        // themselves.
                        None => tokio::time::sleep(QUEUE_FULL_PAUSE).await,
                    }
                }
                Err((e, _)) => {
                    return match classify(index, &e) {
                        Ok(r) => {
                            self.refused.push(r);
                            Ok(())
                        }
                        Err(e) => Err(e),
                    }
                }
            }
        }
    }

    /// Records refused so far (at enqueueing, or confirmed as refused).
    pub(super) fn refused(&self) -> bool {
        !self.refused.is_empty()
    }

    async fn confirm(&mut self, index: usize, d: DeliveryFuture) {
        let outcome = d.await;
        self.record(index, outcome);
    }

    fn record(&mut self, index: usize, outcome: Delivered) {
        let failure = match outcome {
            Ok(Ok(_)) => return,
            Ok(Err((e, _))) => classify(index, &e),
            Err(_) => Err(BusError::Unavailable("delivery report lost".into())),
        };
        match failure {
            Ok(r) => self.refused.push(r),
            Err(e) => {
                self.failed.get_or_insert(e);
            }
        }
    }

    /// Wait for every record's outcome: `Ok` when all were accepted; an error a retry can
    /// cure if there was one; else [`BusError::Rejected`] with the records refused.
    pub(super) async fn finish(mut self) -> Result<(), BusError> {
        while let Some((i, d)) = self.in_flight.pop_front() {
            self.confirm(i, d).await;
        }
        self.outcome()
    }

    /// Like [`Self::finish`], but only with the outcomes already known: for a
    /// transaction that failed, whose records may never be confirmed.
    pub(super) async fn known(mut self) -> Result<(), BusError> {
        while let Some((i, d)) = self.in_flight.pop_front() {
            // A zero timeout still polls the delivery once: a known outcome is taken.
            if let Ok(outcome) = tokio::time::timeout(Duration::ZERO, d).await {
                self.record(i, outcome);
            }
        }
        self.outcome()
    }

    /// The partition and offset of the one record sent, once confirmed.
    pub(super) async fn delivered(mut self) -> Result<(i32, i64), BusError> {
        if let Some((i, d)) = self.in_flight.pop_front() {
            match d.await {
                Ok(Ok(delivery)) => return Ok((delivery.partition, delivery.offset)),
                outcome => self.record(i, outcome),
            }
        }
        self.outcome()
            .and(Err(BusError::Unavailable("nothing was sent".into())))
    }

    fn outcome(mut self) -> Result<(), BusError> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        if self.refused.is_empty() {
            return Ok(());
        }
        self.refused.sort_by_key(|r| r.index);
        Err(BusError::Rejected(self.refused))
    }
}
