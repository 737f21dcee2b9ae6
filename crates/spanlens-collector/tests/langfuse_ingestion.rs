//! The Langfuse batch ingestion API (`POST /api/public/ingestion`) end to end: the real Langfuse
//! Python SDK v2 (tests/python/langfuse_v2_app.py: `langfuse.openai`, `@observe`, streaming, a
//! failing call, scores, the low-level client) against a fake OpenAI server; the 207 body for
//! valid and invalid events; creates and updates split across batches, out of order and re-sent.

mod support;

use std::process::Command;

use serde_json::{Value, json};
use spanlens_collector::auth::hash_key;
use spanlens_collector::config::{ApiKeyConfig, Config};
use spanlens_collector::normalize::langfuse::{observation_hex, trace_hex, trace_row_hex};
use spanlens_collector::storage::row::{ScoreRow, SpanRow};
use support::{TestCollector, post};

const PUBLIC: &str = "pk-lf-test";
const SECRET: &str = "sk-lf-test-secret";

fn config(prefix: &str) -> Config {
    let mut config = support::test_config(prefix);
    config.auth.keys = vec![
        ApiKeyConfig {
            project: "lf".into(),
            langfuse_public_key: Some(PUBLIC.into()),
            langfuse_secret_key_sha256: Some(hash_key(SECRET)),
            ..Default::default()
        },
        ApiKeyConfig {
            project: "other".into(),
            langfuse_public_key: Some("pk-lf-other".into()),
            langfuse_secret_key_sha256: Some(hash_key("sk-lf-other")),
            ..Default::default()
        },
    ];
    config.langfuse.merge_window_ms = 1500;
    config
}

fn basic(public: &str, secret: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{public}:{secret}"))
    )
}

async fn rows(t: &TestCollector, expected: u64) -> Vec<SpanRow> {
    t.spans(expected).await
}

async fn scores(t: &TestCollector, expected: u64) -> Vec<ScoreRow> {
    let n = t
        .wait_for_count("SELECT count() FROM scores FINAL", expected)
        .await;
    assert_eq!(n, expected, "stored score count");
    t.ch.query("SELECT ?fields FROM scores FINAL ORDER BY name")
        .fetch_all()
        .await
        .unwrap()
}

/// The observation row (`trace_itself`: the trace's own row) named `name` of the Langfuse
/// trace `trace` (exactly one).
fn find<'a>(rows: &'a [SpanRow], trace: &str, name: &str, trace_itself: bool) -> &'a SpanRow {
    let hex = trace_hex(trace);
    let own = trace_row_hex(trace);
    let found: Vec<&SpanRow> = rows
        .iter()
        .filter(|r| r.trace_id == hex && r.name == name && (r.span_id == own) == trace_itself)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one row {name:?} in trace {trace}: {found:?}"
    );
    found[0]
}

fn attr<'a>(row: &'a SpanRow, key: &str) -> Option<&'a str> {
    row.span_attributes
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// The row of a trace itself: the root, under the id derived from the trace id.
fn trace_row<'a>(rows: &'a [SpanRow], trace: &str, name: &str) -> &'a SpanRow {
    let r = find(rows, trace, name, true);
    assert_eq!(r.span_id, trace_row_hex(trace));
    assert_eq!(r.parent_span_id, "");
    assert_eq!(attr(r, "langfuse.trace.id"), Some(trace));
    r
}

/// An observation row: its span id comes from its Langfuse id, kept in `langfuse.observation.id`.
fn observation<'a>(rows: &'a [SpanRow], trace: &str, name: &str, parent: &str) -> &'a SpanRow {
    let r = find(rows, trace, name, false);
    let id = attr(r, "langfuse.observation.id").expect("the Langfuse observation id is kept");
    assert_eq!(r.span_id, observation_hex(id));
    assert_eq!(r.parent_span_id, parent, "{name}'s parent");
    r
}

/// Runs tests/python/langfuse_v2_app.py against the collector; the ids it used.
async fn run_v2_app(t: &TestCollector) -> Value {
    let host = t.http_url("");
    tokio::task::spawn_blocking(move || {
        let env = [
            ("LANGFUSE_HOST", host.as_str()),
            ("LANGFUSE_PUBLIC_KEY", PUBLIC),
            ("LANGFUSE_SECRET_KEY", SECRET),
        ];
        support::run_python("langfuse_v2_app.py", &[], &env)
    })
    .await
    .unwrap()
    .unwrap_or_else(|e| panic!("the Langfuse v2 app failed: {e}"))
}

/// Runs a read-API client script with both projects' keys and the app's ids.
async fn run_reader(
    t: &TestCollector,
    script: &'static str,
    ids: &Value,
    env: Vec<(&'static str, String)>,
) -> Value {
    let host = t.http_url("");
    let ids = ids.to_string();
    tokio::task::spawn_blocking(move || {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let args = [&host, PUBLIC, SECRET, "pk-lf-other", "sk-lf-other", &ids];
        support::run_python(script, &args, &env)
    })
    .await
    .unwrap()
    .unwrap_or_else(|e| panic!("the read client failed: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_v2_end_to_end() {
    let t = TestCollector::start_with(config("lf_py")).await;
    let ids = run_v2_app(&t).await;
    let id = |k: &str| ids[k].as_str().unwrap().to_string();
    // 5 traces (one row each) + 8 observations; creates and updates merged, nothing twice.
    let rows = rows(&t, 13).await;
    assert!(rows.iter().all(|r| r.project == "lf"));
    assert!(rows.iter().all(|r| r.scope_name == "langfuse-sdk"
        && r.scope_version == "2.60.10"
        && *r.resource_attributes
            == vec![
                ("telemetry.sdk.name".into(), "langfuse".into()),
                ("telemetry.sdk.language".into(), "python".into()),
                ("telemetry.sdk.version".into(), "2.60.10".into()),
            ]));

    // 1. langfuse.openai with session, user, tags, metadata.
    let simple = id("simple");
    let trace = trace_row(&rows, &simple, "");
    assert_eq!(
        (trace.session_id.as_str(), trace.user_id.as_str()),
        ("session-1", "user-1")
    );
    let plan = observation(&rows, &simple, "plan", &trace.span_id);
    assert_eq!(
        (plan.observation_type.as_str(), plan.operation.as_str()),
        ("llm", "chat")
    );
    assert_eq!(plan.response_model, "gpt-4o-mini-2024-07-18");
    assert_eq!(
        (plan.input_tokens, plan.output_tokens, plan.total_tokens),
        (Some(5), Some(6), Some(11))
    );
    assert_eq!(
        (plan.temperature, plan.max_tokens, plan.is_streaming),
        (Some(0.2), Some(50), Some(false))
    );
    assert_eq!(
        plan.input,
        r#"[{"role":"user","content":"Plan a trip to Lisbon"}]"#
    );
    assert_eq!(
        plan.output,
        r#"{"role":"assistant","content":"echo: Plan a trip to Lisbon"}"#
    );
    assert_eq!(
        (plan.session_id.as_str(), plan.user_id.as_str()),
        ("session-1", "user-1")
    );
    assert_eq!(plan.tags, vec!["lisbon".to_string(), "simple".to_string()]);
    assert_eq!(
        plan.metadata,
        vec![("feature".to_string(), "planner".to_string())]
    );
    assert_eq!(plan.status_code, "Unset");
    // Priced from the bundled table: 5 × $0.15/M + 6 × $0.60/M.
    assert!(
        (plan.total_cost.unwrap() - 4.35e-6).abs() < 1e-12,
        "{:?}",
        plan.total_cost
    );
    assert!(plan.duration_ns > 0);

    // 2. Streaming: time to first token from completionStartTime.
    let stream = id("stream");
    let s = observation(
        &rows,
        &stream,
        "stream",
        &trace_row(&rows, &stream, "").span_id,
    );
    assert_eq!(s.is_streaming, Some(true));
    assert!(
        s.time_to_first_token_ns
            .is_some_and(|t| t > 0 && t <= s.duration_ns)
    );
    assert_eq!(s.output, r#""echo: Count to three please""#);
    assert_eq!((s.input_tokens, s.output_tokens), (Some(4), Some(5)));

    // 3. The failing call: level ERROR → status Error with the SDK's message.
    let fail = id("fail");
    let f = observation(&rows, &fail, "fail", &trace_row(&rows, &fail, "").span_id);
    assert_eq!(f.status_code, "Error");
    assert!(
        f.status_message.starts_with("Error code: 500"),
        "{}",
        f.status_message
    );
    assert_eq!(
        (f.observation_type.as_str(), f.output.as_str()),
        ("llm", "")
    );

    // 4. @observe: the trace is the agent function; its spans and generation hang under it.
    let agent = id("agent");
    let a = trace_row(&rows, &agent, "agent");
    assert_eq!(a.input, r#"{"args":["Summarise Lisbon"],"kwargs":{}}"#);
    assert_eq!(a.output, r#""echo: Summarise Lisbon""#);
    assert_eq!(
        (
            a.session_id.as_str(),
            a.user_id.as_str(),
            a.release.as_str()
        ),
        ("session-2", "user-2", "v2-release")
    );
    // The trace's row spans its observations (the OTel SDK's root span spans its children).
    let last_end = rows
        .iter()
        .filter(|r| r.trace_id == a.trace_id)
        .map(|r| r.start_time + r.duration_ns as i64)
        .max()
        .unwrap();
    assert_eq!(a.start_time + a.duration_ns as i64, last_end);
    assert!(a.duration_ns > 0);
    let retrieve = observation(&rows, &agent, "retrieve", &a.span_id);
    assert_eq!(retrieve.observation_type, "span");
    assert_eq!(retrieve.output, r#"["Lisbon is the capital of Portugal."]"#);
    let answer = observation(&rows, &agent, "answer", &a.span_id);
    assert_eq!(answer.observation_type, "llm");
    assert!(
        answer.input.starts_with(
            r#"[{"role":"system","content":"Use: Lisbon is the capital of Portugal."}"#
        )
    );
    for r in [retrieve, answer] {
        assert_eq!(
            (r.session_id.as_str(), r.user_id.as_str(), r.tags.clone()),
            ("session-2", "user-2", vec!["agent".to_string()])
        );
    }

    // 5. The low-level client: trace attributes, legacy usage, level / status message, event.
    let manual = id("manual");
    let m = trace_row(&rows, &manual, "manual");
    assert_eq!(
        (m.input.as_str(), m.output.as_str()),
        (r#"{"question":"why?"}"#, r#""because""#)
    );
    assert_eq!(
        m.metadata,
        vec![
            ("team".to_string(), "search".to_string()),
            ("attempt".to_string(), "2".to_string())
        ]
    );
    assert_eq!(
        (m.release.as_str(), m.tags.clone()),
        ("r-3", vec!["manual".to_string()])
    );
    let step = observation(&rows, &manual, "step", &m.span_id);
    assert_eq!(
        (step.input.as_str(), step.output.as_str()),
        (r#""step input""#, r#""step output""#)
    );
    assert_eq!(
        attr(step, "langfuse.observation.id"),
        Some(id("manual_span").as_str())
    );
    let generation = observation(&rows, &manual, "llm-step", &m.span_id);
    assert_eq!(
        attr(generation, "langfuse.observation.id"),
        Some(id("manual_generation").as_str())
    );
    assert_eq!(
        (
            generation.input_tokens,
            generation.output_tokens,
            generation.total_tokens
        ),
        (Some(10), Some(3), Some(13))
    );
    assert_eq!(
        (generation.temperature, generation.max_tokens),
        (Some(0.5), Some(20))
    );
    assert_eq!(
        (
            generation.status_code.as_str(),
            generation.status_message.as_str()
        ),
        ("Unset", "slow")
    );
    assert_eq!(
        generation.output,
        r#"{"role":"assistant","content":"hello"}"#
    );
    let event = observation(&rows, &manual, "cache-miss", &m.span_id);
    assert_eq!(
        (event.observation_type.as_str(), event.duration_ns),
        ("span", 0)
    );
    assert_eq!(event.input, r#"{"key":"k1"}"#);
    for r in [step, generation, event] {
        assert_eq!(
            (
                r.session_id.as_str(),
                r.user_id.as_str(),
                r.release.as_str()
            ),
            ("session-3", "user-3", "r-3")
        );
        assert_eq!(r.metadata, m.metadata);
    }

    // Scores, through the scores path, on the stored trace ids.
    let scores = scores(&t, 2).await;
    assert_eq!(
        (
            scores[0].name.as_str(),
            scores[0].value,
            scores[0].comment.as_str(),
            scores[0].trace_id.clone()
        ),
        ("quality", Some(0.9), "good", trace_hex(&agent))
    );
    assert_eq!(
        (
            scores[1].name.as_str(),
            scores[1].data_type.as_str(),
            scores[1].value,
            scores[1].trace_id.clone()
        ),
        ("thumbs", "BOOLEAN", Some(1.0), trace_hex(&manual))
    );
    t.shutdown().await;
}

async fn ingest(t: &TestCollector, auth: &str, body: Vec<u8>) -> (u16, Value) {
    let (status, _, body) = post(
        &t.http_url("/api/public/ingestion"),
        &[
            ("content-type", "application/json"),
            ("authorization", auth),
        ],
        body,
    )
    .await;
    let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
    (status, json)
}

fn batch(events: Value) -> Vec<u8> {
    json!({"batch": events, "metadata": {"sdk_name": "test", "sdk_version": "1.0"}})
        .to_string()
        .into_bytes()
}

/// The 207 contract, the merge of a create and its update sent in separate batches in reverse
/// order and re-sent, envelope errors, credentials stripped, projects kept apart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_merge_out_of_order_and_answer_like_langfuse() {
    let t = TestCollector::start_with(config("lf_batch")).await;
    let auth = basic(PUBLIC, SECRET);

    let (status, body) = ingest(&t, &basic(PUBLIC, "wrong"), batch(json!([]))).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("UnauthorizedError"))
    );
    let (status, body) = ingest(&t, &auth, b"{\"batch\": 3}".to_vec()).await;
    assert_eq!(status, 400);
    assert_eq!(body["message"], "Invalid request data");
    assert_eq!(body["errors"][0], "batch: expected an array");
    let (status, _) = ingest(&t, &auth, vec![b' '; 4_718_593]).await;
    assert_eq!(status, 413);

    // Batch 1: the generation's update (end time, output, usage) arrives first, with the trace
    // (its metadata carrying the SDK's own secret key, as the JS SDK v3 sends it) and two
    // invalid events.
    let update = json!({"id": "ev-update", "timestamp": "2026-11-30T01:00:02.000Z", "type": "generation-update",
        "body": {"id": "g-1", "traceId": "t-merge-1", "endTime": "2026-11-30T01:00:02.000Z",
                 "output": {"role": "assistant", "content": "done"}, "usageDetails": {"input": 7, "output": 2}}});
    let trace = json!({"id": "ev-trace", "timestamp": "2026-11-30T01:00:00.000Z", "type": "trace-create",
        "body": {"id": "t-merge-1", "name": "merge", "userId": "u-9",
                 "metadata": {"clientInitParams": {"publicKey": PUBLIC, "secretKey": SECRET, "baseUrl": "http://x"}}}});
    let bad_level = json!({"id": "ev-bad", "timestamp": "2026-11-30T01:00:00.000Z", "type": "span-create",
        "body": {"id": "s-bad", "traceId": "t-merge-1", "level": "LOUD"}});
    let bad_type = json!({"id": "ev-unknown", "timestamp": "2026-11-30T01:00:00.000Z", "type": "thing-create", "body": {}});
    let sdk_log = json!({"id": "ev-log", "timestamp": "2026-11-30T01:00:00.000Z", "type": "sdk-log",
        "body": {"log": {"message": "flush failed once"}}});
    let score = json!({"id": "ev-score", "timestamp": "2026-11-30T01:00:03.000Z", "type": "score-create",
        "body": {"id": "sc-1", "traceId": "t-merge-1", "observationId": "g-1", "name": "relevance", "value": 0.5}});
    let bad_score = json!({"id": "ev-bad-score", "timestamp": "2026-11-30T01:00:03.000Z", "type": "score-create",
        "body": {"traceId": "t-merge-1", "name": "ok", "value": 2, "dataType": "BOOLEAN"}});
    let (status, body) = ingest(
        &t,
        &auth,
        batch(json!([
            update, trace, bad_level, bad_type, sdk_log, score, bad_score
        ])),
    )
    .await;
    assert_eq!(status, 207);
    // Each event on its path: the log record, the score, then the held trace and observation.
    assert_eq!(
        body["successes"],
        json!([{"id": "ev-log", "status": 201}, {"id": "ev-score", "status": 201},
               {"id": "ev-update", "status": 201}, {"id": "ev-trace", "status": 201}])
    );
    let errors = body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 3);
    assert_eq!(errors[2]["id"], "ev-bad-score");
    assert!(
        errors[2]["error"]
            .as_str()
            .unwrap()
            .contains("must be 0 or 1"),
        "{errors:?}"
    );
    assert_eq!(
        (
            &errors[0]["id"],
            &errors[0]["status"],
            &errors[0]["message"]
        ),
        (
            &json!("ev-bad"),
            &json!(400),
            &json!("Invalid request data")
        )
    );
    assert!(
        errors[0]["error"].as_str().unwrap().contains("body.level"),
        "{errors:?}"
    );
    assert!(
        errors[1]["error"]
            .as_str()
            .unwrap()
            .contains("unknown event type \"thing-create\"")
    );

    // Batch 2, half a second later: the create. Then batch 2 again (an SDK retry).
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let create = json!({"id": "ev-create", "timestamp": "2026-11-30T01:00:01.000Z", "type": "generation-create",
        "body": {"id": "g-1", "traceId": "t-merge-1", "name": "gen", "startTime": "2026-11-30T01:00:01.000Z",
                 "model": "gpt-4o-mini", "input": [{"role": "user", "content": "go"}],
                 "metadata": {"Authorization": "Bearer abcdefgh12345"}}});
    for _ in 0..2 {
        let (status, body) = ingest(&t, &auth, batch(json!([create.clone()]))).await;
        assert_eq!(
            (status, &body["successes"]),
            (207, &json!([{"id": "ev-create", "status": 201}]))
        );
    }

    let rows = t.spans(2).await;
    let trace_row = trace_row(&rows, "t-merge-1", "merge");
    assert_eq!(trace_row.user_id, "u-9");
    assert_eq!(
        trace_row.metadata,
        vec![(
            "clientInitParams".to_string(),
            r#"{"publicKey":"pk-lf-test","secretKey":"[REDACTED]","baseUrl":"http://x"}"#
                .to_string()
        )]
    );
    let g = find(&rows, "t-merge-1", "gen", false);
    assert_eq!(
        (g.span_id.clone(), g.parent_span_id.clone()),
        (observation_hex("g-1"), trace_row.span_id.clone())
    );
    assert_eq!(g.start_time, 1_796_000_401_000_000_000);
    assert_eq!(g.duration_ns, 1_000_000_000);
    assert_eq!(
        (g.observation_type.as_str(), g.response_model.as_str()),
        ("llm", "gpt-4o-mini")
    );
    assert_eq!((g.input_tokens, g.output_tokens), (Some(7), Some(2)));
    assert_eq!(g.input, r#"[{"role":"user","content":"go"}]"#);
    assert_eq!(g.output, r#"{"role":"assistant","content":"done"}"#);
    assert_eq!(g.user_id, "u-9");
    // Its own metadata first, then the trace's (as the OTel SDK propagates it).
    assert_eq!(
        g.metadata[0],
        ("Authorization".to_string(), "[REDACTED]".to_string())
    );
    assert_eq!(g.metadata[1], trace_row.metadata[0]);
    for r in &rows {
        assert!(
            !format!("{r:?}").contains(SECRET),
            "a secret was stored: {r:?}"
        );
    }
    // The score is on the stored ids of its trace and observation; the SDK log is a log record.
    let scores = scores(&t, 1).await;
    assert_eq!(
        (
            scores[0].score_id.as_str(),
            scores[0].trace_id.clone(),
            scores[0].span_id.clone(),
            scores[0].value
        ),
        (
            "sc-1",
            trace_hex("t-merge-1"),
            observation_hex("g-1"),
            Some(0.5)
        )
    );
    let logs: Vec<(String, String)> =
        t.ch.query("SELECT event_name, body FROM logs")
            .fetch_all()
            .await
            .unwrap();
    assert_eq!(
        logs,
        vec![(
            "langfuse.sdk_log".to_string(),
            r#"{"message":"flush failed once"}"#.to_string()
        )]
    );

    // Still exactly two rows once everything held is written (a graceful shutdown writes it
    // all); the other project sees none.
    let TestCollector {
        collector,
        config,
        ch,
    } = t;
    collector.shutdown().await;
    let n: u64 = ch
        .query("SELECT count() FROM spans")
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(n, 2);
    let other: u64 = ch
        .query("SELECT count() FROM spans WHERE project = 'other'")
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(other, 0);
    support::drop_database(&config).await;
}

/// Held events are acknowledged: a `kill -9` while they wait for their updates loses none of
/// them, and what was already written is not written again after the restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_events_survive_kill_9_and_are_written_once() {
    let config = support::test_config("lf_kill9");
    let bin = env!("CARGO_BIN_EXE_spanlens-collector");
    let (mut child, http) =
        support::start_binary(bin, &config, &["--set", "langfuse.merge_window_ms=60000"]);
    let events = json!([
        {"id": "k-trace", "timestamp": "2026-11-30T01:00:00.000Z", "type": "trace-create",
         "body": {"id": "t-kill", "name": "held"}},
        {"id": "k-gen", "timestamp": "2026-11-30T01:00:00.100Z", "type": "generation-create",
         "body": {"id": "g-kill", "traceId": "t-kill", "name": "gen-held", "model": "gpt-4o-mini",
                  "startTime": "2026-11-30T01:00:00.100Z"}},
        {"id": "k-span", "timestamp": "2026-11-30T01:00:00.200Z", "type": "span-create",
         "body": {"id": "s-kill", "traceId": "t-kill", "name": "done", "startTime": "2026-11-30T01:00:00.200Z",
                  "endTime": "2026-11-30T01:00:00.300Z"}}
    ]);
    let (status, _, body) = post(
        &format!("{http}/api/public/ingestion"),
        &[("content-type", "application/json")],
        batch(events),
    )
    .await;
    assert_eq!(status, 207, "{}", String::from_utf8_lossy(&body));
    let ch = spanlens_collector::storage::clickhouse::server_client(&config.clickhouse)
        .unwrap()
        .with_database(&config.clickhouse.database);
    let count = || async {
        ch.query("SELECT count() FROM spans")
            .fetch_one::<u64>()
            .await
            .unwrap_or(0)
    };
    // The complete span is written at once; the trace and the generation are held.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while count().await < 1 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(count().await, 1);
    // Its release must be recorded in the event log before the kill (else the log gives it back:
    // the one window for a duplicate). The merge task releases one pass at a time, recording
    // each release before the next pass, which publishes the held count: a later held event
    // counted (3 held) is the barrier.
    let barrier = json!([{"id": "k-barrier", "timestamp": "2026-11-30T01:00:01.000Z",
        "type": "trace-create", "body": {"id": "t-barrier", "name": "barrier"}}]);
    let (status, _, body) = post(
        &format!("{http}/api/public/ingestion"),
        &[("content-type", "application/json")],
        batch(barrier),
    )
    .await;
    assert_eq!(status, 207, "{}", String::from_utf8_lossy(&body));
    support::wait_for_metric(&http, "spanlens_langfuse_held", 3).await;
    assert!(
        Command::new("kill")
            .args(["-KILL", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let _ = child.wait();

    let (mut child, _http) =
        support::start_binary(bin, &config, &["--set", "langfuse.merge_window_ms=300"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while count().await < 4 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // A graceful stop writes everything still held or queued: a second copy would be stored.
    support::stop_gracefully(&mut child);
    let names: Vec<String> = ch
        .query("SELECT name FROM spans ORDER BY name")
        .fetch_all()
        .await
        .unwrap();
    assert_eq!(names, vec!["barrier", "done", "gen-held", "held"]);
    ch.query(&format!("DROP DATABASE {}", config.clickhouse.database))
        .execute()
        .await
        .unwrap();
    let _ = std::fs::remove_dir_all(
        std::path::Path::new(&config.pipeline.spool_dir)
            .parent()
            .unwrap(),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_sdk_v3_end_to_end() {
    let app = support::local::js_tests().join("langfuse_v3_app.mjs");
    let t = TestCollector::start_with(config("lf_js")).await;
    let (_fake, openai_url) = support::fake_openai();
    let host = t.http_url("");
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(app)
            .env("LANGFUSE_BASEURL", host)
            .env("LANGFUSE_PUBLIC_KEY", PUBLIC)
            .env("LANGFUSE_SECRET_KEY", SECRET)
            .env("OPENAI_BASE_URL", openai_url)
            .output()
            .expect("run the Langfuse JS v3 app")
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "app failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ids: Value = serde_json::from_slice(&out.stdout).expect("app prints its ids");
    let id = |k: &str| ids[k].as_str().unwrap().to_string();
    // 3 traces (one row each) + 4 observations.
    let rows = rows(&t, 7).await;
    assert!(rows.iter().all(|r| r.scope_version == "3.38.20"
        && r.resource_attributes[1] == ("telemetry.sdk.language".into(), "langfuse-js".into())));

    // observeOpenAI: its trace (named by traceName) and the generation under it.
    let chat = id("chat");
    let trace = trace_row(&rows, &chat, "js-chat-trace");
    let g = observation(&rows, &chat, "js-chat", &trace.span_id);
    for r in [trace, g] {
        assert_eq!(
            (r.session_id.as_str(), r.user_id.as_str()),
            ("js-session", "js-user")
        );
        assert_eq!(
            (r.tags.clone(), r.metadata.clone()),
            (
                vec!["js".to_string()],
                vec![("feature".to_string(), "js-planner".to_string())]
            )
        );
        assert_eq!(
            r.input,
            r#"{"messages":[{"role":"user","content":"Plan a trip to Porto"}]}"#
        );
        assert_eq!(
            r.output,
            r#"{"role":"assistant","content":"echo: Plan a trip to Porto","refusal":null}"#
        );
    }
    assert_eq!(
        (g.observation_type.as_str(), g.response_model.as_str()),
        ("llm", "gpt-4o-mini-2024-07-18")
    );
    assert_eq!(
        (
            g.input_tokens,
            g.output_tokens,
            g.total_tokens,
            g.cached_tokens
        ),
        (Some(5), Some(6), Some(11), Some(0))
    );
    assert_eq!((g.temperature, g.is_streaming), (Some(0.3), Some(false)));

    // A streamed call: time to first token, streaming from the recorded parameters.
    let stream = id("stream");
    let s = observation(
        &rows,
        &stream,
        "js-stream",
        &trace_row(&rows, &stream, "js-stream").span_id,
    );
    assert_eq!(
        (s.is_streaming, s.output.as_str()),
        (Some(true), r#""echo: Count to three""#)
    );
    assert!(
        s.time_to_first_token_ns
            .is_some_and(|t| t > 0 && t <= s.duration_ns)
    );
    assert_eq!((s.input_tokens, s.output_tokens), (Some(3), Some(4)));
    assert!(
        s.span_attributes
            .iter()
            .all(|(k, _)| !k.contains("metadata")),
        "empty metadata is not kept"
    );

    // The low-level client: a trace updated after its observations, span, generation.
    let manual = id("manual");
    let m = trace_row(&rows, &manual, "js-manual");
    assert_eq!(
        (m.input.as_str(), m.output.as_str(), m.user_id.as_str()),
        (r#"{"q":"why"}"#, r#""because""#, "js-user-2")
    );
    let step = observation(&rows, &manual, "js-step", &m.span_id);
    assert_eq!(
        (step.input.as_str(), step.output.as_str()),
        (r#""in""#, r#""out""#)
    );
    let generation = observation(&rows, &manual, "js-gen", &m.span_id);
    assert_eq!(
        (
            generation.input_tokens,
            generation.output_tokens,
            generation.output.as_str()
        ),
        (Some(4), Some(1), r#""hello""#)
    );

    let scores = scores(&t, 1).await;
    assert_eq!(
        (
            scores[0].name.as_str(),
            scores[0].value,
            scores[0].comment.as_str(),
            scores[0].trace_id.clone()
        ),
        ("js-thumbs", Some(0.0), "meh", trace_hex(&manual))
    );

    // The SDK put its secret key into the trace bodies; nothing stored keeps it: not the rows,
    // not the spools on disk.
    for r in &rows {
        assert!(
            !format!("{r:?}").contains(SECRET),
            "a secret was stored: {r:?}"
        );
    }
    let spool_root = std::path::Path::new(&t.config.pipeline.spool_dir).to_path_buf();
    let mut files = vec![spool_root];
    let mut scanned = 0;
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else {
            let bytes = std::fs::read(&path).unwrap();
            scanned += bytes.len();
            assert!(
                !bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
                "the secret key is on disk in {}",
                path.display()
            );
        }
    }
    assert!(scanned > 0);
    t.shutdown().await;
}

/// The v1 read API through Langfuse's own generated client (langfuse 2.x `FernLangfuse`, which
/// validates every response against Langfuse's schema), on what the Python SDK v2 app wrote.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_api_v1_through_langfuse_client() {
    let t = TestCollector::start_with(config("lf_read")).await;
    let ids = run_v2_app(&t).await;
    let id = |k: &str| ids[k].as_str().unwrap().to_string();
    t.spans(13).await;
    scores(&t, 2).await;
    let read = run_reader(&t, "langfuse_read_v1.py", &ids, vec![]).await;
    let (simple, stream, agent, manual) = (id("simple"), id("stream"), id("agent"), id("manual"));
    // Five traces, two per page, oldest first.
    assert_eq!(
        read["trace_pages"],
        json!({"page1": [simple, stream], "page3": [manual],
               "meta": {"totalItems": 5, "totalPages": 3}, "list_observations": 1})
    );
    assert_eq!(read["traces_by_user"], json!(["manual"]));
    assert_eq!(read["traces_by_tags"], json!(["manual"]));
    assert_eq!(read["traces_by_session"], json!(["agent"]));
    assert_eq!(read["traces_by_name"], json!([agent]));
    assert_eq!(
        read["trace"],
        json!({
            "id": manual, "name": "manual", "input": {"question": "why?"}, "output": "because",
            "userId": "user-3", "sessionId": "session-3", "tags": ["manual"], "release": "r-3",
            "metadata": {"team": "search", "attempt": "2"}, "latency_positive": true,
            "totalCost": 3.3e-06, "htmlPath": format!("/project/lf/traces/{manual}"),
            "observations": [
                ["cache-miss", "EVENT", null, 0, 0, "DEBUG"],
                ["llm-step", "GENERATION", null, 10, 3, "WARNING"],
                ["step", "SPAN", null, 0, 0, "DEFAULT"]
            ],
            "scores": [["thumbs", 1.0, "BOOLEAN"]]
        })
    );
    assert_eq!(
        read["generations"],
        json!([[id("manual_generation"), "llm-step", "gpt-4o-mini", {"input": 10, "output": 3, "total": 13}, "slow"]])
    );
    assert_eq!(
        read["agent_observations"],
        json!([["answer", null], ["retrieve", null]])
    );
    assert_eq!(
        read["observation"],
        json!({"id": id("manual_generation"), "traceId": manual,
               "input": [{"role": "user", "content": "hi"}], "output": {"role": "assistant", "content": "hello"},
               "modelParameters": {"temperature": "0.5", "max_tokens": 20}, "latency_positive": true})
    );
    assert_eq!(read["stream_ttft_positive"], json!(true));
    assert_eq!(
        read["sessions"],
        json!(["session-1", "session-2", "session-3"])
    );
    // Newest first: page 2 of 2 holds the oldest session.
    assert_eq!(
        read["sessions_page2"],
        json!({"items": ["session-1"], "totalPages": 2})
    );
    assert_eq!(
        read["observations_page2"],
        json!({"items": 1, "totalItems": 3})
    );
    assert_eq!(
        read["session"],
        json!({"id": "session-3", "traces": [manual]})
    );
    assert_eq!(read["scores"], json!([["thumbs", 1.0, manual, "user-3"]]));
    // One day: 5 traces, 8 observations, tokens per model (the failed call counts 0).
    assert_eq!(
        read["daily"],
        json!([{"countTraces": 5, "countObservations": 8,
                "usage": [["gpt-4o-mini", 10, 3], ["gpt-4o-mini-2024-07-18", 18, 14]]}])
    );
    assert_eq!(
        read["bad_limit"],
        json!([400, {"message": "limit must be at most 100, got 1000"}])
    );
    // Another project's key sees nothing.
    for k in ["other_traces", "other_sessions", "other_scores"] {
        assert_eq!(read[k], json!(0), "{k}");
    }
    assert_eq!(read["other_trace"], json!(404));
    t.shutdown().await;
}

/// The current generation of the read API (v2 observations, v3 scores, v2 metrics) through the
/// current Langfuse Python SDK's generated client (`LangfuseAPI`, langfuse 5.x, installed apart
/// from the test virtualenv's 2.x SDK: `support::local::langfuse_current`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_api_v2_v3_through_current_langfuse_client() {
    let current = support::local::langfuse_current()
        .into_os_string()
        .into_string()
        .expect("a UTF-8 path");
    let t = TestCollector::start_with(config("lf_read2")).await;
    let ids = run_v2_app(&t).await;
    let id = |k: &str| ids[k].as_str().unwrap().to_string();
    t.spans(13).await;
    scores(&t, 2).await;
    let read = run_reader(
        &t,
        "langfuse_read_current.py",
        &ids,
        vec![("PYTHONPATH", current)],
    )
    .await;
    let (agent, manual) = (id("agent"), id("manual"));
    // v2 observations: the default groups (core, basic), then every group.
    assert_eq!(
        read["manual_default"],
        json!([
            ["cache-miss", "EVENT", null, "DEBUG", true, null],
            ["llm-step", "GENERATION", null, "WARNING", true, null],
            ["step", "SPAN", null, "DEFAULT", true, null]
        ])
    );
    assert_eq!(
        read["generation"],
        json!({
            "id": id("manual_generation"), "traceId": manual,
            "input": [{"role": "user", "content": "hi"}], "output": {"role": "assistant", "content": "hello"},
            "usageDetails": {"input": 10, "output": 3, "total": 13}, "model": "gpt-4o-mini",
            "latency_positive": true, "traceName": "manual", "tags": ["manual"], "release": "r-3",
            "userId": "user-3", "sessionId": "session-3", "statusMessage": "slow",
            "metadata": {"team": "search", "attempt": "2"}
        })
    );
    // 8 observations, 3 per page, followed by cursor.
    assert_eq!(read["observation_pages"], json!([3, 3, 2]));
    assert_eq!(read["by_level"], json!(["llm-step"]));
    assert_eq!(read["by_user"], json!(["answer", "retrieve"]));
    assert_eq!(read["bad_fields"], json!(400));
    // v3 scores with their subjects (the Langfuse trace ids).
    assert_eq!(
        read["scores"],
        json!([
            ["quality", "NUMERIC", 0.9, "good", "trace", agent],
            ["thumbs", "BOOLEAN", true, "ok", "trace", manual]
        ])
    );
    // Newest first, one per page, then no cursor.
    assert_eq!(
        read["score_pages"],
        json!([["thumbs"], true, ["quality"], null])
    );
    // v2 metrics: counts and token sums per type, percentiles per day, score averages.
    assert_eq!(
        read["metrics_by_type"],
        json!([
            {"type": "EVENT", "count_count": 1, "sum_totalTokens": 0},
            {"type": "GENERATION", "count_count": 5, "sum_totalTokens": 45},
            {"type": "SPAN", "count_count": 2, "sum_totalTokens": 0}
        ])
    );
    let latency = read["metrics_latency"].as_array().unwrap();
    assert_eq!(latency.len(), 1, "{latency:?}");
    assert!(
        latency[0]["time_dimension"]
            .as_str()
            .unwrap()
            .ends_with("T00:00:00.000Z")
    );
    assert!(latency[0]["p95_latency"].as_f64().unwrap() > 0.0);
    assert!(latency[0]["max_timeToFirstToken"].as_f64().unwrap() > 0.0);
    let avg: Vec<(String, f64)> = read["metrics_scores"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_string(),
                r["avg_value"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        avg,
        vec![("quality".to_string(), 0.9), ("thumbs".to_string(), 1.0)]
    );
    assert_eq!(read["metrics_one_trace"], json!([{"count_count": 3}]));
    assert_eq!(read["bad_view"], json!(400));
    // Another project's key sees nothing.
    assert_eq!(read["other_observations"], json!(0));
    assert_eq!(read["other_scores"], json!(0));
    assert_eq!(read["other_metrics"], json!([{"count_count": 0}]));
    t.shutdown().await;
}

/// Credentials are stripped whichever path a row comes by: here the OTLP path (the Langfuse
/// OTel export path, Basic auth), with a header attribute, a key inside JSON metadata and a
/// secret key in the prompt text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_are_stripped_on_the_otlp_path_too() {
    use prost::Message;
    use support::otlp;
    let t = TestCollector::start_with(config("lf_otlp_secrets")).await;
    let span = opentelemetry_proto::tonic::trace::v1::Span {
        trace_id: otlp::trace_id(7),
        span_id: otlp::span_id(7),
        name: "chat".into(),
        start_time_unix_nano: otlp::T0,
        end_time_unix_nano: otlp::T0 + 1_000,
        attributes: vec![
            otlp::s(
                "http.request.header.authorization",
                "Basic cGstbGY6c2stbGY=",
            ),
            otlp::s(
                "langfuse.observation.metadata",
                &format!(r#"{{"clientInitParams":{{"secretKey":"{SECRET}"}},"k":"v"}}"#),
            ),
            otlp::s("langfuse.observation.input", &format!("my key is {SECRET}")),
        ],
        ..Default::default()
    };
    let (status, _, _) = post(
        &t.http_url("/api/public/otel/v1/traces"),
        &[
            ("content-type", "application/x-protobuf"),
            ("authorization", &basic(PUBLIC, SECRET)),
        ],
        otlp::request(vec![span]).encode_to_vec(),
    )
    .await;
    assert_eq!(status, 200);
    let rows = t.spans(1).await;
    let r = &rows[0];
    assert_eq!(r.input, "my key is [REDACTED]");
    assert_eq!(
        r.metadata,
        vec![
            (
                "clientInitParams".to_string(),
                r#"{"secretKey":"[REDACTED]"}"#.to_string()
            ),
            ("k".to_string(), "v".to_string())
        ]
    );
    assert!(
        r.span_attributes.contains(&(
            "http.request.header.authorization".to_string(),
            "[REDACTED]".to_string()
        )),
        "{:?}",
        r.span_attributes
    );
    assert!(!format!("{r:?}").contains(SECRET));
    t.shutdown().await;
}

/// The read API serves what the Langfuse OTel SDK sent too (the captured langfuse 5.0.4
/// workflow: an agent span with two generations): the root span is the trace and one of its
/// observations, with the trace attributes the SDK propagated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_api_serves_the_otel_path_too() {
    let t = TestCollector::start("lf_read_otel").await; // single-project mode: no key needed
    let pb = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/otlp/langfuse/e_workflow.pb"
    ))
    .unwrap();
    let (status, _, _) = post(
        &t.http_url("/api/public/otel/v1/traces"),
        &[("content-type", "application/x-protobuf")],
        pb,
    )
    .await;
    assert_eq!(status, 200);
    t.spans(3).await;
    let trace = "c6f2daab2ca90a758062062d8b137ce2";
    let (status, body) = support::get(&t.http_url("/api/public/traces")).await;
    assert_eq!(status, 200, "{body}");
    let list: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(list["meta"]["totalItems"], 1);
    let item = &list["data"][0];
    assert_eq!(
        (
            &item["id"],
            &item["name"],
            &item["userId"],
            &item["sessionId"],
            &item["tags"]
        ),
        (
            &json!(trace),
            &json!("fixture_agent"),
            &json!("user-fixture-42"),
            &json!("session-fixture-001"),
            &json!(["fixtures", "workflow"])
        )
    );
    assert_eq!(item["observations"].as_array().unwrap().len(), 3);
    let (status, body) = support::get(&t.http_url(&format!("/api/public/traces/{trace}"))).await;
    assert_eq!(status, 200, "{body}");
    let full: Value = serde_json::from_str(&body).unwrap();
    let mut obs: Vec<(String, String, Value)> = full["observations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["name"].as_str().unwrap().to_string(),
                o["type"].as_str().unwrap().to_string(),
                o["parentObservationId"].clone(),
            )
        })
        .collect();
    obs.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        obs,
        vec![
            (
                "OpenAI-generation".into(),
                "GENERATION".into(),
                json!("f45a572a80c982a5")
            ),
            (
                "OpenAI-generation".into(),
                "GENERATION".into(),
                json!("f45a572a80c982a5")
            ),
            ("fixture_agent".into(), "AGENT".into(), Value::Null),
        ]
    );
    t.shutdown().await;
}
