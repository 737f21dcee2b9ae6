//! API keys map to projects: every row carries its key's project; a missing or wrong key is
//! 401 / UNAUTHENTICATED; a Langfuse SDK's Basic auth key pair works on its export path.

mod support;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use prost::Message;
use spanlens_collector::auth::hash_key;
use spanlens_collector::config::ApiKeyConfig;
use support::{TestCollector, otlp, post};

#[tokio::test]
async fn keys_route_rows_to_their_project_and_bad_keys_are_refused() {
    let mut config = support::test_config("auth");
    config.auth.keys = vec![
        ApiKeyConfig {
            project: "shop".into(),
            key_sha256: Some(hash_key("sk-shop")),
            ..Default::default()
        },
        ApiKeyConfig {
            project: "bank".into(),
            langfuse_public_key: Some("pk-lf-bank".into()),
            langfuse_secret_key_sha256: Some(hash_key("sk-lf-bank")),
            ..Default::default()
        },
    ];
    let t = TestCollector::start_with(config).await;
    let pb = ("content-type", "application/x-protobuf");

    // HTTP with a bearer key → project shop.
    let (status, _, _) = post(
        &t.http_url("/v1/traces"),
        &[pb, ("authorization", "Bearer sk-shop")],
        otlp::agent_with_chat(1).encode_to_vec(),
    )
    .await;
    assert_eq!(status, 200);

    // A real Langfuse SDK capture (gzip, Basic auth) on Langfuse's path → project bank.
    let gz = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/otlp/langfuse/a_simple.pb.gz"
    ))
    .unwrap();
    let basic = format!("Basic {}", base64_encode("pk-lf-bank:sk-lf-bank"));
    let (status, _, body) = post(
        &t.http_url("/api/public/otel/v1/traces"),
        &[pb, ("content-encoding", "gzip"), ("authorization", &basic)],
        gz.clone(),
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));

    // Missing, wrong and malformed credentials.
    let wrong_secret = format!("Basic {}", base64_encode("pk-lf-bank:sk-shop"));
    for (headers, want) in [
        (vec![pb], "missing API key"),
        (
            vec![pb, ("authorization", "Bearer sk-nope")],
            "invalid API key",
        ),
        (
            vec![pb, ("authorization", wrong_secret.as_str())],
            "invalid API key",
        ),
        (
            vec![pb, ("authorization", "Token x")],
            "malformed Authorization header",
        ),
    ] {
        let (status, _, body) = post(
            &t.http_url("/v1/traces"),
            &headers,
            otlp::agent_with_chat(9).encode_to_vec(),
        )
        .await;
        assert_eq!(status, 401);
        assert!(String::from_utf8_lossy(&body).contains(want), "{want}");
    }

    // gRPC: metadata carries the key.
    let mut client = TraceServiceClient::connect(format!("http://{}", t.grpc_addr()))
        .await
        .unwrap();
    let err = client.export(otlp::agent_with_chat(9)).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    let mut request = tonic::Request::new(otlp::agent_with_chat(2));
    request
        .metadata_mut()
        .insert("authorization", "Bearer sk-shop".parse().unwrap());
    client.export(request).await.unwrap();

    t.wait_for_count("SELECT count() FROM spans", 5).await;
    let by_project: Vec<(String, u64)> =
        t.ch.query("SELECT project, count() FROM spans GROUP BY project ORDER BY project")
            .fetch_all()
            .await
            .unwrap();
    assert_eq!(
        by_project,
        vec![("bank".to_string(), 1), ("shop".to_string(), 4)]
    );
    t.shutdown().await;
}

fn base64_encode(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}
