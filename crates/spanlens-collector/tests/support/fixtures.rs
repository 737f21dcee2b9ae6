//! The captured fixtures (`tests/fixtures/otlp/<library>/expected.json` + payloads): where they
//! are, and how expected.json's library-spelled values translate into the collector's column
//! vocabulary. One copy, shared by the normalizer's unit tests (`src/normalize/tests.rs`, through
//! `#[path]`) and the end-to-end tests (`tests/fixtures_e2e.rs`, through `support`), so both
//! read expected.json the same way. Depends on std and serde_json only.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use serde_json::Value as J;

pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/otlp")
}

/// Every library folder that has an expected.json, sorted.
pub fn libraries() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(fixtures_dir())
        .expect("tests/fixtures/otlp exists (copied from the shared fixtures)")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.join("expected.json").is_file())
        .collect();
    dirs.sort();
    dirs
}

pub fn read_json(path: &Path) -> J {
    serde_json::from_slice(
        &std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The file names listed under `files.<key>` of a scenario (e.g. `traces_pb`).
pub fn file_names(files: &J, key: &str) -> Vec<String> {
    files[key]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// expected.json spells kind/status like the OTLP enums; rows use the exporter's spelling.
pub fn expected_kind(k: &str) -> &'static str {
    match k {
        "INTERNAL" => "Internal",
        "SERVER" => "Server",
        "CLIENT" => "Client",
        "PRODUCER" => "Producer",
        "CONSUMER" => "Consumer",
        other => panic!("unknown kind {other}"),
    }
}

pub fn expected_status(s: &str) -> &'static str {
    match s {
        "UNSET" => "Unset",
        "OK" => "Ok",
        "ERROR" => "Error",
        other => panic!("unknown status {other}"),
    }
}

/// expected.json records `operation` as the library wrote it (`LLM`, `generation`, `chat`);
/// the column holds the `gen_ai.operation.name` vocabulary.
pub fn expected_operation(raw: &str) -> &'static str {
    match raw {
        "chat" | "LLM" | "generation" => "chat",
        "embeddings" | "EMBEDDING" | "embedding" => "embeddings",
        "text_completion" | "completion" => "text_completion",
        "generate_content" => "generate_content",
        other => panic!("no operation mapping for fixture value {other:?}"),
    }
}

/// The `observation_type` of a span from its expected.json `role`: an `llm` span is `embedding`
/// when its call is an embeddings call, else `llm`; a `parent/workflow` span is an agent
/// (Langfuse agent, OpenInference AGENT, semconv invoke_agent — named so) or a workflow/task
/// wrapper (`chain`); an `http-client` span is a plain `span`.
pub fn expected_observation_type(role: &str, call: Option<&J>, span_name: &str) -> &'static str {
    match role {
        "llm" => {
            let call = call.expect("an llm span has an llm_calls entry");
            if expected_operation(call["operation"].as_str().expect("operation")) == "embeddings" {
                "embedding"
            } else {
                "llm"
            }
        }
        "parent/workflow" => {
            if span_name.to_ascii_lowercase().contains("agent") {
                "agent"
            } else {
                "chain"
            }
        }
        "http-client" => "span",
        // Declared by the span itself (tests/capture's fixtures: OpenInference kind, GenAI
        // operation or MLflow span type).
        "tool" => "tool",
        "agent" => "agent",
        "chain" => "chain",
        other => panic!("unknown role {other}"),
    }
}

/// The fields `differs_from_truth` may name: expected.json's call field that holds the data's
/// value for each.
pub const DIFFERS_FIELDS: [(&str, &str); 10] = [
    ("finish_reason", "finish_reason"),
    ("response_model", "response_model"),
    ("session_id", "session_id"),
    ("user_id", "user_id"),
    ("prompt", "prompt_contains"),
    ("completion", "completion_contains"),
    ("input_tokens", "input_tokens"),
    ("output_tokens", "output_tokens"),
    ("response_id", "response_id"),
    ("request_model", "request_model"),
];

/// What a call's field must be in the stored row: where `differs_from_truth` names the field,
/// what the library's data says (`data`) wins over the API's truth; otherwise the call's value.
pub fn data_value<'a>(call: &'a J, field: &str) -> &'a J {
    for (differs, call_field) in DIFFERS_FIELDS {
        if call_field == field
            && let Some(d) = call["differs_from_truth"].get(differs)
        {
            return &d["data"];
        }
    }
    &call[field]
}

/// The call facts a library may send only in its OTLP log records (expected.json `from_logs`),
/// with the call field that holds each.
pub const LOG_FACTS: [(&str, &str); 3] = [
    ("prompt", "prompt_contains"),
    ("completion", "completion_contains"),
    ("finish_reason", "finish_reason"),
];

/// What a collector that received only the library's traces must store for `field`: a fact the
/// library sent only in its log records (`from_logs`) is absent (null); everything else as
/// [`data_value`].
pub fn traces_only_value<'a>(call: &'a J, field: &str) -> &'a J {
    const NULL: &J = &J::Null;
    let from_logs = call["from_logs"].as_array();
    for (fact, call_field) in LOG_FACTS {
        if call_field == field && from_logs.is_some_and(|f| f.iter().any(|v| v == fact)) {
            return NULL;
        }
    }
    data_value(call, field)
}

/// Whether the data (traces, or traces and logs) says nothing of `fact` although the API
/// returned it: the column must then be empty rather than merely not contain a substring.
pub fn known_absent(call: &J, fact: &str, traces_only: bool) -> bool {
    call["differs_from_truth"]
        .get(fact)
        .is_some_and(|d| d["data"].is_null())
        || (traces_only
            && call["from_logs"]
                .as_array()
                .is_some_and(|f| f.iter().any(|v| v == fact)))
}
