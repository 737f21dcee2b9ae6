//! `#[spanlens::observe]` end to end: nesting, argument and return capture (Serialize, Debug,
//! neither), `Err` → error, sync and async functions.

#[path = "../../spanlens-collector/tests/support/mod.rs"]
mod support;

use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};
use support::TestCollector;

#[derive(Serialize)]
struct Query {
    city: String,
}

/// Not Serialize: the macro must fall back to its Debug text (the field is read only there).
#[derive(Debug)]
struct Hint(#[allow(dead_code)] u8);

struct Opaque;

#[spanlens::observe(as = "tool")]
fn get_weather(query: Query, days: u32, _secret: Opaque) -> Result<String, std::io::Error> {
    if days > 10 {
        return Err(std::io::Error::other("forecast too far ahead"));
    }
    Ok(format!("{}: sunny for {days} days", query.city))
}

#[spanlens::observe(name = "planner", as = "agent")]
async fn plan(request: String, hint: Hint) -> Vec<String> {
    tokio::time::sleep(Duration::from_millis(2)).await;
    let near = get_weather(
        Query {
            city: "Lisbon".into(),
        },
        2,
        Opaque,
    )
    .unwrap();
    let far = get_weather(
        Query {
            city: "Porto".into(),
        },
        20,
        Opaque,
    )
    .map_err(|e| e.to_string());
    tokio::time::sleep(Duration::from_millis(1)).await;
    let _ = (request, hint);
    vec![near, far.unwrap_err()]
}

#[spanlens::observe(capture_input = false)]
async fn fails(_token: &str) -> anyhow::Result<u32> {
    let n: u32 = "x".parse()?;
    Ok(n)
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{text:?} is not JSON: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observe_attribute_records_tree_io_and_errors() {
    let t = TestCollector::start("sdk_macro").await;
    let _guard = spanlens::builder()
        .endpoint(format!("http://{}", t.grpc_addr()))
        .service_name("sdk-macro")
        .batch_delay(Duration::from_millis(100))
        .init()
        .expect("init");

    let out = plan("two days in Lisbon".into(), Hint(7)).await;
    assert_eq!(
        out,
        vec![
            "Lisbon: sunny for 2 days".to_string(),
            "forecast too far ahead".to_string()
        ]
    );
    assert!(fails("secret").await.is_err());

    spanlens::shutdown().await.expect("flush");
    let rows = t.spans(4).await;
    let (planner, near, far, failed) = (&rows[0], &rows[1], &rows[2], &rows[3]);

    assert_eq!(
        (planner.name.as_str(), planner.observation_type.as_str()),
        ("planner", "agent")
    );
    assert_eq!(
        json_of(&planner.input),
        json!({"request": "two days in Lisbon", "hint": "Hint(7)"})
    );
    assert_eq!(
        json_of(&planner.output),
        json!(["Lisbon: sunny for 2 days", "forecast too far ahead"])
    );

    for tool in [near, far] {
        assert_eq!(
            (tool.name.as_str(), tool.observation_type.as_str()),
            ("get_weather", "tool")
        );
        assert_eq!(tool.parent_span_id, planner.span_id);
        assert_eq!(tool.trace_id, planner.trace_id);
    }
    assert_eq!(
        json_of(&near.input),
        json!({"query": {"city": "Lisbon"}, "days": 2, "_secret": "<e2e_macro::Opaque>"})
    );
    assert_eq!(near.output, "Lisbon: sunny for 2 days");
    assert_eq!(near.status_code, "Unset");
    assert_eq!(far.status_code, "Error");
    assert_eq!(far.error_type, "Error");
    assert_eq!(far.status_message, "forecast too far ahead");
    assert_eq!(far.output, "");

    assert_eq!(
        (failed.name.as_str(), failed.observation_type.as_str()),
        ("fails", "span")
    );
    assert_eq!(failed.parent_span_id, "");
    assert_eq!(failed.input, "", "capture_input = false");
    assert_eq!(
        (failed.status_code.as_str(), failed.error_type.as_str()),
        ("Error", "Error")
    );
    assert_eq!(failed.status_message, "invalid digit found in string");

    t.shutdown().await;
}
