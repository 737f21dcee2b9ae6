//! Recent LLM calls by response id, so an evaluation result that names only the evaluated
//! response (`gen_ai.response.id`, no span context — the semconv's fallback) becomes a score on
//! that call's span.
//!
//! Evaluations run after the response, so the call's span has usually been received by then.
//! The index is bounded (the oldest entries go first); a result whose response is not (or no
//! longer) in it is stored as it came, with the response id in its metadata.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use crate::normalize::SpanIds;
use crate::normalize::evaluation::{RESPONSE_ID, evaluation_score_id};
use crate::storage::row::{ScoreRow, SpanRow};

/// Entries kept (≈ 100 bytes each).
const CAPACITY: usize = 100_000;

/// (project, response id) → the span's ids, oldest first out.
#[derive(Default)]
pub struct ResponseIndex {
    inner: Mutex<Inner>,
}

/// Keyed by [`key`]: one string per entry, shared by the map and the eviction order.
#[derive(Default)]
struct Inner {
    spans: HashMap<Arc<str>, SpanIds, foldhash::fast::RandomState>,
    order: VecDeque<Arc<str>>,
}

/// (project, response id) as one unambiguous string: the project's length first.
fn key(project: &str, response_id: &str) -> String {
    format!("{}:{project}{response_id}", project.len())
}

impl ResponseIndex {
    /// Remembers the spans that carry a response id (`ids[i]`: the ids of `rows[i]`).
    pub fn remember(&self, project: &str, rows: &[SpanRow], ids: &[SpanIds]) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let calls = rows
            .iter()
            .zip(ids)
            .filter(|(r, _)| !r.response_id.is_empty());
        for (row, &span) in calls {
            let key: Arc<str> = key(project, &row.response_id).into();
            if inner.spans.insert(key.clone(), span).is_none() {
                inner.order.push_back(key);
            }
            while inner.order.len() > CAPACITY {
                if let Some(oldest) = inner.order.pop_front() {
                    inner.spans.remove(&oldest);
                }
            }
        }
    }

    /// Puts scores that name only a response onto that response's span, when it is known.
    pub fn resolve(&self, scores: &mut [ScoreRow]) {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        for score in scores.iter_mut().filter(|s| s.trace_id.is_empty()) {
            let Some((_, response_id)) = score.metadata.iter().find(|(k, _)| k == RESPONSE_ID)
            else {
                continue;
            };
            if let Some(span) = inner.spans.get(key(&score.project, response_id).as_str()) {
                // The hex the span's row stores.
                score.trace_id = format!("{:032x}", span.trace);
                score.span_id = format!("{:016x}", span.span);
                score.score_id =
                    evaluation_score_id(&score.trace_id, &score.span_id, &score.name, response_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(response_id: &str, span: &str) -> (SpanRow, SpanIds) {
        let trace = "0af7651916cd43dd8448eb211c80319c";
        let row = SpanRow {
            trace_id: trace.into(),
            span_id: span.into(),
            response_id: response_id.into(),
            ..SpanRow::default()
        };
        let ids = SpanIds::from_otlp(&hex::decode(trace).unwrap(), &hex::decode(span).unwrap());
        (row, ids.unwrap())
    }

    fn score(project: &str, response_id: &str) -> ScoreRow {
        ScoreRow {
            project: project.into(),
            name: "relevance".into(),
            metadata: vec![(RESPONSE_ID.into(), response_id.into())],
            ..ScoreRow::default()
        }
    }

    #[test]
    fn a_score_naming_a_known_response_goes_to_its_span() {
        let index = ResponseIndex::default();
        let (row, ids) = call("chatcmpl-1", "b7ad6b7169203331");
        let (other, other_ids) = call("", "00000000000000a1");
        index.remember("p", &[row, other], &[ids, other_ids]);
        let mut scores = vec![
            score("p", "chatcmpl-1"),
            score("other", "chatcmpl-1"),
            score("p", "x"),
        ];
        index.resolve(&mut scores);
        assert_eq!(scores[0].span_id, "b7ad6b7169203331");
        assert_eq!(scores[0].trace_id, "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(
            scores[0].score_id,
            evaluation_score_id(
                &scores[0].trace_id,
                &scores[0].span_id,
                "relevance",
                "chatcmpl-1"
            )
        );
        assert_eq!(
            scores[1].trace_id, "",
            "another project's response is not this one"
        );
        assert_eq!(
            scores[2].trace_id, "",
            "unknown response: stored as it came"
        );
    }
}
