//! SDK over OTLP/HTTP (protobuf, gzip) from an application thread running a *current-thread*
//! Tokio runtime, with content capture off; the guard's drop flushes.

#[path = "../../spanlens-collector/tests/support/mod.rs"]
mod support;

use std::time::Duration;

use spanlens::{Message, ObservationType, Protocol, Usage};
use support::TestCollector;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_protobuf_with_capture_off_from_a_current_thread_runtime() {
    let t = TestCollector::start("sdk_http").await;
    let endpoint = format!("http://{}", t.collector.http_addr);

    // The "application": its own thread and single-threaded runtime. Dropping the guard inside
    // it blocks that runtime; the export must not need it.
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let guard = spanlens::builder()
                .endpoint(endpoint)
                .protocol(Protocol::HttpProtobuf)
                .gzip(true)
                .service_name("sdk-http")
                .capture_content(false)
                .batch_delay(Duration::from_secs(60)) // only the drop flushes
                .init()
                .expect("init");
            spanlens::observe("answer", ObservationType::Agent, async {
                let llm = spanlens::chat("openai", "gpt-4o-mini")
                    .input_messages([Message::user("private question")])
                    .start();
                tokio::time::sleep(Duration::from_millis(1)).await;
                llm.record_chunk("private answer");
                llm.set_usage(Usage::new(7, 3));
                llm.end();
                let tool = spanlens::observation("search", ObservationType::Tool)
                    .input("private query")
                    .start();
                tool.set_output(&"private result");
            })
            .await;
            drop(guard);
        });
    })
    .join()
    .unwrap();

    let rows = t.spans(3).await;
    let (agent, llm, tool) = (&rows[0], &rows[1], &rows[2]);
    assert_eq!(
        (agent.name.as_str(), llm.name.as_str(), tool.name.as_str()),
        ("answer", "chat gpt-4o-mini", "search")
    );
    assert_eq!(llm.parent_span_id, agent.span_id);
    assert_eq!(tool.parent_span_id, agent.span_id);
    for r in &rows {
        assert_eq!(r.service_name, "sdk-http");
        assert_eq!(
            (r.input.as_str(), r.output.as_str()),
            ("", ""),
            "no content captured on {}",
            r.name
        );
        assert!(
            r.span_attributes
                .iter()
                .all(|(_, v)| !v.contains("private")),
            "no content anywhere: {:?}",
            r.span_attributes
        );
    }
    // Everything but content is still recorded.
    assert_eq!((llm.input_tokens, llm.output_tokens), (Some(7), Some(3)));
    assert_eq!(llm.is_streaming, Some(true));
    assert!(llm.time_to_first_token_ns.is_some());
    assert_eq!(tool.observation_type, "tool");

    t.shutdown().await;
}
