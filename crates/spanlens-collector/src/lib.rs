//! Spanlens collector: receivers (OTLP, scores, Langfuse) → normalize (conventions → typed
//! rows) → enrich (cost) → pipeline (encode once → durable log → batcher → ClickHouse writer).
//! Each stage lives in its own module.
//!
//! The public surface is what the binary (`main.rs`), the integration tests, the fuzz targets
//! (`fuzzing`) and the load generator's end-to-end test use; everything else is `pub(crate)`.

pub mod auth;
pub mod collector;
pub mod config;
pub(crate) mod enrich;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub(crate) mod metrics;
pub mod normalize;
pub mod pipeline;
pub(crate) mod receiver;
pub mod storage;
pub mod tls;
