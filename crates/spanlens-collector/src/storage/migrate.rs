//! Versioned schema migrations from `schemas/*.sql`, applied idempotently and recorded in
//! `schema_migrations`. The SQL files are compiled into the binary, so the collector and its
//! schema ship as one artifact. `tests/schema_rows.rs` checks that every file is listed here.

use std::time::{Duration, Instant};

use clickhouse::Client;

use crate::config::{ClickHouseConfig, Topology};
use crate::storage::clickhouse::{StorageError, error_chain, server_client};
use crate::storage::topology::{RenderError, Renderer};

pub struct Migration {
    pub version: u32,
    pub name: &'static str,
    pub sql: &'static str,
}

macro_rules! migration {
    ($version:expr, $file:literal) => {
        Migration {
            version: $version,
            name: $file,
            sql: include_str!(concat!("../../../../schemas/", $file)),
        }
    };
}

pub const MIGRATIONS: &[Migration] = &[
    migration!(1, "0001_spans.sql"),
    migration!(2, "0002_scores.sql"),
    migration!(3, "0003_otel_traces.sql"),
    migration!(4, "0004_rollup_1m.sql"),
    migration!(5, "0005_rollup_1h.sql"),
    migration!(6, "0006_usage_1h.sql"),
    migration!(7, "0007_llm_calls.sql"),
    migration!(10, "0010_logs.sql"),
    migration!(20, "0020_metrics.sql"),
    migration!(21, "0021_spans_cache_creation.sql"),
    migration!(22, "0022_spans_preview_without_blobs.sql"),
    migration!(40, "0040_rollups_cache_creation.sql"),
    migration!(41, "0041_spans_compact_insert_parts.sql"),
];

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("migration {name} failed: {}", error_chain(source))]
    Statement {
        name: String,
        source: clickhouse::error::Error,
    },
    #[error(
        "migration {name} was already applied with different content (checksum {applied} != {current}); add a new migration instead of editing an applied one"
    )]
    Edited {
        name: String,
        applied: String,
        current: String,
    },
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error(
        "database {database} was migrated for the {found} topology, but clickhouse.topology is {configured}; a database keeps its topology (migrate into a new database to change it)"
    )]
    TopologyMismatch {
        database: String,
        found: String,
        configured: String,
    },
    #[error(
        "another migrate holds the lock ({holder}) and did not finish within clickhouse.migrate_lock_wait_s; if none is running (a migrate was killed), remove the lock: {release}"
    )]
    Locked { holder: String, release: String },
    #[error(
        "the schema is not ready after {waited_s} s: {missing} not applied yet (is the migrate job running? `spanlens-collector migrate` applies them)"
    )]
    NotReady { waited_s: u64, missing: String },
    #[error("cannot take the migration lock: {0}")]
    Lock(StorageError),
    #[error("cannot reach ClickHouse to migrate: {}", error_chain(.0))]
    Client(#[from] clickhouse::error::Error),
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
}

/// What `migrate` did.
#[derive(Debug, Default)]
pub struct MigrateReport {
    pub applied: Vec<&'static str>,
    pub already_applied: usize,
}

/// Tables `clickhouse.retention_days` applies to, with the time column their TTL is keyed on.
const RETENTION_TABLES: [(&str, &str); 7] = [
    ("spans", "start_time"),
    ("logs", "timestamp"),
    ("otel_metrics_gauge", "TimeUnix"),
    ("otel_metrics_sum", "TimeUnix"),
    ("otel_metrics_histogram", "TimeUnix"),
    ("otel_metrics_exponential_histogram", "TimeUnix"),
    ("otel_metrics_summary", "TimeUnix"),
];
/// The migration lock: a table that exists while a migrate runs (see `MigrationLock`).
const LOCK_TABLE: &str = "schema_migrations_lock";
/// ClickHouse's TABLE_ALREADY_EXISTS: someone else created the lock table first.
const TABLE_ALREADY_EXISTS: u32 = 57;

/// A migration and its statements rendered for the configured topology.
pub type RenderedMigration = (&'static Migration, Vec<String>);

/// Every migration rendered for the configured topology, in version order, plus the renderer
/// that knows the objects they create. Pure: nothing is sent to ClickHouse.
pub fn render_migrations(
    config: &ClickHouseConfig,
) -> Result<(Vec<RenderedMigration>, Renderer), RenderError> {
    let mut renderer = Renderer::new(config);
    let mut rendered = Vec::new();
    for m in MIGRATIONS {
        rendered.push((m, renderer.render_file(m.name, m.sql)?));
    }
    Ok((rendered, renderer))
}

/// The bookkeeping statements `migrate` runs before any migration: the database and the
/// `schema_migrations` table. In a cluster, `schema_migrations` is one replicated table shared
/// by every host of every shard (Keeper path without `{shard}`), so every migrator sees what
/// any other applied; its comment records the topology the database was migrated for.
pub fn bookkeeping_statements(config: &ClickHouseConfig) -> Vec<String> {
    let db = &config.database;
    let columns =
        "(version UInt32, name String, checksum String, applied_at DateTime64(3) DEFAULT now64(3))";
    match config.topology {
        Topology::Single => vec![
            format!("CREATE DATABASE IF NOT EXISTS {db}"),
            format!(
                "CREATE TABLE IF NOT EXISTS schema_migrations {columns} ENGINE = MergeTree ORDER BY version"
            ),
        ],
        topology => {
            let on_cluster = format!("ON CLUSTER '{}'", config.cluster);
            vec![
                format!("CREATE DATABASE IF NOT EXISTS {db} {on_cluster}"),
                format!(
                    "CREATE TABLE IF NOT EXISTS {db}.schema_migrations {on_cluster} {columns} \
                     ENGINE = ReplicatedMergeTree('/clickhouse/tables/spanlens_shared/{{database}}/{{table}}', '{{shard}}-{{replica}}') \
                     ORDER BY version COMMENT '{}'",
                    topology_comment(topology)
                ),
            ]
        }
    }
}

fn topology_comment(topology: Topology) -> String {
    match topology {
        Topology::Single => String::new(),
        cluster => format!("spanlens topology: {cluster}"),
    }
}

/// Creates the database if needed, applies pending migrations in version order (rendered for
/// the topology, one migrator at a time), then sets the spans, logs and metrics TTL from
/// `retention_days` (0 removes it).
pub async fn migrate(config: &ClickHouseConfig) -> Result<MigrateReport, MigrateError> {
    let (rendered, renderer) = render_migrations(config)?;
    let server = ddl_client(config)?;
    check_topology(&server, config).await?;
    let [create_database, create_table] = <[String; 2]>::try_from(bookkeeping_statements(config))
        .expect("two bookkeeping statements");
    server.query(&create_database).execute().await?;
    let client = server.with_database(&config.database);
    client.query(&create_table).execute().await?;

    let lock = MigrationLock::acquire(&client, config).await?;
    let result = apply(&client, config, &rendered, &renderer).await;
    let released = lock.release(&client).await;
    let report = result?;
    released?;
    Ok(report)
}

async fn apply(
    client: &Client,
    config: &ClickHouseConfig,
    rendered: &[RenderedMigration],
    renderer: &Renderer,
) -> Result<MigrateReport, MigrateError> {
    let applied = applied_migrations(client, config.topology).await?;
    let mut report = MigrateReport::default();
    for (m, statements) in rendered {
        let checksum = checksum(m.sql);
        if let Some((_, old)) = applied.iter().find(|(v, _)| *v == m.version) {
            if *old != checksum {
                return Err(MigrateError::Edited {
                    name: m.name.into(),
                    applied: old.clone(),
                    current: checksum,
                });
            }
            report.already_applied += 1;
            continue;
        }
        for statement in statements {
            run(client, m.name, statement).await?;
        }
        client
            .query("INSERT INTO schema_migrations (version, name, checksum) VALUES (?, ?, ?)")
            .bind(m.version)
            .bind(m.name)
            .bind(&checksum)
            .execute()
            .await?;
        report.applied.push(m.name);
    }
    apply_retention(client, config, renderer).await?;
    Ok(report)
}

/// Retention: the same TTL on the span, log and metric tables (keyed by their time column), on the
/// tables that hold the rows (`_local` when sharded).
async fn apply_retention(
    client: &Client,
    config: &ClickHouseConfig,
    renderer: &Renderer,
) -> Result<(), MigrateError> {
    for (table, time_column) in RETENTION_TABLES {
        let ttl = match config.retention_days {
            0 => format!("ALTER TABLE {table} REMOVE TTL"),
            days => format!(
                "ALTER TABLE {table} MODIFY TTL toDateTime({time_column}) + INTERVAL {days} DAY \
                 SETTINGS materialize_ttl_after_modify = 0"
            ),
        };
        let has_ttl: u64 = client
            .query("SELECT count() FROM system.tables WHERE database = currentDatabase() AND name = ? AND create_table_query LIKE '% TTL %'")
            .bind(renderer.local_name(table))
            .fetch_one()
            .await?;
        if config.retention_days > 0 || has_ttl > 0 {
            for statement in renderer.render_alter("retention TTL", &ttl)? {
                run(client, "retention TTL", &statement).await?;
            }
        }
    }
    Ok(())
}

/// The versions and checksums recorded in `schema_migrations` (in a cluster, after this replica
/// caught up with the others).
async fn applied_migrations(
    client: &Client,
    topology: Topology,
) -> Result<Vec<(u32, String)>, clickhouse::error::Error> {
    if topology != Topology::Single {
        client
            .query("SYSTEM SYNC REPLICA schema_migrations")
            .execute()
            .await?;
    }
    client
        .query("SELECT version, checksum FROM schema_migrations ORDER BY version")
        .fetch_all()
        .await
}

/// A database keeps the topology it was first migrated for (recorded as the comment of
/// `schema_migrations`; none for `single`). Checked before any DDL runs.
async fn check_topology(server: &Client, config: &ClickHouseConfig) -> Result<(), MigrateError> {
    let comment: Option<String> = server
        .query(
            "SELECT comment FROM system.tables WHERE database = ? AND name = 'schema_migrations'",
        )
        .bind(&config.database)
        .fetch_optional()
        .await?;
    let configured = topology_comment(config.topology);
    let Some(comment) = comment.filter(|c| *c != configured) else {
        return Ok(());
    };
    let name = |c: &str| match c.strip_prefix("spanlens topology: ") {
        Some(t) => t.to_string(),
        None if c.is_empty() => "single".to_string(),
        None => format!("unknown ({c})"),
    };
    Err(MigrateError::TopologyMismatch {
        database: config.database.clone(),
        found: name(&comment),
        configured: name(&configured),
    })
}

/// One migrator at a time, on one server or a whole cluster, with nothing beyond what every
/// ClickHouse has: the lock is a table that exists while a migrate runs. Creating it (without
/// IF NOT EXISTS) is atomic on a server, and ON CLUSTER DDL goes through the cluster's one
/// ordered DDL queue in Keeper, so when two migrators race every host executes the same
/// CREATE first and the second fails with TABLE_ALREADY_EXISTS everywhere. The loser waits
/// and retries; the winner drops the table when done (also on failure). A migrate killed
/// mid-way leaves the table behind: the next one waits `migrate_lock_wait_s`, then fails
/// naming the holder and the DROP that releases it — never breaking a lock on a guess.
struct MigrationLock {
    release: String,
}

impl MigrationLock {
    async fn acquire(
        client: &Client,
        config: &ClickHouseConfig,
    ) -> Result<MigrationLock, MigrateError> {
        let on_cluster = match config.topology {
            Topology::Single => String::new(),
            _ => format!(" ON CLUSTER '{}'", config.cluster),
        };
        let table = format!("{}.{LOCK_TABLE}", config.database);
        let holder = format!(
            "{} pid {} since {}",
            std::env::var("HOSTNAME").unwrap_or_else(|_| "unknown host".into()),
            std::process::id(),
            humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        )
        .replace(['\'', '\\'], "");
        let create = format!(
            "CREATE TABLE {table}{on_cluster} (holder String) ENGINE = MergeTree ORDER BY tuple() COMMENT '{holder}'"
        );
        let lock = MigrationLock {
            release: format!("DROP TABLE IF EXISTS {table}{on_cluster} SYNC"),
        };
        let deadline = Instant::now() + Duration::from_secs(config.migrate_lock_wait_s);
        loop {
            let err = match client.query(&create).execute().await {
                Ok(()) => return Ok(lock),
                Err(e) => StorageError::from_client(e),
            };
            if !matches!(
                err,
                StorageError::Server {
                    code: TABLE_ALREADY_EXISTS,
                    ..
                }
            ) {
                return Err(MigrateError::Lock(err));
            }
            let holder: String = client
                .query("SELECT comment FROM system.tables WHERE database = currentDatabase() AND name = ?")
                .bind(LOCK_TABLE)
                .fetch_optional()
                .await?
                .unwrap_or_default();
            if Instant::now() >= deadline {
                return Err(MigrateError::Locked {
                    holder,
                    release: lock.release,
                });
            }
            tracing::info!(%holder, "waiting for another migrate to finish");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    async fn release(self, client: &Client) -> Result<(), MigrateError> {
        run(client, "migration lock release", &self.release).await
    }
}

/// Waits until every migration this binary carries is applied (by the migrate job or another
/// collector), without migrating: what a collector runs before starting when
/// `migrate_on_start` is off, so it neither races the migrator nor writes to missing tables.
pub async fn wait_for_schema(
    config: &ClickHouseConfig,
    timeout: Duration,
) -> Result<(), MigrateError> {
    let client = server_client(config)?.with_database(&config.database);
    let start = Instant::now();
    loop {
        // Until the migrator created them, the database or the table may not exist: that is
        // "not ready yet", as is a partial list.
        let applied = client
            .query("SELECT version, checksum FROM schema_migrations ORDER BY version")
            .fetch_all::<(u32, String)>()
            .await
            .unwrap_or_default();
        let mut missing = Vec::new();
        for m in MIGRATIONS {
            let current = checksum(m.sql);
            match applied.iter().find(|(v, _)| *v == m.version) {
                Some((_, old)) if *old != current => {
                    return Err(MigrateError::Edited {
                        name: m.name.into(),
                        applied: old.clone(),
                        current,
                    });
                }
                Some(_) => {}
                None => missing.push(m.name),
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        if start.elapsed() >= timeout {
            return Err(MigrateError::NotReady {
                waited_s: start.elapsed().as_secs(),
                missing: missing.join(", "),
            });
        }
        tracing::info!(missing = %missing.join(", "), "waiting for the schema");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// A client for DDL: in a cluster, ON CLUSTER statements wait up to `ddl_timeout_s` for every
/// host and fail if any host failed. The reply of an ON CLUSTER statement streams one row per
/// host, so the server must hold it until the end (`wait_end_of_query`): otherwise a host's
/// failure arrives after a 200 status, inside the body.
fn ddl_client(config: &ClickHouseConfig) -> Result<Client, crate::tls::TlsError> {
    let client = server_client(config)?;
    Ok(match config.topology {
        Topology::Single => client,
        _ => client
            .with_setting(
                "distributed_ddl_task_timeout",
                config.ddl_timeout_s.to_string(),
            )
            .with_setting("distributed_ddl_output_mode", "throw")
            .with_setting("wait_end_of_query", "1"),
    })
}

async fn run(client: &Client, name: &str, sql: &str) -> Result<(), MigrateError> {
    client
        .query(sql)
        .execute()
        .await
        .map_err(|source| MigrateError::Statement {
            name: name.into(),
            source,
        })
}

/// FNV-1a 64: stable across Rust versions (unlike `DefaultHasher`), enough to detect edits.
fn checksum(sql: &str) -> String {
    let hash = sql.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    });
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_schema_file_is_a_listed_migration() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../schemas");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        files.sort();
        let listed: Vec<String> = MIGRATIONS.iter().map(|m| m.name.to_string()).collect();
        assert_eq!(files, listed);
        assert!(MIGRATIONS.windows(2).all(|w| w[0].version < w[1].version));
    }
}
