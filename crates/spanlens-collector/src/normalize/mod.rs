//! TEMPORARY STUB by the lead so the crate compiles; the normalize owner replaces this file.
use crate::storage::row::SpanRow;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
pub struct Normalized { pub rows: Vec<SpanRow>, pub rejected_spans: i64, pub error_message: String }
pub fn normalize_traces(_request: ExportTraceServiceRequest, _project: &str) -> Normalized {
    Normalized { rows: vec![], rejected_spans: 0, error_message: String::new() }
}
