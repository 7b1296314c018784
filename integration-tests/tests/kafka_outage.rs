//! The broker stopped for 30 s in the middle of a run, on a broker of the test's own:
//! every service reports not ready while it is gone, recovers by itself once it is back,
//! and the counts are exactly those of a run without the outage.

mod common;

use std::path::Path;
use std::time::Duration;

use common::outage::{self, Outage};
use common::*;

#[tokio::test(flavor = "multi_thread")]
async fn broker_stopped_for_30_s_mid_run_loses_nothing() {
    let broker = viral_integration_tests::kafka::own(Path::new(env!("CARGO_TARGET_TMPDIR")));
    let d = Deployment::new("outage", &broker.address, 1, "");
    // 30,000 s of posts replayed at 250× (about two minutes): the outage falls mid-run.
    write_posts(&d.posts, 20_000);
    outage::run(
        &d,
        "250",
        Outage {
            length: Duration::from_secs(30),
            stop: &|| broker.stop(),
            resume: &|| broker.resume(),
            affected: &["aggregator", "alerter", "producer"],
        },
    )
    .await;
}
