//! What happens to every post a source decoded: the producer bounds it and publishes one
//! mention per matched topic; the aggregator reads each back. Whatever a stranger wrote,
//! that message must fit on the bus and read back exactly as it was written.

use viral_bus::{Message, KAFKA_MESSAGE_MAX_BYTES};
use viral_core::time::from_millis;
use viral_core::{limits, Mention, Post};
use viral_pipeline::deadletter;

use crate::NOW_MS;

/// The topic the targets' mentions are about.
const TOPIC: &str = "fuzz";

/// Carry `post` as the producer would (stamped on arrival when it comes from a `live`
/// source), and read it back as the aggregator does.
pub(crate) fn to_the_bus(mut post: Post, live: bool) {
    if live {
        post.observed_at = Some(from_millis(NOW_MS));
    }
    if limits::bound(&mut post).is_err() {
        // An id or source over its bound: the producer dead-letters the post.
        return;
    }
    let mention = Mention {
        topic: TOPIC.to_owned(),
        post,
    };
    let payload = serde_json::to_vec(&mention).expect("a mention always encodes");
    assert!(
        payload.len() + TOPIC.len() <= KAFKA_MESSAGE_MAX_BYTES,
        "a bounded mention of {} bytes does not fit on the bus",
        payload.len()
    );
    let msg = Message {
        topic: "mentions".into(),
        partition: 0,
        offset: 0,
        key: TOPIC.into(),
        payload,
    };
    match deadletter::decode::<Mention>(&msg) {
        Ok(back) => assert_eq!(back, mention, "a mention does not read back as written"),
        Err(e) => panic!("a mention the producer wrote is refused by the aggregator: {e:?}"),
    }
}
