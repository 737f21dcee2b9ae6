//! OTLP/gRPC receiver end to end (plain and gzip), including partial success.

mod support;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use support::{TestCollector, assert_agent_with_chat, otlp};
use tonic::codec::CompressionEncoding;

#[tokio::test]
async fn grpc_plain_and_gzip_become_exact_rows() {
    let t = TestCollector::start("grpc_ok").await;
    let endpoint = format!("http://{}", t.grpc_addr());
    let mut client = TraceServiceClient::connect(endpoint.clone()).await.unwrap();
    let reply = client
        .export(otlp::agent_with_chat(1))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.partial_success, None);

    let mut gz = TraceServiceClient::connect(endpoint)
        .await
        .unwrap()
        .send_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Gzip);
    gz.export(otlp::agent_with_chat(2)).await.unwrap();

    let mut request = otlp::agent_with_chat(3);
    let mut bad = request.resource_spans[0].scope_spans[0].spans[0].clone();
    bad.span_id = vec![0; 8];
    request.resource_spans[0].scope_spans[0].spans.push(bad);
    let partial = client
        .export(request)
        .await
        .unwrap()
        .into_inner()
        .partial_success
        .expect("partial");
    assert_eq!(partial.rejected_spans, 1);
    assert!(
        partial.error_message.contains("span_id"),
        "{}",
        partial.error_message
    );

    // A message larger than one HTTP/2 frame (16 KiB) arrives in pieces, joined exactly.
    let padding: String = (0..100_000u32)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let mut large = otlp::agent_with_chat(4);
    large.resource_spans[0].scope_spans[0].spans[0]
        .attributes
        .push(otlp::s("padding", &padding));
    client.export(large).await.unwrap();

    let rows = t.spans(8).await;
    for trace in 1..=3 {
        assert_agent_with_chat(&rows, trace);
    }
    let padded: Vec<&str> = rows
        .iter()
        .flat_map(|r| &r.span_attributes)
        .filter(|(k, _)| k == "padding")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(padded, [padding.as_str()]);
    t.shutdown().await;
}

#[tokio::test]
async fn grpc_shares_the_in_flight_budget_and_answers_resource_exhausted() {
    use tonic_types::StatusExt;
    let mut config = support::test_config("grpc_inflight");
    config.receiver.max_body_bytes = 64 * 1024;
    config.receiver.max_inflight_bytes = 200_000; // room for one 60 kB request (3x reserved)
    let t = TestCollector::start_with(config).await;
    let mut client = TraceServiceClient::connect(format!("http://{}", t.grpc_addr()))
        .await
        .unwrap();

    // A slow HTTP client holds most of the budget: gRPC requests are refused meanwhile.
    let slow = support::slow_request(t.collector.http_addr, 60_000).await;
    // 20 kB of the 200 kB budget are left: a 10 kB request (30 kB reserved) does not fit.
    let mut request = otlp::agent_with_chat(1);
    request.resource_spans[0].scope_spans[0].spans[0]
        .attributes
        .push(otlp::s("padding", &"p".repeat(10_000)));
    let status = client.export(request.clone()).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    assert!(
        status.message().contains("max_inflight_bytes"),
        "{status:?}"
    );
    let retry = status.get_details_retry_info().expect("RetryInfo detail");
    assert_eq!(retry.retry_delay, Some(std::time::Duration::from_secs(1)));

    drop(slow); // the reservation is released once the server sees the connection closed
    support::retry_while(
        || {
            let (mut client, request) = (client.clone(), request.clone());
            async move { client.export(request).await }
        },
        |reply| matches!(reply, Err(s) if s.code() == tonic::Code::ResourceExhausted),
    )
    .await
    .unwrap();

    // A message over receiver.max_body_bytes is refused, not retried.
    let mut big = otlp::agent_with_chat(2);
    big.resource_spans[0].scope_spans[0].spans[0].name = "x".repeat(70_000);
    let status = client.export(big).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::OutOfRange, "{status:?}");
    assert!(status.message().contains("max_body_bytes"), "{status:?}");
    let rows = t.spans(2).await;
    assert_agent_with_chat(&rows, 1);
    t.shutdown().await;
}

#[tokio::test]
async fn a_full_spool_answers_unavailable_on_grpc_and_503_on_http() {
    let mut config = support::test_config("spool_full");
    // No ClickHouse behind it (nothing drains), and a spool smaller than two requests.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    config.clickhouse.url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    config.clickhouse.migrate_on_start = false;
    config.pipeline.spool_max_bytes = 8192;
    config.pipeline.spool_segment_bytes = 4096;
    let t = TestCollector::start_with(config).await;
    let mut client = TraceServiceClient::connect(format!("http://{}", t.grpc_addr()))
        .await
        .unwrap();
    let mut request = otlp::agent_with_chat(1);
    request.resource_spans[0].scope_spans[0].spans[0]
        .attributes
        .push(otlp::s("padding", &"p".repeat(5_000)));
    client.export(request.clone()).await.unwrap();
    let status = client.export(request.clone()).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    assert!(status.message().contains("spool full"), "{status:?}");

    let (status, headers, reply) = support::post(
        &t.http_url("/v1/traces"),
        &[("content-type", "application/x-protobuf")],
        prost::Message::encode_to_vec(&request),
    )
    .await;
    assert_eq!(status, 503, "{}", String::from_utf8_lossy(&reply));
    assert_eq!(headers["retry-after"], "5");
    t.shutdown().await;
}
