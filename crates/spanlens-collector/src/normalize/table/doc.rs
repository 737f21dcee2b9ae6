//! The generator of `CONVENTIONS.md`'s tables (tests only: none of this is in the binary).
//! `conventions_doc_is_generated_from_the_table` fails while the committed document differs
//! from what the table and the fixtures generate; `SPANLENS_BLESS=1` rewrites it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

use super::{At, Col, Conv, Get, RULES, Src};
use crate::normalize::extract::Scratch;
use crate::normalize::tests::fixture_support::{libraries, read_json};

impl Col {
    const fn column_name(self) -> &'static str {
        use Col::*;
        match self {
            ObservationType => "observation_type",
            Operation => "operation",
            Provider => "provider",
            RequestModel => "request_model",
            ResponseModel => "response_model",
            InputTokens => "input_tokens",
            OutputTokens => "output_tokens",
            TotalTokens => "total_tokens",
            CachedTokens => "cached_tokens",
            CacheCreationTokens => "cache_creation_tokens",
            UncachedInputTokens => "input_tokens (reported without cache reads / writes)",
            ReasoningTokens => "reasoning_tokens",
            InputCost => "input_cost",
            OutputCost => "output_cost",
            TotalCost => "total_cost",
            TimeToFirstToken => "time_to_first_token_ns",
            IsStreaming => "is_streaming",
            FinishReasons => "finish_reasons",
            ResponseId => "response_id",
            Temperature => "temperature",
            MaxTokens => "max_tokens",
            TopP => "top_p",
            Input => "input",
            Output => "output",
            SessionId => "session_id",
            UserId => "user_id",
            PromptName => "prompt_name",
            PromptVersion => "prompt_version",
            Tags => "tags",
            Metadata => "metadata",
            Environment => "environment",
            Release => "release",
            ServiceName => "service_name",
            ErrorType => "error_type",
            StatusMessage => "status_message (fallback)",
            StatusFromLevel => "status_code (fallback)",
        }
    }
}

impl Conv {
    const ALL: [Conv; 11] = [
        Conv::OTel,
        Conv::OTelOld,
        Conv::OpenInference,
        Conv::Traceloop,
        Conv::Langfuse,
        Conv::OpenLit,
        Conv::Logfire,
        Conv::VercelAi,
        Conv::MLflow,
        Conv::ProviderSdk,
        Conv::General,
    ];

    const fn title(self) -> &'static str {
        match self {
            Conv::OTel => "OpenTelemetry GenAI semconv (current)",
            Conv::OTelOld => "OpenTelemetry GenAI semconv (deprecated names)",
            Conv::OpenInference => "OpenInference (Arize Phoenix)",
            Conv::Traceloop => "OpenLLMetry / Traceloop",
            Conv::Langfuse => "Langfuse SDKs",
            Conv::OpenLit => "OpenLIT",
            Conv::Logfire => "Pydantic Logfire",
            Conv::VercelAi => "Vercel AI SDK",
            Conv::MLflow => "MLflow Tracing",
            Conv::ProviderSdk => "Provider SDKs' built-in tracing",
            Conv::General => "General OpenTelemetry",
        }
    }
}

fn describe(src: &Src) -> String {
    let get = match src.get {
        Get::Value => String::new(),
        Get::Norm(_) => " (normalised)".into(),
        Get::Vocab(map) | Get::JsonVocab(map) => {
            let pairs: Vec<String> = map.iter().map(|(k, v)| format!("{k}→{v}")).collect();
            format!(" ({})", pairs.join(", "))
        }
        Get::Const(c) => format!(" present → `{c}`"),
        Get::Json([]) => " (JSON-decoded)".into(),
        Get::Json(p) => format!(" JSON `.{}`", p.join(".")),
        Get::JsonOrFalse(p) => format!(" JSON `.{}` (object without it → false)", p.join(".")),
        Get::JsonIfHas(p, key) => {
            format!(" JSON `.{}` (only in an object with `{key}`)", p.join("."))
        }
        Get::JsonIfLacks(p, key) => {
            format!(
                " JSON `.{}` (only in an object without `{key}`)",
                p.join(".")
            )
        }
        Get::Seconds => " (seconds)".into(),
        Get::Millis => " (milliseconds)".into(),
        Get::SinceStart => " (timestamp − span start)".into(),
        Get::EventSinceStart => " (first event time − span start)".into(),
        Get::Unflatten => " (indexed list rebuilt as JSON)".into(),
        Get::Texts(f) => format!(" `N.{f}` texts"),
        Get::InputEvents => " (message events rebuilt as JSON)".into(),
        Get::ChoiceEvents => " (choice events rebuilt as JSON)".into(),
        Get::EventField(f) => format!(" events' `{f}`"),
        Get::Suffix => " (key = suffix)".into(),
        Get::Entries => " (JSON object entries)".into(),
        Get::SemconvInput => " (+ `gen_ai.system_instructions`)".into(),
    };
    let key = match src.at {
        At::Span => format!("`{}`", src.key),
        At::Resource => format!("resource `{}`", src.key),
        At::SpanPrefix => format!("`{}N…`", src.key),
        At::Event(e) => format!("event `{e}` attr `{}`", src.key),
        At::Events => format!("events `{}`", src.key),
    };
    let peek = if src.consume { "" } else { " ·" };
    format!("{key}{get}{peek}")
}

/// The per-convention tables of CONVENTIONS.md, generated from [`RULES`]: for each convention,
/// which attributes feed which column, with the precedence rank of the source inside its rule.
fn conventions_markdown() -> String {
    let mut out = String::new();
    for conv in Conv::ALL {
        out.push_str(&format!("### {}\n\n| column | attributes (rank in the column's precedence list) |\n| --- | --- |\n", conv.title()));
        for rule in RULES {
            let cells: Vec<String> = rule
                .sources
                .iter()
                .enumerate()
                .filter(|(_, s)| s.conv == conv)
                .map(|(i, s)| format!("{}. {}", i + 1, describe(s)))
                .collect();
            if !cells.is_empty() {
                out.push_str(&format!(
                    "| {} | {} |\n",
                    rule.col.column_name(),
                    cells.join("<br>")
                ));
            }
        }
        out.push('\n');
    }
    out
}

/// Per library: which source supplied each column on the library's real captures (the fixtures),
/// computed by running the table on them. Part of CONVENTIONS.md.
fn library_markdown() -> String {
    let mut out = String::new();
    for dir in libraries() {
        let expected = read_json(&dir.join("expected.json"));
        let lib = expected["library"].as_str().unwrap();
        let mut seen: BTreeMap<usize, BTreeSet<(usize, String)>> = BTreeMap::new();
        let mut spans = 0;
        for exp in expected["scenarios"].as_object().unwrap().values() {
            for pb in exp["files"]["traces_pb"].as_array().unwrap() {
                let bytes = std::fs::read(dir.join(pb.as_str().unwrap())).unwrap();
                let req = ExportTraceServiceRequest::decode(bytes.as_slice()).unwrap();
                for rs in &req.resource_spans {
                    let resource = rs
                        .resource
                        .as_ref()
                        .map(|r| r.attributes.as_slice())
                        .unwrap_or(&[]);
                    for span in rs.scope_spans.iter().flat_map(|ss| &ss.spans) {
                        spans += 1;
                        let mapped = Scratch::default().map_span(span, resource);
                        for (ri, rule) in RULES.iter().enumerate() {
                            let bits = mapped.won[rule.col as usize];
                            for (si, src) in rule.sources.iter().enumerate() {
                                if bits & (1 << si) != 0 {
                                    seen.entry(ri).or_default().insert((si + 1, describe(src)));
                                }
                            }
                        }
                    }
                }
            }
        }
        out.push_str(&format!(
            "### {lib}\n\n{}; {spans} spans in the fixtures.\n\n| column | supplied by (rank) |\n| --- | --- |\n",
            expected["description"].as_str().unwrap_or("")
        ));
        for (ri, sources) in seen {
            let cells: Vec<String> = sources
                .into_iter()
                .map(|(rank, d)| format!("{rank}. {d}"))
                .collect();
            out.push_str(&format!(
                "| {} | {} |\n",
                RULES[ri].col.column_name(),
                cells.join("<br>")
            ));
        }
        out.push('\n');
    }
    out
}

#[test]
fn conventions_doc_is_generated_from_the_table() {
    let doc_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("CONVENTIONS.md");
    let mut doc = std::fs::read_to_string(&doc_path).expect("CONVENTIONS.md");
    let mut stale = Vec::new();
    for (block, generated) in [
        ("table::doc::conventions_markdown()", conventions_markdown()),
        ("per-library, from the fixtures", library_markdown()),
    ] {
        let begin = format!("<!-- BEGIN GENERATED: {block} -->\n");
        let end_marker = format!("<!-- END GENERATED: {block} -->");
        let start = doc.find(&begin).unwrap_or_else(|| panic!("marker {begin}")) + begin.len();
        let end = doc
            .find(&end_marker)
            .unwrap_or_else(|| panic!("marker {end_marker}"));
        if doc[start..end] != generated {
            stale.push(block);
            doc = format!("{}{}{}", &doc[..start], generated, &doc[end..]);
        }
    }
    if !stale.is_empty() {
        if std::env::var_os("SPANLENS_BLESS").is_some() {
            std::fs::write(&doc_path, doc).unwrap();
        } else {
            panic!(
                "CONVENTIONS.md sections {stale:?} are out of date; rerun with SPANLENS_BLESS=1"
            );
        }
    }
}
