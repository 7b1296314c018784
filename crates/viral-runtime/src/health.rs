//! Readiness is the conjunction of named components (bus, store, …), each set by the code
//! that knows: the process is ready only when every registered component is.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
pub struct Health {
    components: Arc<Mutex<BTreeMap<String, bool>>>,
}

impl Health {
    pub fn new() -> Self {
        Self::default()
    }

    /// Register or update a component's readiness.
    pub fn set(&self, component: &str, ready: bool) {
        let mut c = self.components.lock().unwrap_or_else(|p| p.into_inner());
        c.insert(component.to_owned(), ready);
    }

    /// Ready when at least one component is registered and all are ready.
    pub fn ready(&self) -> bool {
        let c = self.components.lock().unwrap_or_else(|p| p.into_inner());
        !c.is_empty() && c.values().all(|r| *r)
    }

    /// Every component and whether it is ready, for the `/readyz` body.
    pub fn snapshot(&self) -> BTreeMap<String, bool> {
        self.components
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}
