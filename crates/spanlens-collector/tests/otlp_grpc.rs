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

    let rows = t.spans(6).await;
    for trace in 1..=3 {
        assert_agent_with_chat(&rows, trace);
    }
    t.shutdown().await;
}
