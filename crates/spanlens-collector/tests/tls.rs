//! TLS end to end, with certificates the test generates (rcgen): the receivers serve TLS and
//! the real OpenTelemetry Python SDK exports over https (HTTP/protobuf and gRPC) trusting the
//! test CA, then with mutual TLS using its client certificate, while a client without one is
//! refused; the ClickHouse connection runs over https through a TLS terminator the test puts
//! in front of the local ClickHouse, verified against the custom CA (and refused without it).

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use spanlens_collector::collector::Collector;
use support::TestCollector;

/// A CA, a server certificate for localhost / 127.0.0.1 and a client certificate, as PEM files.
struct Pki {
    dir: PathBuf,
}

impl Pki {
    fn generate(name: &str) -> Pki {
        let dir = std::env::temp_dir().join(support::unique_database(name));
        std::fs::create_dir_all(&dir).unwrap();
        // Distinct subject names: OpenSSL takes a certificate whose subject equals its issuer's
        // for self-signed.
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "Spanlens test CA");
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
        for (name, sans) in [
            (
                "server",
                vec!["localhost".to_string(), "127.0.0.1".to_string()],
            ),
            ("client", vec!["otel-sdk.test".to_string()]),
        ] {
            let key = KeyPair::generate().unwrap();
            let mut params = CertificateParams::new(sans).unwrap();
            params.distinguished_name.push(DnType::CommonName, name);
            let cert = params.signed_by(&key, &ca).unwrap();
            std::fs::write(dir.join(format!("{name}.pem")), cert.pem()).unwrap();
            std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem()).unwrap();
        }
        Pki { dir }
    }

    fn file(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs tests/python/send_genai.py with `env` (off the runtime, which serves the collector);
/// Ok(trace id) or Err(stderr).
async fn python_send(
    protocol: &str,
    endpoint: &str,
    tag: &str,
    env: &[(&str, String)],
) -> Result<String, String> {
    let args = [protocol, endpoint, tag].map(str::to_string);
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let [protocol, endpoint, tag] = &args;
        let args = ["--protocol", protocol, "--endpoint", endpoint, "--tag", tag];
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        support::run_python("send_genai.py", &args, &env)
    })
    .await
    .unwrap()
    .map(|reply| reply["trace_id"].as_str().unwrap().to_string())
}

async fn models_of(t: &TestCollector, trace: &str) -> Vec<String> {
    t.ch.query("SELECT request_model FROM spans WHERE trace_id = ? ORDER BY start_time")
        .bind(trace)
        .fetch_all()
        .await
        .unwrap()
}

#[tokio::test]
async fn receivers_serve_tls_and_mutual_tls_to_the_python_sdk() {
    let pki = Pki::generate("tls_pki");
    let mut config = support::test_config("tls");
    config.receiver.tls_cert_file = pki.file("server.pem");
    config.receiver.tls_key_file = pki.file("server.key");
    let t = TestCollector::start_with(config.clone()).await;
    let trust = [("OTEL_EXPORTER_OTLP_CERTIFICATE", pki.file("ca.pem"))];
    let http = format!("https://localhost:{}", t.collector.http_addr.port());
    let grpc = format!("https://127.0.0.1:{}", t.grpc_addr().port());
    let over_http = python_send("http/protobuf", &http, "tls-http", &trust)
        .await
        .unwrap();
    let over_grpc = python_send("grpc", &grpc, "tls-grpc", &trust)
        .await
        .unwrap();
    // Plain HTTP to a TLS port gets no answer.
    let plain = format!("http://{}/v1/traces", t.collector.http_addr);
    let proto = [("content-type", "application/x-protobuf")];
    assert_eq!(support::try_post(&plain, &proto, Vec::new()).await, None);
    t.wait_for_count("SELECT count() FROM spans", 6).await;
    for trace in [&over_http, &over_grpc] {
        assert_eq!(
            models_of(&t, trace).await,
            ["", "gpt-4o-mini", "gpt-4o-mini"]
        );
    }
    t.shutdown().await;

    // Mutual TLS: only clients with a certificate signed by the client CA get in.
    config.receiver.tls_client_ca_file = pki.file("ca.pem");
    config.clickhouse.database = support::unique_database("mtls");
    let t = TestCollector::start_with(config).await;
    let http = format!("https://localhost:{}", t.collector.http_addr.port());
    let grpc = format!("https://127.0.0.1:{}", t.grpc_addr().port());
    let with_cert = [
        trust[0].clone(),
        (
            "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
            pki.file("client.pem"),
        ),
        ("OTEL_EXPORTER_OTLP_CLIENT_KEY", pki.file("client.key")),
    ];
    let over_http = python_send("http/protobuf", &http, "mtls-http", &with_cert)
        .await
        .unwrap();
    let over_grpc = python_send("grpc", &grpc, "mtls-grpc", &with_cert)
        .await
        .unwrap();
    assert!(
        !refused_without_client_certificate(&pki, t.collector.http_addr.port())
            .await
            .is_empty()
    );
    t.wait_for_count("SELECT count() FROM spans", 6).await;
    for trace in [&over_http, &over_grpc] {
        assert_eq!(models_of(&t, trace).await.len(), 3);
    }
    t.shutdown().await;
}

/// A TLS client that trusts the CA but has no certificate: the handshake must fail. Returns
/// the error it got.
async fn refused_without_client_certificate(pki: &Pki, port: u16) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let config = spanlens_collector::tls::client_config(&pki.file("ca.pem")).unwrap();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let result = async {
        let mut tls = connector.connect(name, tcp).await?;
        tls.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
            .await?;
        let mut reply = Vec::new();
        tls.read_to_end(&mut reply).await?;
        Ok::<_, std::io::Error>(reply)
    }
    .await;
    match result {
        Ok(reply) => panic!(
            "served without a client certificate: {}",
            String::from_utf8_lossy(&reply)
        ),
        Err(e) => e.to_string(),
    }
}

/// TLS terminator in front of `upstream` (host:port), with the test's server certificate.
async fn tls_proxy(pki: &Pki, upstream: String) -> u16 {
    let receiver = spanlens_collector::config::ReceiverConfig {
        tls_cert_file: pki.file("server.pem"),
        tls_key_file: pki.file("server.key"),
        ..Default::default()
    };
    let acceptor = spanlens_collector::tls::ServerTls::from_config(&receiver)
        .unwrap()
        .unwrap()
        .http;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, upstream) = (acceptor.clone(), upstream.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut plain = tokio::net::TcpStream::connect(upstream).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    port
}

#[tokio::test]
async fn clickhouse_over_https_is_verified_against_the_custom_ca() {
    let pki = Pki::generate("ch_tls_pki");
    let upstream = support::local::clickhouse_url()
        .trim_start_matches("http://")
        .to_string();
    let port = tls_proxy(&pki, upstream).await;
    let mut config = support::test_config("ch_tls");
    config.clickhouse.url = format!("https://localhost:{port}");

    // Without the CA the server's certificate is not trusted: the start fails and says why.
    let err = Collector::start(config.clone())
        .await
        .err()
        .expect("untrusted certificate");
    assert!(err.to_string().contains("certificate"), "{err}");

    config.clickhouse.tls_ca_file = pki.file("ca.pem");
    let t = TestCollector::start_with(config).await; // migrates over https
    let body = prost::Message::encode_to_vec(&support::otlp::agent_with_chat(1));
    let (status, _, _) = support::post(
        &t.http_url("/v1/traces"),
        &[("content-type", "application/x-protobuf")],
        body,
    )
    .await;
    assert_eq!(status, 200);
    support::assert_agent_with_chat(&t.spans(2).await, 1);
    t.shutdown().await;
}

#[test]
fn bad_tls_files_fail_the_start_naming_the_file() {
    let receiver = spanlens_collector::config::ReceiverConfig {
        tls_cert_file: "/nonexistent/server.pem".into(),
        tls_key_file: "/nonexistent/server.key".into(),
        ..Default::default()
    };
    let err = spanlens_collector::tls::ServerTls::from_config(&receiver)
        .err()
        .unwrap();
    assert!(
        err.to_string()
            .contains("receiver.tls_cert_file /nonexistent/server.pem"),
        "{err}"
    );
    let err = spanlens_collector::tls::client_config(Path::new("/etc/hostname").to_str().unwrap())
        .err()
        .unwrap();
    assert!(
        err.to_string()
            .contains("clickhouse.tls_ca_file /etc/hostname"),
        "{err}"
    );
}
