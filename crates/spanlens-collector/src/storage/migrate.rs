//! Versioned schema migrations from `schemas/*.sql`, applied idempotently and recorded in
//! `schema_migrations`. The SQL files are compiled into the binary, so the collector and its
//! schema ship as one artifact. `tests/schema_rows.rs` checks that every file is listed here.

use clickhouse::Client;

use crate::config::ClickHouseConfig;
use crate::storage::clickhouse::server_client;

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
];

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("migration {name} failed: {source}")]
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
    #[error("cannot reach ClickHouse to migrate: {0}")]
    Client(#[from] clickhouse::error::Error),
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

/// Creates the database if needed, applies pending migrations in version order, then sets the
/// spans, logs and metrics TTL from `retention_days` (0 removes it).
pub async fn migrate(config: &ClickHouseConfig) -> Result<MigrateReport, MigrateError> {
    let db = &config.database;
    server_client(config)
        .query(&format!("CREATE DATABASE IF NOT EXISTS {db}"))
        .execute()
        .await?;
    let client = server_client(config).with_database(db);
    client
        .query(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version UInt32, name String, \
             checksum String, applied_at DateTime64(3) DEFAULT now64(3)) \
             ENGINE = MergeTree ORDER BY version",
        )
        .execute()
        .await?;
    let applied: Vec<(u32, String)> = client
        .query("SELECT version, checksum FROM schema_migrations ORDER BY version")
        .fetch_all()
        .await?;

    let mut report = MigrateReport::default();
    for m in MIGRATIONS {
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
        for statement in statements(m.sql) {
            run(&client, m.name, &statement).await?;
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

    // Retention: the same TTL on the span, log and metric tables (keyed by their time column).
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
            .bind(table)
            .fetch_one()
            .await?;
        if config.retention_days > 0 || has_ttl > 0 {
            run(&client, "retention TTL", &ttl).await?;
        }
    }
    Ok(report)
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

/// Splits a migration file into statements: `;` at the end of a line ends one; `--` comment
/// lines are dropped. (Migrations keep `;` out of string literals.)
fn statements(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in sql.lines() {
        if line.trim_start().starts_with("--") {
            continue;
        }
        let trimmed = line.trim_end();
        if let Some(body) = trimmed.strip_suffix(';') {
            cur.push_str(body);
            if !cur.trim().is_empty() {
                out.push(cur.trim().to_string());
            }
            cur.clear();
        } else {
            cur.push_str(line);
            cur.push('\n');
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
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
    fn splits_statements_and_drops_comments() {
        let s = statements("-- c\nCREATE TABLE a (x String);\n\nCREATE VIEW b AS\nSELECT 1;\n");
        assert_eq!(
            s,
            vec![
                "CREATE TABLE a (x String)".to_string(),
                "CREATE VIEW b AS\nSELECT 1".to_string()
            ]
        );
    }

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
