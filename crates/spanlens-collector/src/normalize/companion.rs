//! Logfire's streaming companion spans, joined into their call's row.
//!
//! For a streamed call, Logfire (`instrument_openai` / `instrument_anthropic`) ends the call's
//! span when the stream object is returned — without output, usage or response model — and
//! records the response later as a separate zero-duration span, `logfire.span_type = log`,
//! message template `streaming response from {request_data[model]!r} took {duration:.2f}s`, in a
//! DIFFERENT trace, with no link to the call. Stored as they come, one call would be two rows
//! and its tokens and completion would sit on a row that is not an LLM call.
//!
//! The companion is emitted right after the stream ends, usually in the same export request as
//! its call, and then it is joined here: the companion's output, finish reasons, response model
//! and id, token counts and cost replace the call's in its row — the most recent earlier call
//! span of the same service and scope with the same request model and input and no output yet —
//! which becomes a streamed call lasting until the stream ended; the companion row is then
//! dropped (everything it said is in the call's row). When the two arrive in different export
//! requests (the stream outlasted the exporter's batch, or a processor that exports span by
//! span), the content join holds the call row ([`awaits_companion`]) until its companion comes
//! (`pipeline::content_join`), with the same matching ([`completes`]) and merge ([`merge`]).

use crate::storage::row::SpanRow;

const TEMPLATE_KEY: &str = "logfire.msg_template";
const TEMPLATE_PREFIX: &str = "streaming response from ";

/// Logfire's instrumentations name their scopes `logfire.openai`, `logfire.anthropic`, …; the
/// cheap test that keeps the other rows off the attribute scans below.
pub fn is_logfire(row: &SpanRow) -> bool {
    row.scope_name.starts_with("logfire.")
}

/// Whether the row is a streaming companion span.
pub fn is_companion(row: &SpanRow) -> bool {
    is_logfire(row)
        && row
            .span_attributes
            .iter()
            .any(|(k, v)| k == TEMPLATE_KEY && v.starts_with(TEMPLATE_PREFIX))
}

/// Whether the row is a Logfire LLM call still waiting for its companion: a call span without
/// output that did not fail (Logfire records the response on the call span itself unless the
/// call streamed).
pub fn awaits_companion(row: &SpanRow) -> bool {
    is_logfire(row)
        && row.observation_type == "llm"
        && row.output.is_empty()
        && row.status_code != "Error"
        && !is_companion(row)
}

/// Whether `companion` is the response of the streamed `call`.
pub fn completes(call: &SpanRow, companion: &SpanRow) -> bool {
    call.observation_type == "llm"
        && call.output.is_empty()
        && call.start_time <= companion.start_time
        && call.service_name == companion.service_name
        && call.scope_name == companion.scope_name
        && call.request_model == companion.request_model
        && call.input == companion.input
}

/// Joins the companion rows of `rows` into their call rows (see the module doc); returns the
/// indexes of the companions joined, ascending: their rows are left empty, for the caller to
/// remove (with whatever it keeps beside them).
pub fn join_streaming_companions(rows: &mut [SpanRow]) -> Vec<usize> {
    let companions: Vec<usize> = (0..rows.len())
        .filter(|&i| is_companion(&rows[i]))
        .collect();
    let mut joined = Vec::new();
    for c in companions {
        let companion = &rows[c];
        let call = (0..rows.len())
            .filter(|&i| i != c && completes(&rows[i], companion))
            .max_by_key(|&i| rows[i].start_time);
        let Some(call) = call else { continue };
        let companion = std::mem::take(&mut rows[c]);
        merge(&mut rows[call], companion);
        joined.push(c);
    }
    joined
}

/// Writes the companion's response into its call's row.
pub fn merge(call: &mut SpanRow, companion: SpanRow) {
    call.output = companion.output;
    call.finish_reasons = companion.finish_reasons;
    call.is_streaming = Some(true);
    // The call lasted until the stream ended (when the companion was recorded).
    let end = companion.start_time.max(call.start_time) - call.start_time;
    call.duration_ns = call.duration_ns.max(end as u64);
    // The companion carries the response: its facts win (the call span may hold the request
    // model as its "response" model, set before the response existed).
    macro_rules! take_text {
        ($($field:ident),*) => {
            $(if !companion.$field.is_empty() {
                call.$field = companion.$field;
            })*
        };
    }
    take_text!(response_model, response_id);
    macro_rules! take_opt {
        ($($field:ident),*) => {
            $(call.$field = companion.$field.or(call.$field);)*
        };
    }
    take_opt!(
        input_tokens,
        output_tokens,
        total_tokens,
        cached_tokens,
        cache_creation_tokens,
        reasoning_tokens,
        input_cost,
        output_cost,
        total_cost
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(start: i64) -> SpanRow {
        SpanRow {
            start_time: start,
            duration_ns: 2_000_000,
            observation_type: "llm".into(),
            service_name: "svc".into(),
            scope_name: "logfire.openai".into(),
            request_model: "gpt-4o".into(),
            response_model: "gpt-4o".into(),
            input: "[prompt]".into(),
            ..SpanRow::default()
        }
    }

    fn companion(start: i64) -> SpanRow {
        SpanRow {
            start_time: start,
            observation_type: "span".into(),
            response_model: "gpt-4o-2024-08-06".into(),
            response_id: "r1".into(),
            output: "[answer]".into(),
            input_tokens: Some(5),
            output_tokens: Some(7),
            finish_reasons: vec!["stop".into()],
            span_attributes: vec![(
                TEMPLATE_KEY.into(),
                "streaming response from {request_data[model]!r} took {duration:.2f}s".into(),
            )],
            ..call(start)
        }
    }

    #[test]
    fn the_companion_completes_its_call_and_goes() {
        let mut rows = vec![call(100), call(1_000), companion(90_000_000)];
        rows[0].input = "[other prompt]".into();
        assert_eq!(join_streaming_companions(&mut rows), vec![2]);
        assert_eq!(rows[2], SpanRow::default(), "taken");
        let joined = &rows[1];
        assert_eq!(
            (
                joined.output.as_str(),
                joined.response_model.as_str(),
                joined.response_id.as_str()
            ),
            ("[answer]", "gpt-4o-2024-08-06", "r1")
        );
        assert_eq!(
            (joined.input_tokens, joined.output_tokens),
            (Some(5), Some(7))
        );
        assert_eq!(joined.is_streaming, Some(true));
        assert_eq!(joined.duration_ns, 90_000_000 - 1_000);
        assert_eq!(
            rows[0].output, "",
            "a call with another prompt is left alone"
        );
    }

    #[test]
    fn a_companion_without_its_call_stays() {
        let mut rows = vec![companion(5), call(10)];
        assert!(
            join_streaming_companions(&mut rows).is_empty(),
            "the call started after it"
        );
        assert_eq!(rows, vec![companion(5), call(10)]);
    }
}
