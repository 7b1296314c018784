//! Producer stage: every post from the sources is matched against the tracked topics and
//! published as one Mention per matched topic (key = topic name, so a topic stays in one
//! partition). A post counts as handled only once the bus accepted all its mentions.

use std::sync::Arc;

use tokio::sync::mpsc;
use viral_bus::{topics, Bus, BusError};
use viral_core::matcher::TopicMatcher;
use viral_core::{Mention, Post};
use viral_runtime::metrics::{Metrics, SourceLabel, StageLabel, TopicLabel};

/// Run until `posts` is closed (all sources finished or stopped).
pub async fn run(
    mut posts: mpsc::Receiver<Post>,
    matcher: Arc<TopicMatcher>,
    bus: Arc<dyn Bus>,
    metrics: Metrics,
) -> Result<(), BusError> {
    let (mut scratch, mut ids) = (viral_core::matcher::Scratch::default(), Vec::new());
    let out = StageLabel { stage: "producer" };
    while let Some(post) = posts.recv().await {
        let source = SourceLabel {
            source: post.source.clone(),
        };
        metrics.posts_received.get_or_create(&source).inc();
        ids.clear();
        matcher.find_into(&post.text, &mut scratch, &mut ids);
        if ids.is_empty() {
            continue;
        }
        metrics.posts_matched.get_or_create(&source).inc();
        let mut mention = Mention {
            topic: String::new(),
            post,
        };
        for &id in &ids {
            mention.topic.clear();
            mention.topic.push_str(matcher.name(id));
            let payload = match serde_json::to_vec(&mention) {
                Ok(p) => p,
                Err(e) => {
                    // Only non-string map keys can fail here, and Mention has none.
                    tracing::error!(error = %e, "cannot encode a mention");
                    continue;
                }
            };
            bus.publish(topics::MENTIONS, &mention.topic, payload)
                .await?;
            metrics.messages_out.get_or_create(&out).inc();
            metrics
                .mentions_published
                .get_or_create(&TopicLabel {
                    topic: mention.topic.clone(),
                })
                .inc();
        }
    }
    Ok(())
}
