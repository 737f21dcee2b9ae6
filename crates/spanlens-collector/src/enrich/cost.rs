//! Cost at ingest: tokens × the model's price. A cost the instrumentation reported wins; an
//! unknown model (or no token counts) leaves cost NULL, never 0; a user price of 0 means 0.

use arc_swap::ArcSwap;
use std::collections::HashMap;
use std::path::Path;

use regex::Regex;
use serde::Deserialize;

use crate::storage::row::SpanRow;

const BUNDLED: &str = include_str!("prices.toml");
/// Models looked up by pattern are remembered; the set starts over past this many names (each
/// new name copies the set, so a flood of distinct names stays cheap).
const CACHE_LIMIT: usize = 1_000;

#[derive(Debug, thiserror::Error)]
pub enum PriceError {
    #[error("cannot read price file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid price table {origin}: {message}")]
    Invalid { origin: String, message: String },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PriceFile {
    #[serde(default)]
    taken: Option<String>,
    #[serde(default)]
    model: Vec<ModelPriceEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelPriceEntry {
    name: String,
    #[serde(default)]
    pattern: Option<String>,
    input: f64,
    output: f64,
    #[serde(default)]
    cached_input: Option<f64>,
    #[serde(default)]
    cache_write: Option<f64>,
    #[serde(default)]
    reasoning: Option<f64>,
}

/// USD per million tokens for one model.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelPrice {
    pub name: String,
    pub input: f64,
    pub output: f64,
    /// Cache-read input tokens; defaults to `input`.
    pub cached_input: f64,
    /// Cache-write (cache creation) input tokens; defaults to `input`.
    pub cache_write: f64,
    /// Reasoning tokens; defaults to `output`.
    pub reasoning: f64,
}

pub struct PriceTable {
    /// Entries in precedence order: the user's file first, then the bundled table.
    prices: Vec<ModelPrice>,
    exact: HashMap<String, usize>,
    patterns: Vec<(Regex, usize)>,
    /// Model names already resolved through the patterns. Read without a lock on every LLM
    /// span; a name seen for the first time (rare: a service uses a handful of models)
    /// publishes a new copy.
    resolved: ArcSwap<HashMap<String, Option<usize>>>,
    /// When the bundled prices were taken.
    pub bundled_taken: String,
}

impl PriceTable {
    /// The bundled table, with the user's file (if any) taking precedence.
    pub fn load(user_file: Option<&Path>) -> Result<PriceTable, PriceError> {
        let mut files = Vec::new();
        if let Some(path) = user_file {
            let text = std::fs::read_to_string(path).map_err(|source| PriceError::Read {
                path: path.display().to_string(),
                source,
            })?;
            files.push((
                path.display().to_string(),
                parse(&path.display().to_string(), &text)?,
            ));
        }
        files.push((
            "bundled prices.toml".to_string(),
            parse("bundled prices.toml", BUNDLED)?,
        ));
        let bundled_taken = files
            .last()
            .and_then(|(_, f)| f.taken.clone())
            .unwrap_or_default();

        let mut table = PriceTable {
            prices: Vec::new(),
            exact: HashMap::new(),
            patterns: Vec::new(),
            resolved: ArcSwap::default(),
            bundled_taken,
        };
        for (origin, file) in files {
            for entry in file.model {
                let idx = table.prices.len();
                table
                    .exact
                    .entry(entry.name.to_ascii_lowercase())
                    .or_insert(idx);
                if let Some(pattern) = &entry.pattern {
                    let re =
                        Regex::new(&format!("(?i){pattern}")).map_err(|e| PriceError::Invalid {
                            origin: origin.clone(),
                            message: format!("model {:?}: bad pattern: {e}", entry.name),
                        })?;
                    table.patterns.push((re, idx));
                }
                table.prices.push(ModelPrice {
                    cached_input: entry.cached_input.unwrap_or(entry.input),
                    cache_write: entry.cache_write.unwrap_or(entry.input),
                    reasoning: entry.reasoning.unwrap_or(entry.output),
                    name: entry.name,
                    input: entry.input,
                    output: entry.output,
                });
            }
        }
        Ok(table)
    }

    /// The price for a model name: exact names first, then patterns.
    pub fn lookup(&self, model: &str) -> Option<&ModelPrice> {
        if model.is_empty() {
            return None;
        }
        let key = model.to_ascii_lowercase();
        if let Some(&idx) = self.exact.get(&key) {
            return Some(&self.prices[idx]);
        }
        let idx = match self.resolved.load().get(&key) {
            Some(hit) => *hit,
            None => {
                let found = self
                    .patterns
                    .iter()
                    .find(|(re, _)| re.is_match(model))
                    .map(|(_, i)| *i);
                self.resolved.rcu(|resolved| {
                    let mut next = if resolved.len() >= CACHE_LIMIT {
                        HashMap::new()
                    } else {
                        HashMap::clone(resolved)
                    };
                    next.insert(key.clone(), found);
                    next
                });
                found
            }
        };
        idx.map(|i| &self.prices[i])
    }

    /// Fills the cost columns of a row that has token counts and a known model, unless the
    /// instrumentation already reported a cost.
    pub fn apply(&self, row: &mut SpanRow) {
        if row.input_cost.is_some() || row.output_cost.is_some() || row.total_cost.is_some() {
            return;
        }
        if row.input_tokens.is_none() && row.output_tokens.is_none() {
            return;
        }
        // Only model calls are priced: a wrapper span that repeats its children's usage (an
        // agent, a Vercel AI SDK `ai.generateText`) must not count the cost twice.
        if !matches!(row.observation_type.as_str(), "llm" | "embedding") {
            return;
        }
        let Some(price) = self
            .lookup(&row.response_model)
            .or_else(|| self.lookup(&row.request_model))
        else {
            return;
        };
        const M: f64 = 1_000_000.0;
        // input_tokens counts every input token once: cache reads and writes are parts of it,
        // each priced at its own rate (never on top of the full input price).
        let input_cost = row.input_tokens.map(|input| {
            let cached = row.cached_tokens.unwrap_or(0).min(input);
            let written = row.cache_creation_tokens.unwrap_or(0).min(input - cached);
            let plain = input - cached - written;
            (plain as f64 * price.input
                + cached as f64 * price.cached_input
                + written as f64 * price.cache_write)
                / M
        });
        let output_cost = row.output_tokens.map(|output| {
            let reasoning = row.reasoning_tokens.unwrap_or(0).min(output);
            ((output - reasoning) as f64 * price.output + reasoning as f64 * price.reasoning) / M
        });
        row.input_cost = input_cost;
        row.output_cost = output_cost;
        row.total_cost = Some(input_cost.unwrap_or(0.0) + output_cost.unwrap_or(0.0));
    }
}

fn parse(origin: &str, text: &str) -> Result<PriceFile, PriceError> {
    toml::from_str(text).map_err(|e| PriceError::Invalid {
        origin: origin.into(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn llm(model: &str, input: Option<u64>, output: Option<u64>) -> SpanRow {
        SpanRow {
            observation_type: "llm".into(),
            response_model: model.into(),
            input_tokens: input,
            output_tokens: output,
            ..SpanRow::default()
        }
    }

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-12)
    }

    #[test]
    fn prices_known_models_by_name_and_pattern() {
        let table = PriceTable::load(None).unwrap();
        assert!(!table.bundled_taken.is_empty());
        let mut row = llm("gpt-4o-mini-2024-07-18", Some(1000), Some(500));
        table.apply(&mut row);
        assert!(close(row.input_cost, 1000.0 * 0.15 / 1e6));
        assert!(close(row.output_cost, 500.0 * 0.6 / 1e6));
        assert!(close(row.total_cost, (1000.0 * 0.15 + 500.0 * 0.6) / 1e6));

        // Cached input and reasoning tokens are priced separately.
        let mut row = llm("o3", Some(1000), Some(100));
        row.cached_tokens = Some(400);
        row.reasoning_tokens = Some(60);
        table.apply(&mut row);
        assert!(close(row.input_cost, (600.0 * 2.0 + 400.0 * 0.5) / 1e6));
        assert!(close(row.output_cost, 100.0 * 8.0 / 1e6));

        // Cache reads and writes are parts of input_tokens, each at its own price, never on
        // top of the input price: 1000 input = 600 plain + 300 read + 100 written.
        let mut row = llm("claude-sonnet-4-5-20250929", Some(1000), Some(10));
        row.cached_tokens = Some(300);
        row.cache_creation_tokens = Some(100);
        table.apply(&mut row);
        assert!(close(
            row.input_cost,
            (600.0 * 3.0 + 300.0 * 0.3 + 100.0 * 3.75) / 1e6
        ));
        // Inconsistent counts never price more tokens than input_tokens.
        let mut row = llm("claude-sonnet-4-5", Some(100), None);
        row.cached_tokens = Some(80);
        row.cache_creation_tokens = Some(80);
        table.apply(&mut row);
        assert!(close(row.input_cost, (80.0 * 0.3 + 20.0 * 3.75) / 1e6));
        // No cache_write price: cache writes cost the input price.
        let mut row = llm("gpt-4o-mini", Some(100), None);
        row.cache_creation_tokens = Some(40);
        table.apply(&mut row);
        assert!(close(row.input_cost, 100.0 * 0.15 / 1e6));

        // Request model when the response model is unknown or absent.
        let mut row = llm("", Some(10), None);
        row.request_model = "claude-sonnet-4-5-20250929".into();
        table.apply(&mut row);
        assert!(close(row.input_cost, 10.0 * 3.0 / 1e6));
        assert_eq!(row.output_cost, None);
    }

    #[test]
    fn unknown_model_reported_cost_and_no_tokens_leave_cost_alone() {
        let table = PriceTable::load(None).unwrap();
        let mut row = llm("my-finetune", Some(10), Some(10));
        table.apply(&mut row);
        assert_eq!(
            (row.input_cost, row.output_cost, row.total_cost),
            (None, None, None)
        );

        let mut row = llm("gpt-4o", Some(10), Some(10));
        row.total_cost = Some(0.5);
        table.apply(&mut row);
        assert_eq!(
            (row.input_cost, row.output_cost, row.total_cost),
            (None, None, Some(0.5))
        );

        let mut row = llm("gpt-4o", None, None);
        table.apply(&mut row);
        assert_eq!(row.total_cost, None);

        let mut wrapper = SpanRow {
            observation_type: "chain".into(),
            ..llm("gpt-4o", Some(10), Some(10))
        };
        table.apply(&mut wrapper);
        assert_eq!(wrapper.total_cost, None);
    }

    #[test]
    fn user_file_overrides_and_extends() {
        let path =
            std::env::temp_dir().join(format!("spanlens-prices-{}.toml", std::process::id()));
        std::fs::write(
            &path,
            "[[model]]\nname = \"gpt-4o\"\ninput = 0\noutput = 0\n\n[[model]]\nname = \"acme-llm\"\npattern = '^acme-llm-v\\d+$'\ninput = 1\noutput = 2\n",
        )
        .unwrap();
        let table = PriceTable::load(Some(&path)).unwrap();
        let mut row = llm("gpt-4o", Some(10), Some(10));
        table.apply(&mut row);
        assert_eq!(row.total_cost, Some(0.0)); // a user price of 0 means 0
        let mut row = llm("ACME-LLM-v7", Some(1_000_000), Some(1_000_000));
        table.apply(&mut row);
        assert!(close(row.total_cost, 3.0));

        std::fs::write(
            &path,
            "[[model]]\nname = \"x\"\npattern = '('\ninput = 1\noutput = 1\n",
        )
        .unwrap();
        let err = PriceTable::load(Some(&path)).err().unwrap().to_string();
        assert!(err.contains("bad pattern"), "{err}");
        std::fs::remove_file(&path).unwrap();
    }
}
