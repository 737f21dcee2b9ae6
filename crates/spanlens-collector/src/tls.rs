//! TLS (rustls, ring): the receivers' server side (certificate and key files, optional client
//! certificate verification) and the ClickHouse client's roots (the bundled Mozilla roots, or a
//! custom CA file). Files are read and checked at start, so a bad path or PEM fails the start
//! with the file's name instead of failing the first connection.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::config::ReceiverConfig;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {what} {path}: {reason}")]
    File {
        what: &'static str,
        path: String,
        reason: String,
    },
    #[error("invalid TLS setup: {0}")]
    Config(String),
}

fn certificates(what: &'static str, path: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bad = |reason: String| TlsError::File {
        what,
        path: path.to_string(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(e.to_string()))?;
    if certs.is_empty() {
        return Err(bad("no PEM certificate in it".into()));
    }
    Ok(certs)
}

fn roots(what: &'static str, path: &str) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in certificates(what, path)? {
        roots.add(cert).map_err(|e| TlsError::File {
            what,
            path: path.to_string(),
            reason: e.to_string(),
        })?;
    }
    Ok(roots)
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The receivers' TLS: None when `receiver.tls_cert_file` is empty (plain TCP).
#[derive(Clone)]
pub struct ServerTls {
    /// ALPN http/1.1, for OTLP/HTTP.
    pub http: TlsAcceptor,
    /// ALPN h2, for OTLP/gRPC (gRPC clients require it).
    pub grpc: TlsAcceptor,
}

impl ServerTls {
    pub fn from_config(config: &ReceiverConfig) -> Result<Option<ServerTls>, TlsError> {
        if config.tls_cert_file.is_empty() {
            return Ok(None);
        }
        let chain = certificates("receiver.tls_cert_file", &config.tls_cert_file)?;
        let key =
            PrivateKeyDer::from_pem_file(&config.tls_key_file).map_err(|e| TlsError::File {
                what: "receiver.tls_key_file",
                path: config.tls_key_file.clone(),
                reason: e.to_string(),
            })?;
        let builder = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?;
        let builder = if config.tls_client_ca_file.is_empty() {
            builder.with_no_client_auth()
        } else {
            let roots = roots("receiver.tls_client_ca_file", &config.tls_client_ca_file)?;
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                .build()
                .map_err(|e| TlsError::Config(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        };
        let server = builder
            .with_single_cert(chain, key)
            .map_err(|e| TlsError::Config(format!("certificate and key: {e}")))?;
        let with_alpn = |protocol: &[u8]| {
            let mut server = server.clone();
            server.alpn_protocols = vec![protocol.to_vec()];
            TlsAcceptor::from(Arc::new(server))
        };
        Ok(Some(ServerTls {
            http: with_alpn(b"http/1.1"),
            grpc: with_alpn(b"h2"),
        }))
    }
}

/// The ClickHouse client's TLS: trusts `ca_file` when set, else the bundled Mozilla roots.
pub fn client_config(ca_file: &str) -> Result<ClientConfig, TlsError> {
    let roots = if ca_file.is_empty() {
        RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        }
    } else {
        roots("clickhouse.tls_ca_file", ca_file)?
    };
    Ok(ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// How long a client may take to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections accepted on `listener` that completed their TLS handshake. Handshakes run
/// concurrently, so a slow client never holds up the others; failed ones are logged.
pub(crate) struct TlsIncoming {
    connections: mpsc::Receiver<(TlsConnection, SocketAddr)>,
    local_addr: SocketAddr,
}

impl TlsIncoming {
    pub fn new(listener: TcpListener, acceptor: TlsAcceptor) -> TlsIncoming {
        let local_addr = listener.local_addr().expect("bound socket has an address");
        let (tx, connections) = mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                // Ends (releasing the port) once the server dropped its side.
                let accepted = tokio::select! {
                    accepted = listener.accept() => accepted,
                    _ = tx.closed() => return,
                };
                let Ok((tcp, peer)) = accepted else {
                    continue;
                };
                let _ = tcp.set_nodelay(true);
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((TlsConnection(tls), peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        TlsIncoming {
            connections,
            local_addr,
        }
    }

    /// As a stream, for tonic.
    pub fn into_stream(self) -> impl futures::Stream<Item = Result<TlsConnection, std::io::Error>> {
        futures::stream::unfold(self.connections, |mut rx| async move {
            let (connection, _) = rx.recv().await?;
            Some((Ok(connection), rx))
        })
    }
}

impl axum::serve::Listener for TlsIncoming {
    type Io = TlsConnection;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (TlsConnection, SocketAddr) {
        match self.connections.recv().await {
            Some(accepted) => accepted,
            None => std::future::pending().await, // the accept task ended: no more connections
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local_addr)
    }
}

/// A server-side TLS connection (a local type, so tonic's `Connected` can be implemented).
pub(crate) struct TlsConnection(TlsStream<TcpStream>);

impl tonic::transport::server::Connected for TlsConnection {
    type ConnectInfo = ();
    fn connect_info(&self) -> Self::ConnectInfo {}
}

impl AsyncRead for TlsConnection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsConnection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }
}
