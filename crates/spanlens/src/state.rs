//! The process-wide SDK state set by [`crate::SpanlensBuilder::init`].

use std::sync::{Arc, RwLock};

use opentelemetry_sdk::trace::SdkTracer;

use crate::capture::Mask;

pub(crate) struct State {
    pub(crate) tracer: SdkTracer,
    pub(crate) capture_content: bool,
    pub(crate) mask: Option<Mask>,
}

static STATE: RwLock<Option<Arc<State>>> = RwLock::new(None);

/// The installed state, or `None` before `init` (then every span is a no-op).
pub(crate) fn get() -> Option<Arc<State>> {
    match STATE.read() {
        Ok(g) => g.clone(),
        Err(p) => p.into_inner().clone(),
    }
}

pub(crate) fn set(state: Arc<State>) {
    let mut g = STATE.write().unwrap_or_else(|p| p.into_inner());
    *g = Some(state);
}

/// Clears the state if it is still `state` (a later `init` is left alone).
pub(crate) fn clear(state: &Arc<State>) {
    let mut g = STATE.write().unwrap_or_else(|p| p.into_inner());
    if g.as_ref().is_some_and(|s| Arc::ptr_eq(s, state)) {
        *g = None;
    }
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("capture_content", &self.capture_content)
            .field("mask", &self.mask.as_ref().map(|_| "<fn>"))
            .finish_non_exhaustive()
    }
}
