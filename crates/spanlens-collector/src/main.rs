//! `spanlens-collector` command line: `run` (default) and `migrate`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use spanlens_collector::collector::Collector;
use spanlens_collector::config::ClickHouseConfig;
use spanlens_collector::config::Config;
use spanlens_collector::storage::migrate::{
    MIGRATIONS, bookkeeping_statements, migrate, render_migrations, wait_for_schema,
};

/// jemalloc: a request allocates and frees thousands of small strings; against glibc malloc it
/// cut the collector's CPU per span by ~15 % in the collector-only bench at the same peak RSS
/// (mimalloc cut as much but doubled RSS under overload).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser)]
#[command(version, about = "Spanlens: OTLP in, typed LLM rows in ClickHouse out")]
struct Cli {
    /// TOML configuration file.
    #[arg(long, short, env = "SPANLENS_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Override any config field: --set clickhouse.url=http://ch:8123 (repeatable).
    #[arg(long = "set", value_name = "SECTION.FIELD=VALUE", global = true)]
    overrides: Vec<String>,
    /// Shorthand for --set clickhouse.url=URL.
    #[arg(long, global = true)]
    clickhouse_url: Option<String>,
    /// Shorthand for --set clickhouse.database=NAME.
    #[arg(long, global = true)]
    database: Option<String>,
    /// Shorthand for --set receiver.grpc_listen=ADDR.
    #[arg(long, global = true)]
    grpc_listen: Option<String>,
    /// Shorthand for --set receiver.http_listen=ADDR.
    #[arg(long, global = true)]
    http_listen: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Apply migrations, then receive OTLP until SIGINT/SIGTERM (the default).
    Run,
    /// Apply pending schema migrations (rendered for clickhouse.topology) and exit.
    Migrate {
        /// Print the DDL for the configured topology, cluster and database instead of running
        /// it (no ClickHouse needed).
        #[arg(long, conflicts_with = "wait")]
        print: bool,
        /// Do not migrate: wait until every migration is applied (by the migrate job), exit 0;
        /// exit 1 after --timeout. A collector runs this before starting when
        /// clickhouse.migrate_on_start is off.
        #[arg(long)]
        wait: bool,
        /// Seconds --wait waits.
        #[arg(long, default_value_t = 600, requires = "wait")]
        timeout: u64,
    },
    /// Print the effective configuration as TOML and exit.
    PrintConfig,
    /// Print the SHA-256 of an API key, for `auth.keys[].key_sha256` in the config file.
    HashKey { key: String },
}

impl Cli {
    fn config(&self) -> anyhow::Result<Config> {
        let mut overrides = self.overrides.clone();
        let shorthands = [
            ("clickhouse.url", &self.clickhouse_url),
            ("clickhouse.database", &self.database),
            ("receiver.grpc_listen", &self.grpc_listen),
            ("receiver.http_listen", &self.http_listen),
        ];
        for (key, value) in shorthands {
            if let Some(v) = value {
                overrides.push(format!("{key}={v}"));
            }
        }
        Ok(Config::load(
            self.config.as_deref(),
            std::env::vars(),
            &overrides,
        )?)
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Logs go to stderr; stdout carries the one ready line (scripts and tests read it).
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SPANLENS_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .init();
    let cli = Cli::parse();
    if let Some(Command::HashKey { key }) = &cli.command {
        println!("{}", spanlens_collector::auth::hash_key(key));
        return Ok(());
    }
    let config = cli.config()?;
    match cli.command.unwrap_or(Command::Run) {
        Command::HashKey { .. } => unreachable!("handled above"),
        Command::PrintConfig => print!("{}", toml::to_string(&config)?),
        Command::Migrate { print: true, .. } => print_migrations(&config.clickhouse)?,
        Command::Migrate {
            wait: true,
            timeout,
            ..
        } => {
            wait_for_schema(&config.clickhouse, Duration::from_secs(timeout))
                .await
                .context("migrate --wait")?;
            println!("schema ready: {} migrations applied", MIGRATIONS.len());
        }
        Command::Migrate { .. } => {
            let report = migrate(&config.clickhouse).await.context("migrate")?;
            println!(
                "migrations: {} applied ({}), {} already applied",
                report.applied.len(),
                report.applied.join(", "),
                report.already_applied
            );
        }
        Command::Run => run(config).await?,
    }
    Ok(())
}

/// `migrate --print`: the DDL `migrate` runs for this topology, one statement per `;` line.
fn print_migrations(config: &ClickHouseConfig) -> anyhow::Result<()> {
    let (rendered, _) = render_migrations(config)?;
    println!(
        "-- spanlens-collector migrate --print: topology {}, cluster '{}', database {}\n",
        config.topology, config.cluster, config.database
    );
    println!("-- bookkeeping");
    for statement in bookkeeping_statements(config) {
        println!("{statement};\n");
    }
    for (migration, statements) in rendered {
        println!("-- {}", migration.name);
        for statement in statements {
            println!("{statement};\n");
        }
    }
    Ok(())
}

async fn run(config: Config) -> anyhow::Result<()> {
    let clickhouse_url = config.clickhouse.url.clone();
    let database = config.clickhouse.database.clone();
    let collector = Collector::start(config)
        .await
        .context("starting the collector")?;
    println!(
        "spanlens-collector ready: OTLP gRPC {} | OTLP HTTP http://{} (/v1/traces, /healthz, /readyz) | ClickHouse {} database {}",
        collector.grpc_addr, collector.http_addr, clickhouse_url, database
    );
    shutdown_signal().await;
    tracing::info!("shutting down: draining queued spans into ClickHouse");
    collector.shutdown().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("install SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
