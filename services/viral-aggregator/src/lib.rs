//! The aggregator's binary composes two crates that do not know each other: the stage
//! (`viral_pipeline`) and the query API with the dashboard (`viral_api`), which it serves
//! because it writes the counts. `viral standalone` serves the same API the same way.

use std::sync::Arc;

use viral_config::Config;
use viral_runtime::clock::{SharedClock, SystemClock};
use viral_runtime::http::Router;
use viral_store::Store;

/// The query API over `store`, for `config`'s topics, window size and detectors, with
/// "now" from `clock` (the wall clock, or standalone's simulated one) and `[http]`'s
/// bounds on its costly routes.
pub fn query_api(config: &Config, store: Arc<dyn Store>, clock: SharedClock) -> Router {
    let state = viral_api::QueryState {
        store,
        topics: config.topics.iter().map(|t| t.name.clone()).collect(),
        window_size: config.window.size,
        clock,
        detectors: config.detectors.clone(),
    };
    viral_api::router_with(state, query_limits(&config.http))
}

/// The query API on the wall clock: what the aggregator service serves.
pub fn service_routes(config: &Config, store: Arc<dyn Store>) -> Router {
    query_api(config, store, Arc::new(SystemClock))
}

/// `[http]`'s bounds on the query API's costly routes.
fn query_limits(http: &viral_config::HttpConfig) -> viral_api::QueryLimits {
    viral_api::QueryLimits {
        max_concurrent_queries: http.max_concurrent_queries,
        max_event_streams: http.max_event_streams,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_api_defaults_are_the_configs() {
        assert_eq!(
            super::query_limits(&viral_config::HttpConfig::default()),
            viral_api::QueryLimits::default()
        );
    }
}
