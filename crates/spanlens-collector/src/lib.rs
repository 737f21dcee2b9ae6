//! Spanlens collector: OTLP receivers → normalize (conventions → LLM row) → enrich (cost) →
//! pipeline (encode once → durable log → batcher → ClickHouse writer). Each stage lives in its
//! own module.

pub mod auth;
pub mod collector;
pub mod config;
pub mod enrich;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod metrics;
pub mod normalize;
pub mod pipeline;
pub mod receiver;
pub mod storage;
pub mod tls;
