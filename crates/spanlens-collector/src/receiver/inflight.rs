//! The receivers' shared memory budget (`receiver.max_inflight_bytes`): request bytes being
//! read, decoded and normalized at once, across every HTTP and gRPC connection. A request
//! reserves its share before its body is read (HTTP: from Content-Length; gRPC: frame by frame
//! as the body arrives); past the budget it is refused with 429 / RESOURCE_EXHAUSTED instead of
//! growing memory.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Memory reserved per request, as a multiple of its body size: the raw body, the decoded
/// request and the rows built from it are alive together.
const FACTOR: usize = 3;

#[derive(Clone)]
pub struct InflightBudget {
    semaphore: Arc<Semaphore>,
    limit: usize,
}

impl InflightBudget {
    pub fn new(limit: usize) -> InflightBudget {
        InflightBudget {
            semaphore: Arc::new(Semaphore::new(limit)),
            limit,
        }
    }

    /// Reserves memory for `body_bytes` of request body, or None when the budget is spent.
    pub fn try_reserve(&self, body_bytes: usize) -> Option<OwnedSemaphorePermit> {
        let bytes = body_bytes.max(1).saturating_mul(FACTOR).min(self.limit);
        let permits = u32::try_from(bytes).unwrap_or(u32::MAX);
        self.semaphore.clone().try_acquire_many_owned(permits).ok()
    }
}
