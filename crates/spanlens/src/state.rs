//! The process-wide SDK installed by [`crate::SpanlensBuilder::init`].

use std::sync::{Arc, RwLock};

use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};

use crate::capture::Mask;
use crate::score::ScoreClient;
use crate::setup::OwnedRuntime;

/// What every span needs (read on each span start).
pub(crate) struct State {
    pub(crate) tracer: SdkTracer,
    pub(crate) capture_content: bool,
    pub(crate) mask: Option<Mask>,
}

/// The installed SDK: span state, the provider to flush, the scores client, the export runtime.
pub(crate) struct Installed {
    pub(crate) state: Arc<State>,
    pub(crate) provider: SdkTracerProvider,
    pub(crate) scores: ScoreClient,
    pub(crate) rt: Arc<OwnedRuntime>,
}

static INSTALLED: RwLock<Option<Arc<Installed>>> = RwLock::new(None);

/// The installed SDK, or `None` before `init` / after `shutdown`.
pub(crate) fn installed() -> Option<Arc<Installed>> {
    match INSTALLED.read() {
        Ok(g) => g.clone(),
        Err(p) => p.into_inner().clone(),
    }
}

/// The span state, or `None` before `init` (then every span is a no-op).
pub(crate) fn get() -> Option<Arc<State>> {
    match INSTALLED.read() {
        Ok(g) => g.as_ref().map(|i| i.state.clone()),
        Err(p) => p.into_inner().as_ref().map(|i| i.state.clone()),
    }
}

/// Installs `sdk`, replacing an earlier one.
pub(crate) fn set(sdk: Arc<Installed>) {
    let mut g = INSTALLED.write().unwrap_or_else(|p| p.into_inner());
    *g = Some(sdk);
}

/// Uninstalls the SDK (for shutdown), returning it.
pub(crate) fn take() -> Option<Arc<Installed>> {
    INSTALLED.write().unwrap_or_else(|p| p.into_inner()).take()
}

/// Uninstalls `sdk` if it is still the installed one (a later `init` is left alone); `true` if
/// it was.
pub(crate) fn clear(sdk: &Arc<Installed>) -> bool {
    let mut g = INSTALLED.write().unwrap_or_else(|p| p.into_inner());
    if g.as_ref().is_some_and(|s| Arc::ptr_eq(s, sdk)) {
        *g = None;
        true
    } else {
        false
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
