//! GenAI evaluation results → scores on the evaluated span.
//!
//! The GenAI event `gen_ai.evaluation.result` (semantic conventions 1.37+) carries
//! `gen_ai.evaluation.name`, `gen_ai.evaluation.score.value`, `gen_ai.evaluation.score.label`,
//! `gen_ai.evaluation.explanation`, `error.type` and, when the evaluated span is not its parent,
//! `gen_ai.response.id`. It arrives
//! - as an OTLP log record (`event_name`, or the older `event.name` attribute), correlated with
//!   the evaluated span by its trace and span id;
//! - as a span event on the evaluated span;
//! - from OpenLIT's evaluators (`openlit.evals`, default `evals_logs_export`), as a log record
//!   without an event name whose body is the same attributes as a JSON object.
//!
//! Each becomes one score (`source` `EVAL`): NUMERIC with the value when there is one (the label,
//! if any, in `string_value`), CATEGORICAL with the label otherwise; a failed evaluation
//! (`error.type`, no result) is a CATEGORICAL `ERROR` score whose comment names the error. The
//! explanation is the comment. The score id is derived from (trace, span, evaluation name,
//! response id), so a re-sent result replaces the earlier one. A result without a span context
//! keeps its `gen_ai.response.id` in the score's metadata; the receiver then puts it on the span
//! of that response when it knows it (`pipeline::response_index`).

use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value::Value};

use super::value::as_text;
use crate::storage::row::{AttrMap, ScoreRow, derived_score_id};

/// The event name of an evaluation result.
pub const EVALUATION_RESULT: &str = "gen_ai.evaluation.result";

const NAME: &str = "gen_ai.evaluation.name";
const SCORE_VALUE: &str = "gen_ai.evaluation.score.value";
const SCORE_LABEL: &str = "gen_ai.evaluation.score.label";
const EXPLANATION: &str = "gen_ai.evaluation.explanation";
const ERROR_TYPE: &str = "error.type";
pub const RESPONSE_ID: &str = "gen_ai.response.id";

/// The span an evaluation result is about, and when it was recorded.
pub struct Target<'a> {
    pub project: &'a str,
    /// Lowercase hex; empty when the result names no span.
    pub trace_id: &'a str,
    pub span_id: &'a str,
    pub time_unix_nano: i64,
    /// When the collector received it (the score's `updated_at`).
    pub now: i64,
}

/// One evaluation result, whatever it arrived as.
#[derive(Debug, Default, PartialEq)]
struct Evaluation {
    name: String,
    value: Option<f64>,
    label: String,
    explanation: String,
    error_type: String,
    response_id: String,
}

/// The score of a `gen_ai.evaluation.result` event's (or record's) attributes; `None` when
/// they name no evaluation.
pub fn score_from_attributes(attrs: &[KeyValue], target: &Target) -> Option<ScoreRow> {
    let text = |key: &str| -> String {
        attrs
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.as_ref()?.value.as_ref())
            .and_then(as_text)
            .map(|t| t.into_owned())
            .unwrap_or_default()
    };
    let value = attrs
        .iter()
        .find(|kv| kv.key == SCORE_VALUE)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
        .and_then(|v| match v {
            Value::DoubleValue(d) => Some(*d),
            Value::IntValue(i) => Some(*i as f64),
            Value::StringValue(s) => s.trim().parse().ok(),
            _ => None,
        });
    Evaluation {
        name: text(NAME),
        value,
        label: text(SCORE_LABEL),
        explanation: text(EXPLANATION),
        error_type: text(ERROR_TYPE),
        response_id: text(RESPONSE_ID),
    }
    .into_score(target)
}

/// The score of a log record body that is an evaluation result's attributes as a JSON object
/// (OpenLIT's evaluators); `None` for any other body.
pub fn score_from_json_body(body: &Value, target: &Target) -> Option<ScoreRow> {
    let Value::StringValue(text) = body else {
        return None;
    };
    if !text.trim_start().starts_with('{') || !text.contains(NAME) {
        return None;
    }
    let object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(text).ok()?;
    let text = |key: &str| -> String {
        match object.get(key) {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        }
    };
    let value = match object.get(SCORE_VALUE) {
        Some(serde_json::Value::Number(n)) => n.as_f64(),
        Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    };
    Evaluation {
        name: text(NAME),
        value,
        label: text(SCORE_LABEL),
        explanation: text(EXPLANATION),
        error_type: text(ERROR_TYPE),
        response_id: text(RESPONSE_ID),
    }
    .into_score(target)
}

/// The score id of an evaluation of a span / response: a re-sent result gets the same id.
pub fn evaluation_score_id(trace_id: &str, span_id: &str, name: &str, response_id: &str) -> String {
    derived_score_id(&[trace_id, span_id, name, response_id])
}

impl Evaluation {
    fn into_score(self, target: &Target) -> Option<ScoreRow> {
        if self.name.is_empty() {
            return None;
        }
        let value = self.value.filter(|v| v.is_finite());
        let (data_type, string_value) = match (value, self.label.is_empty()) {
            (Some(_), _) => ("NUMERIC", self.label),
            (None, false) => ("CATEGORICAL", self.label),
            (None, true) => ("CATEGORICAL", "ERROR".to_string()),
        };
        let comment = match (self.explanation.is_empty(), self.error_type.is_empty()) {
            (false, _) => self.explanation,
            (true, false) => format!("evaluation failed: {}", self.error_type),
            (true, true) => String::new(),
        };
        let mut metadata = AttrMap::new();
        if !self.error_type.is_empty() {
            metadata.push((ERROR_TYPE.into(), self.error_type));
        }
        if !self.response_id.is_empty() {
            metadata.push((RESPONSE_ID.into(), self.response_id.clone()));
        }
        let score_id = evaluation_score_id(
            target.trace_id,
            target.span_id,
            &self.name,
            &self.response_id,
        );
        Some(ScoreRow {
            project: target.project.to_string(),
            score_id,
            trace_id: target.trace_id.to_string(),
            span_id: target.span_id.to_string(),
            session_id: String::new(),
            name: self.name,
            data_type: data_type.into(),
            value,
            string_value,
            comment,
            source: "EVAL".into(),
            timestamp: target.time_unix_nano,
            metadata,
            updated_at: target.now,
        })
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::common::v1::AnyValue;

    use super::*;

    fn kv(key: &str, value: Value) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue { value: Some(value) }),
            ..Default::default()
        }
    }

    fn target() -> Target<'static> {
        Target {
            project: "p",
            trace_id: "0af7651916cd43dd8448eb211c80319c",
            span_id: "b7ad6b7169203331",
            time_unix_nano: 5,
            now: 9,
        }
    }

    #[test]
    fn a_value_makes_a_numeric_score_with_its_label_and_explanation() {
        let attrs = [
            kv(NAME, Value::StringValue("relevance".into())),
            kv(SCORE_VALUE, Value::IntValue(1)),
            kv(SCORE_LABEL, Value::StringValue("relevant".into())),
            kv(EXPLANATION, Value::StringValue("on topic".into())),
        ];
        let s = score_from_attributes(&attrs, &target()).unwrap();
        assert_eq!(
            (s.data_type.as_str(), s.value, s.string_value.as_str()),
            ("NUMERIC", Some(1.0), "relevant")
        );
        assert_eq!(
            (s.comment.as_str(), s.source.as_str()),
            ("on topic", "EVAL")
        );
        assert_eq!((s.timestamp, s.updated_at), (5, 9));
        assert_eq!(s.span_id, "b7ad6b7169203331");
        // Same evaluation of the same span: same id, so a re-send replaces it.
        assert_eq!(
            s.score_id,
            score_from_attributes(&attrs, &target()).unwrap().score_id
        );
    }

    #[test]
    fn a_label_alone_is_categorical_and_no_name_is_no_score() {
        let s = score_from_attributes(
            &[
                kv(NAME, Value::StringValue("bias".into())),
                kv(SCORE_LABEL, Value::StringValue("none".into())),
                kv(SCORE_VALUE, Value::DoubleValue(f64::NAN)),
            ],
            &target(),
        )
        .unwrap();
        assert_eq!(
            (s.data_type.as_str(), s.value, s.string_value.as_str()),
            ("CATEGORICAL", None, "none")
        );
        assert_eq!(
            score_from_attributes(&[kv(SCORE_VALUE, Value::DoubleValue(0.5))], &target()),
            None
        );
    }

    #[test]
    fn openlit_json_bodies_are_read_and_other_bodies_ignored() {
        let body = Value::StringValue(
            r#"{"gen_ai.evaluation.name": "hallucination", "gen_ai.evaluation.score.value": 0.75, "gen_ai.evaluation.score.label": "yes"}"#
                .into(),
        );
        let s = score_from_json_body(&body, &target()).unwrap();
        assert_eq!((s.name.as_str(), s.value), ("hallucination", Some(0.75)));
        for other in [
            Value::StringValue("plain log line".into()),
            Value::StringValue(r#"{"message": "gen_ai.evaluation.name is a key"}"#.into()),
            Value::IntValue(3),
        ] {
            assert_eq!(score_from_json_body(&other, &target()), None, "{other:?}");
        }
    }
}
