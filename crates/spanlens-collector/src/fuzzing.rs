//! Fuzz targets (feature `fuzzing`): each takes arbitrary bytes and drives one input boundary
//! of the collector the way a request or a damaged disk would. Used by the cargo-fuzz targets
//! in `fuzz/` and by `tests/fuzz_regressions.rs`, which replays the seed corpus and every input
//! a fuzzer once crashed on.

use std::sync::Arc;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

use crate::normalize::metrics::normalize_metrics;
use crate::normalize::otlp_json::decode_json;
use crate::normalize::{normalize_logs, normalize_traces};
use crate::pipeline::EncodedChunk;
use crate::pipeline::langfuse_merge::{AcceptedEvents, merge_now};
use crate::pipeline::redact::{Redact, assert_prefilter_exact, may_hold_credentials};
use crate::pipeline::spool::Spool;
use crate::pipeline::spool::record::SEGMENT_MAGIC;
use crate::receiver::langfuse_ingestion::{classify, parse_envelope};
use crate::storage::row::TableRow;
use crate::storage::rowbinary::encode_row;

/// The OTLP decoders, the normalizers and the row encoder. The first byte picks the body:
/// 0 traces protobuf, 1 traces JSON, 2 logs protobuf, 3 logs JSON, 4 metrics protobuf,
/// 5 metrics JSON. Whatever decodes must normalize and encode; whatever does not is an error,
/// never a panic.
pub fn otlp(data: &[u8]) {
    let Some((&kind, body)) = data.split_first() else {
        return;
    };
    match kind % 6 {
        0 => traces(ExportTraceServiceRequest::decode(body).ok()),
        1 => traces(decode_json::<ExportTraceServiceRequest>(body).ok()),
        2 => logs(ExportLogsServiceRequest::decode(body).ok()),
        3 => logs(decode_json::<ExportLogsServiceRequest>(body).ok()),
        4 => metrics(ExportMetricsServiceRequest::decode(body).ok()),
        _ => metrics(decode_json::<ExportMetricsServiceRequest>(body).ok()),
    }
}

fn metrics(request: Option<ExportMetricsServiceRequest>) {
    if let Some(request) = request {
        let m = normalize_metrics(request, "fuzz");
        encode_checked(&m.gauge);
        encode_checked(&m.sum);
        encode_checked(&m.histogram);
        encode_checked(&m.exponential_histogram);
        encode_checked(&m.summary);
    }
}

fn traces(request: Option<ExportTraceServiceRequest>) {
    if let Some(request) = request {
        let normalized = normalize_traces(request, "fuzz");
        encode_checked(&normalized.rows);
    }
}

fn logs(request: Option<ExportLogsServiceRequest>) {
    if let Some(request) = request {
        let normalized = normalize_logs(request, "fuzz");
        encode_checked(&normalized.rows);
    }
}

/// Encodes rows as the pipeline does, and checks that the redaction prefilters never clear
/// what has something to strip: the one on encoded rows for each row, the one on text for each
/// encoded row read as text.
fn encode_checked<R: TableRow + Redact>(rows: &[R]) {
    EncodedChunk::encode(rows).expect("rows encode");
    for row in rows {
        let mut bytes = Vec::new();
        encode_row(&mut bytes, row).expect("a row encodes");
        assert!(
            may_hold_credentials(&bytes, &mut Vec::new()) || row.redacted().is_none(),
            "the encoded-row prefilter cleared a row holding a credential"
        );
        assert_prefilter_exact(&String::from_utf8_lossy(&bytes));
    }
}

/// The Langfuse batch ingestion body: the envelope, every event's validation, the create /
/// update merge and the rows it gives (spans, logs, scores), encoded.
pub fn langfuse(data: &[u8]) {
    let Ok(envelope) = parse_envelope(data) else {
        return;
    };
    let sdk = envelope.sdk.clone();
    let classified = classify("fuzz", envelope.batch, 0);
    encode_checked(&classified.logs);
    encode_checked(&classified.scores);
    let batch = AcceptedEvents {
        project: "fuzz".into(),
        sdk,
        events: classified.held,
    };
    EncodedChunk::encode(&merge_now(batch)).expect("span rows encode");
}

/// The spool reading a segment of arbitrary bytes (after a valid segment header when the first
/// byte is even): opening must cut or set aside what is damaged, the reader must end, and the
/// records it returns must come in increasing seq order.
pub fn spool(data: &[u8]) {
    let Some((&header, body)) = data.split_first() else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("spanlens-fuzz-spool-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut segment = if header % 2 == 0 {
        SEGMENT_MAGIC.to_vec()
    } else {
        Vec::new()
    };
    segment.extend_from_slice(body);
    std::fs::write(dir.join(format!("{:020}.seg", 1)), &segment).expect("write segment");
    if let Ok((spool, _)) = Spool::open(&dir, 1 << 30, 1 << 20) {
        read_in_order(&spool);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn read_in_order(spool: &Arc<Spool>) {
    let mut reader = spool.reader(0);
    let mut last = 0;
    while let Some(record) = reader.next_record().expect("reading the spool") {
        assert!(record.seq > last, "seq {} after {last}", record.seq);
        last = record.seq;
    }
}
