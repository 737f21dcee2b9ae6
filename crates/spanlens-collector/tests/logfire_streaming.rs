//! Logfire's streamed calls end to end: the real Logfire SDK (`instrument_openai`) streams two
//! chat completions from the fake OpenAI server to a running collector. One call's span and its
//! "streaming response" companion span reach the collector in two export requests (the script
//! flushes between them), the other's in one; each call must be exactly one row in ClickHouse
//! with the model, token counts and completion of what the fake server answered.

mod support;

use spanlens_collector::storage::row::SpanRow;
use support::TestCollector;

/// What tests/capture/tools/fake_openai.py answers to a one-message prompt: prompt tokens are
/// the prompt's words, the completion is "echo: " + prompt.
fn echo(prompt: &str) -> (String, u64, u64) {
    let completion = format!("echo: {prompt}");
    let words = |s: &str| s.split_whitespace().count() as u64;
    (completion.clone(), words(prompt), words(&completion))
}

fn assert_call(row: &SpanRow, prompt: &str, reply: &serde_json::Value) {
    let (completion, input_tokens, output_tokens) = echo(prompt);
    assert_eq!(reply["text"], completion.as_str());
    assert_eq!(
        (
            row.observation_type.as_str(),
            row.request_model.as_str(),
            row.response_model.as_str(),
            row.response_id.as_str(),
            row.is_streaming,
        ),
        (
            "llm",
            "gpt-4o-mini",
            "gpt-4o-mini-2024-07-18",
            reply["id"].as_str().unwrap(),
            Some(true)
        ),
        "{prompt}"
    );
    assert_eq!(
        (row.input_tokens, row.output_tokens),
        (Some(input_tokens), Some(output_tokens)),
        "{prompt}"
    );
    assert!(row.input.contains(prompt), "{prompt}: {}", row.input);
    let output: serde_json::Value = serde_json::from_str(&row.output).unwrap();
    assert_eq!(
        output[0]["parts"][0]["content"], completion,
        "{prompt}: {output}"
    );
    assert_eq!(row.finish_reasons, vec!["stop".to_string()], "{prompt}");
    assert_eq!(row.service_name, "logfire-streaming");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_call_is_one_row_when_its_companion_comes_in_a_later_export() {
    let t = TestCollector::start("logfire_stream").await;
    let (_fake, openai_url) = support::fake_openai();
    let collector = t.http_url("");
    let reply = tokio::task::spawn_blocking(move || {
        support::run_python("logfire_streaming.py", &[&collector, &openai_url], &[])
    })
    .await
    .unwrap()
    .unwrap();
    let (_, text) = support::get(&t.http_url("/metrics")).await;
    assert!(
        text.contains("spanlens_content_join_companions_joined_total 1\n"),
        "one companion joined across requests: {text}"
    );
    let mut rows = t.spans(2).await;
    rows.sort_by_key(|r| r.start_time);
    assert_eq!(rows.len(), 2, "one row per call, no companion rows");
    assert_call(&rows[0], "Stream across two exports", &reply["across"]);
    assert_call(&rows[1], "Stream within one export", &reply["within"]);
    t.shutdown().await;
}
