//! `https://` endpoints (feature `tls`): the test makes a CA and a server certificate (rcgen),
//! puts TLS terminators (tokio-rustls) in front of the in-process collector's gRPC and HTTP
//! ports, and the SDK — trusting that CA through `ca_certificate_pem` / `ca_certificate_file` —
//! exports spans over OTLP/gRPC and OTLP/HTTP and sends a score through them; the rows and the
//! score are read back from ClickHouse. Without the CA the server is refused.
//!
//! `cargo test -p spanlens --test e2e_tls`

#[path = "../../spanlens-collector/tests/support/mod.rs"]
mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use spanlens::{ObservationType, Protocol, Score, Usage};
use spanlens_collector::storage::row::ScoreRow;
use support::TestCollector;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

/// A CA (PEM) and a server config with a certificate it signed for `localhost` and 127.0.0.1.
fn pki() -> (String, Arc<rustls::ServerConfig>) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Spanlens test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();

    let key = KeyPair::generate().unwrap();
    let params = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let cert = params.signed_by(&key, &ca).unwrap();
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![cert.der().clone()],
        rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    )
    .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    (ca.pem(), Arc::new(config))
}

/// Terminates TLS on a free port and forwards the plain bytes to `backend`; counts the
/// completed handshakes.
async fn tls_terminator(
    backend: SocketAddr,
    config: Arc<rustls::ServerConfig>,
) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handshakes = Arc::new(AtomicUsize::new(0));
    let acceptor = TlsAcceptor::from(config);
    let counter = handshakes.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, counter) = (acceptor.clone(), counter.clone());
            tokio::spawn(async move {
                // A client that does not trust the certificate aborts the handshake here.
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                counter.fetch_add(1, Ordering::SeqCst);
                let mut plain = tokio::net::TcpStream::connect(backend).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    (addr, handshakes)
}

/// One agent span with an LLM span inside.
async fn traced_work(name: &'static str) -> spanlens::SpanHandle {
    spanlens::observe(name, ObservationType::Agent, async {
        let llm = spanlens::chat("openai", "gpt-4o-mini").start();
        llm.set_usage(Usage::new(5, 2));
        llm.end();
        spanlens::current()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_export_and_scores_with_a_private_ca() {
    let t = TestCollector::start("sdk_tls").await;
    let (ca_pem, server) = pki();
    let (grpc_tls, grpc_handshakes) = tls_terminator(t.grpc_addr(), server.clone()).await;
    let (http_tls, http_handshakes) = tls_terminator(t.collector.http_addr, server).await;

    // 1. OTLP/gRPC over TLS (by host name) + a score over HTTPS, CA given as PEM.
    let guard = spanlens::builder()
        .endpoint(format!("https://localhost:{}", grpc_tls.port()))
        .http_endpoint(format!("https://localhost:{}", http_tls.port()))
        .ca_certificate_pem(ca_pem.clone())
        .service_name("sdk-tls-grpc")
        .batch_delay(Duration::from_millis(100))
        .init()
        .expect("init");
    let agent = traced_work("over_grpc_tls").await;
    spanlens::score(
        Score::numeric("tls_ok", 1.0)
            .id("tls-score")
            .for_span(&agent),
    )
    .await
    .expect("score over https");
    spanlens::shutdown().await.expect("export over gRPC/TLS");
    drop(guard);

    // 2. OTLP/HTTP over TLS (by IP address), CA read from a file.
    let ca_file = std::env::temp_dir().join(format!("spanlens-tls-ca-{}.pem", std::process::id()));
    std::fs::write(&ca_file, &ca_pem).unwrap();
    let guard = spanlens::builder()
        .endpoint(format!("https://127.0.0.1:{}", http_tls.port()))
        .protocol(Protocol::HttpProtobuf)
        .ca_certificate_file(&ca_file)
        .service_name("sdk-tls-http")
        .batch_delay(Duration::from_millis(100))
        .init()
        .expect("init");
    traced_work("over_http_tls").await;
    spanlens::shutdown().await.expect("export over HTTP/TLS");
    drop(guard);
    std::fs::remove_file(&ca_file).unwrap();

    // 3. Without the CA the certificate is refused: the score fails saying why, spans never
    //    arrive.
    let guard = spanlens::builder()
        .endpoint(format!("https://localhost:{}", grpc_tls.port()))
        .http_endpoint(format!("https://localhost:{}", http_tls.port()))
        .service_name("sdk-tls-untrusted")
        .export_timeout(Duration::from_secs(2))
        .init()
        .expect("init");
    traced_work("untrusted").await;
    let err = spanlens::score(Score::boolean("untrusted", true))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("UnknownIssuer"),
        "refused for the unknown CA: {err}"
    );
    let _ = spanlens::shutdown().await; // the export fails; what is stored is checked below
    drop(guard);

    let rows = t.spans(4).await;
    let mut seen: Vec<(String, String)> = rows
        .iter()
        .map(|r| (r.service_name.clone(), r.name.clone()))
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        vec![
            ("sdk-tls-grpc".into(), "chat gpt-4o-mini".into()),
            ("sdk-tls-grpc".into(), "over_grpc_tls".into()),
            ("sdk-tls-http".into(), "chat gpt-4o-mini".into()),
            ("sdk-tls-http".into(), "over_http_tls".into()),
        ]
    );
    let llm = rows
        .iter()
        .find(|r| r.service_name == "sdk-tls-http" && r.name == "chat gpt-4o-mini")
        .unwrap();
    assert_eq!((llm.input_tokens, llm.output_tokens), (Some(5), Some(2)));

    let scores: Vec<ScoreRow> =
        t.ch.query("SELECT ?fields FROM scores FINAL")
            .fetch_all()
            .await
            .unwrap();
    assert_eq!(scores.len(), 1);
    assert_eq!(
        (
            scores[0].score_id.as_str(),
            scores[0].name.as_str(),
            scores[0].value
        ),
        ("tls-score", "tls_ok", Some(1.0))
    );
    assert_eq!(Some(scores[0].trace_id.clone()), agent.trace_id());
    assert_eq!(Some(scores[0].span_id.clone()), agent.span_id());

    // Every successful connection went through the terminators.
    assert!(grpc_handshakes.load(Ordering::SeqCst) >= 1);
    assert!(http_handshakes.load(Ordering::SeqCst) >= 2);

    t.shutdown().await;
}
