//! Collector lifecycle: validate config → migrate → bind listeners → run receivers, the content
//! join and the pipeline → graceful shutdown that drains every accepted span and log record
//! (held spans included) into ClickHouse.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::auth::ApiKeys;
use crate::config::{Config, ConfigError};
use crate::enrich::cost::{PriceError, PriceTable};
use crate::metrics::Metrics;
use crate::pipeline::content_join::{ContentJoin, JoinTask};
use crate::pipeline::langfuse_merge::{LangfuseMerge, MergeTask};
use crate::pipeline::{Pipeline, PipelineTasks};
use crate::receiver::inflight::InflightBudget;
use crate::receiver::{
    Ingest, langfuse_ingestion, langfuse_read, langfuse_read_v2, otlp_grpc, otlp_http, scores,
};
use crate::storage::clickhouse::ClickHouse;
use crate::storage::migrate::{MigrateError, migrate};
use crate::tls::{ServerTls, TlsError, TlsIncoming};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Migrate(#[from] MigrateError),
    #[error(transparent)]
    Prices(#[from] PriceError),
    #[error(transparent)]
    Spool(#[from] crate::pipeline::spool::SpoolError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("cannot listen on {addr} ({what}): {source}")]
    Bind {
        what: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A running collector. Listeners are bound before `start` returns, so port 0 works in tests.
pub struct Collector {
    pub http_addr: SocketAddr,
    pub grpc_addr: SocketAddr,
    pipeline: Pipeline,
    stop: watch::Sender<bool>,
    servers: Vec<JoinHandle<()>>,
    join: JoinTask,
    langfuse: MergeTask,
    tasks: PipelineTasks,
}

impl Collector {
    pub async fn start(config: Config) -> Result<Collector, StartError> {
        let prices = Arc::new(PriceTable::load(config.cost.price_file.as_deref())?);
        tracing::info!(bundled_prices_taken = %prices.bundled_taken, "price table loaded");
        let keys = Arc::new(ApiKeys::from_config(&config.auth, &config.default_project)?);
        if config.clickhouse.migrate_on_start {
            let report = migrate(&config.clickhouse).await?;
            tracing::info!(applied = ?report.applied, already = report.already_applied, "migrations");
        }
        let clickhouse = ClickHouse::new(&config.clickhouse)?;
        let tls = ServerTls::from_config(&config.receiver)?;
        let metrics = Arc::new(Metrics::default());
        let (pipeline, tasks) = Pipeline::start(&config.pipeline, clickhouse.clone(), metrics)?;
        let (join, join_task) = ContentJoin::start(&config.pipeline, pipeline.clone())?;
        let (langfuse, langfuse_task) =
            LangfuseMerge::start(&config, pipeline.clone(), prices.clone())?;
        let ingest = Ingest {
            pipeline: pipeline.clone(),
            clickhouse,
            keys,
            prices,
            join,
            langfuse,
            responses: Default::default(),
        };

        let bind = |what, addr| async move {
            TcpListener::bind(addr)
                .await
                .map_err(|source| StartError::Bind { what, addr, source })
        };
        let http_listener = bind("OTLP/HTTP", config.receiver.http_listen).await?;
        let grpc_listener = bind("OTLP/gRPC", config.receiver.grpc_listen).await?;
        let http_addr = http_listener
            .local_addr()
            .expect("bound socket has an address");
        let grpc_addr = grpc_listener
            .local_addr()
            .expect("bound socket has an address");

        let (stop, stopped) = watch::channel(false);
        let wait_stop = |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };

        let inflight = InflightBudget::new(config.receiver.max_inflight_bytes);
        let http_app = otlp_http::router(
            ingest.clone(),
            config.receiver.max_body_bytes,
            inflight.clone(),
        )
        .merge(scores::router(ingest.clone()))
        .merge(langfuse_read::router(ingest.clone()))
        .merge(langfuse_read_v2::router(ingest.clone()))
        .merge(langfuse_ingestion::router(
            ingest.clone(),
            config.receiver.max_body_bytes,
            inflight.clone(),
        ));
        let http = tokio::spawn(serve_http(
            http_listener,
            http_app,
            tls.as_ref().map(|t| t.http.clone()),
            wait_stop(stopped.clone()),
        ));
        let grpc_router = tonic::transport::Server::builder()
            .concurrency_limit_per_connection(32)
            // The in-flight budget (shared with HTTP) bounds the memory of all requests.
            .layer(otlp_grpc::InflightLayer {
                budget: inflight,
                max_body_bytes: config.receiver.max_body_bytes,
            })
            .add_service(otlp_grpc::trace_service(
                ingest.clone(),
                config.receiver.max_body_bytes,
            ))
            .add_service(otlp_grpc::logs_service(
                ingest.clone(),
                config.receiver.max_body_bytes,
            ))
            .add_service(otlp_grpc::metrics_service(
                ingest,
                config.receiver.max_body_bytes,
            ));
        let grpc = tokio::spawn(async move {
            let stop = wait_stop(stopped);
            let served = match tls {
                Some(tls) => {
                    let incoming = TlsIncoming::new(grpc_listener, tls.grpc).into_stream();
                    grpc_router
                        .serve_with_incoming_shutdown(incoming, stop)
                        .await
                }
                None => {
                    let incoming = tcp_incoming(grpc_listener);
                    grpc_router
                        .serve_with_incoming_shutdown(incoming, stop)
                        .await
                }
            };
            if let Err(e) = served {
                tracing::error!(error = %e, "OTLP/gRPC server failed");
            }
        });

        Ok(Collector {
            http_addr,
            grpc_addr,
            pipeline,
            stop,
            servers: vec![http, grpc],
            join: join_task,
            langfuse: langfuse_task,
            tasks,
        })
    }

    /// Stops accepting, lets in-flight requests finish, releases the spans the content join
    /// holds, then writes everything queued.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for server in self.servers {
            let _ = server.await;
        }
        self.join.shutdown().await; // queues every held span, then drops its pipeline handle
        self.langfuse.shutdown().await; // writes every held Langfuse observation and trace
        drop(self.pipeline); // the last sender: lets the batcher flush and finish
        self.tasks.shutdown().await;
    }
}

/// Serves OTLP/HTTP on `listener`, over TLS when an acceptor is given, until `stop`.
async fn serve_http(
    listener: TcpListener,
    app: axum::Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
    stop: impl Future<Output = ()> + Send + 'static,
) {
    let served = match tls {
        Some(tls) => {
            let incoming = TlsIncoming::new(listener, tls);
            axum::serve(incoming, app)
                .with_graceful_shutdown(stop)
                .await
        }
        None => {
            axum::serve(listener, app)
                .with_graceful_shutdown(stop)
                .await
        }
    };
    if let Err(e) = served {
        tracing::error!(error = %e, "OTLP/HTTP server failed");
    }
}

fn tcp_incoming(
    listener: TcpListener,
) -> impl futures::Stream<Item = Result<tokio::net::TcpStream, std::io::Error>> {
    futures::stream::unfold(listener, |listener| async move {
        let accepted = listener.accept().await.map(|(stream, _)| {
            let _ = stream.set_nodelay(true);
            stream
        });
        Some((accepted, listener))
    })
}
