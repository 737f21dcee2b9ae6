//! Enrichment: what the collector adds to a normalized row (cost from the price table).

pub mod cost;
