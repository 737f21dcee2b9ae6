//! Recent LLM calls by response id, so an evaluation result that names only the evaluated
//! response (`gen_ai.response.id`, no span context — the semconv's fallback) becomes a score on
//! that call's span.
//!
//! Evaluations run after the response, so the call's span has usually been received by then.
//! The index is bounded (the oldest entries go first); a result whose response is not (or no
//! longer) in it is stored as it came, with the response id in its metadata.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use crate::normalize::evaluation::{RESPONSE_ID, evaluation_score_id};
use crate::storage::row::{ScoreRow, SpanRow};

/// Entries kept (≈ 100 bytes each).
const CAPACITY: usize = 100_000;

/// (project, response id) → (trace id, span id), oldest first out.
#[derive(Default)]
pub struct ResponseIndex {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    spans: HashMap<(String, String), (String, String)>,
    order: VecDeque<(String, String)>,
}

impl ResponseIndex {
    /// Remembers the spans that carry a response id.
    pub fn remember(&self, project: &str, rows: &[SpanRow]) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        for row in rows.iter().filter(|r| !r.response_id.is_empty()) {
            let key = (project.to_string(), row.response_id.clone());
            let span = (row.trace_id.clone(), row.span_id.clone());
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
            let key = (score.project.clone(), response_id.clone());
            if let Some((trace_id, span_id)) = inner.spans.get(&key) {
                score.score_id = evaluation_score_id(trace_id, span_id, &score.name, response_id);
                score.trace_id = trace_id.clone();
                score.span_id = span_id.clone();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(project: &str, response_id: &str, span: &str) -> (String, SpanRow) {
        let row = SpanRow {
            trace_id: "0af7651916cd43dd8448eb211c80319c".into(),
            span_id: span.into(),
            response_id: response_id.into(),
            ..SpanRow::default()
        };
        (project.into(), row)
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
        let (project, row) = call("p", "chatcmpl-1", "b7ad6b7169203331");
        index.remember(&project, &[row, SpanRow::default()]);
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
