//! TLS for `https://` endpoints (feature `tls`): one rustls setup — the Mozilla roots
//! (webpki-roots) plus an optional extra CA — for the OTLP/HTTP exporter and the scores client
//! (hyper-rustls), and the same roots for OTLP/gRPC (tonic's rustls).

use hyper_util::client::legacy::connect::HttpConnector;

use crate::setup::Error;

/// The connector of every HTTP client the SDK runs: `http://` and, with the `tls` feature,
/// `https://`.
#[cfg(feature = "tls")]
pub(crate) type Connector = hyper_rustls::HttpsConnector<HttpConnector>;
/// The connector of every HTTP client the SDK runs (`http://` only: the `tls` feature is off).
#[cfg(not(feature = "tls"))]
pub(crate) type Connector = HttpConnector;

/// The parsed extra CA certificates (PEM, one or more).
#[derive(Debug, Clone, Default)]
pub(crate) struct ExtraCa {
    #[cfg(feature = "tls")]
    certs: Vec<rustls::pki_types::CertificateDer<'static>>,
    pem: Option<Vec<u8>>,
}

impl ExtraCa {
    /// Parses `pem` (one or more `CERTIFICATE` blocks); `what` names its source in errors.
    pub(crate) fn from_pem(pem: Vec<u8>, what: &str) -> Result<ExtraCa, Error> {
        #[cfg(feature = "tls")]
        {
            use rustls::pki_types::CertificateDer;
            use rustls::pki_types::pem::PemObject as _;
            let certs = CertificateDer::pem_slice_iter(&pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| Error::Config(format!("CA certificate {what}: {e}")))?;
            if certs.is_empty() {
                return Err(Error::Config(format!(
                    "CA certificate {what}: no PEM CERTIFICATE block"
                )));
            }
            Ok(ExtraCa {
                certs,
                pem: Some(pem),
            })
        }
        #[cfg(not(feature = "tls"))]
        {
            let _ = what;
            Ok(ExtraCa { pem: Some(pem) })
        }
    }

    fn is_set(&self) -> bool {
        self.pem.is_some()
    }
}

/// Fails with a clear message for an `https://` URL when TLS is compiled out.
pub(crate) fn check_url(url: &str, ca: &ExtraCa) -> Result<(), Error> {
    let https = url
        .trim_start()
        .to_ascii_lowercase()
        .starts_with("https://");
    if cfg!(feature = "tls") {
        return Ok(());
    }
    if https {
        return Err(Error::Config(format!(
            "{url} needs TLS: enable the spanlens feature `tls` (on by default)"
        )));
    }
    if ca.is_set() {
        return Err(Error::Config(
            "a CA certificate is set but the spanlens feature `tls` is off".into(),
        ));
    }
    Ok(())
}

/// The HTTP(S) connector for the exporter and the scores client.
pub(crate) fn connector(ca: &ExtraCa) -> Result<Connector, Error> {
    #[cfg(feature = "tls")]
    {
        let mut roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        for cert in &ca.certs {
            roots
                .add(cert.clone())
                .map_err(|e| Error::Config(format!("CA certificate: {e}")))?;
        }
        let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(format!("TLS setup: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        Ok(hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(config)
            .https_or_http()
            .enable_http1()
            .build())
    }
    #[cfg(not(feature = "tls"))]
    {
        let _ = ca;
        Ok(HttpConnector::new())
    }
}

/// tonic's TLS settings for an `https://` gRPC endpoint: the Mozilla roots plus the extra CA.
#[cfg(feature = "tls")]
pub(crate) fn grpc_config(
    ca: &ExtraCa,
) -> opentelemetry_otlp::tonic_types::transport::ClientTlsConfig {
    use opentelemetry_otlp::tonic_types::transport::{Certificate, ClientTlsConfig};
    let config = ClientTlsConfig::new().with_webpki_roots();
    match &ca.pem {
        Some(pem) => config.ca_certificate(Certificate::from_pem(pem)),
        None => config,
    }
}
