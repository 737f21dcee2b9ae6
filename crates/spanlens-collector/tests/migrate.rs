//! `migrate` against the live ClickHouse: one migrator at a time (the lock), a held lock is
//! waited for and then named, `migrate --wait` waits for the schema without migrating, and a
//! database keeps its topology. (The cluster renderings are checked by tests/deploy: parsed by
//! the ClickHouse engine and compared with golden files.)

mod support;

use std::time::Duration;

use spanlens_collector::config::{ClickHouseConfig, Topology};
use spanlens_collector::storage::clickhouse::server_client;
use spanlens_collector::storage::migrate::{MIGRATIONS, MigrateError, migrate, wait_for_schema};

fn config(prefix: &str) -> ClickHouseConfig {
    ClickHouseConfig {
        url: support::local::clickhouse_url(),
        database: support::unique_database(prefix),
        ..ClickHouseConfig::default()
    }
}

async fn drop_database(config: &ClickHouseConfig) {
    server_client(config)
        .unwrap()
        .query(&format!("DROP DATABASE IF EXISTS {}", config.database))
        .execute()
        .await
        .unwrap();
}

#[tokio::test]
async fn two_migrators_at_once_apply_each_migration_once() {
    let config = config("mig_race");
    let (a, b) = tokio::join!(migrate(&config), migrate(&config));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(
        a.applied.len() + b.applied.len(),
        MIGRATIONS.len(),
        "{a:?} {b:?}"
    );
    assert_eq!(a.already_applied + b.already_applied, MIGRATIONS.len());
    let ch = server_client(&config)
        .unwrap()
        .with_database(&config.database);
    let (rows, versions): (u64, u64) = ch
        .query("SELECT count(), uniqExact(version) FROM schema_migrations")
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(
        (rows, versions),
        (MIGRATIONS.len() as u64, MIGRATIONS.len() as u64)
    );
    let locks: u64 = ch
        .query("SELECT count() FROM system.tables WHERE database = currentDatabase() AND name = 'schema_migrations_lock'")
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(locks, 0, "the lock is released");
    drop_database(&config).await;
}

#[tokio::test]
async fn a_held_lock_is_waited_for_then_named() {
    let mut config = config("mig_lock");
    config.migrate_lock_wait_s = 1;
    let server = server_client(&config).unwrap();
    server
        .query(&format!("CREATE DATABASE {}", config.database))
        .execute()
        .await
        .unwrap();
    server
        .query(&format!(
            "CREATE TABLE {}.schema_migrations_lock (holder String) ENGINE = MergeTree ORDER BY tuple() COMMENT 'host-a pid 7'",
            config.database
        ))
        .execute()
        .await
        .unwrap();
    let err = migrate(&config).await.unwrap_err();
    assert!(matches!(err, MigrateError::Locked { .. }), "{err}");
    let message = err.to_string();
    assert!(message.contains("host-a pid 7"), "{message}");
    assert!(
        message.contains(&format!(
            "DROP TABLE IF EXISTS {}.schema_migrations_lock SYNC",
            config.database
        )),
        "{message}"
    );

    // Released (as the message says), the next migrate proceeds.
    server
        .query(&format!(
            "DROP TABLE {}.schema_migrations_lock SYNC",
            config.database
        ))
        .execute()
        .await
        .unwrap();
    let report = migrate(&config).await.unwrap();
    assert_eq!(report.applied.len(), MIGRATIONS.len());
    drop_database(&config).await;
}

#[tokio::test]
async fn wait_for_schema_waits_for_the_migrator() {
    let config = config("mig_wait");
    // It does not return before the schema exists: a bounded wait ends NotReady, naming what
    // is missing.
    let err = wait_for_schema(&config, Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(matches!(err, MigrateError::NotReady { .. }), "{err}");
    assert!(err.to_string().contains("0001_spans.sql"), "{err}");

    // And it returns once the migrator is done.
    let waiter = tokio::spawn({
        let config = config.clone();
        async move { wait_for_schema(&config, Duration::from_secs(60)).await }
    });
    migrate(&config).await.unwrap();
    tokio::time::timeout(Duration::from_secs(30), waiter)
        .await
        .expect("wait_for_schema returns once migrated")
        .unwrap()
        .unwrap();
    drop_database(&config).await;
}

#[tokio::test]
async fn a_database_keeps_its_topology() {
    let config = config("mig_topo");
    migrate(&config).await.unwrap();
    let clustered = ClickHouseConfig {
        topology: Topology::Sharded,
        cluster: "spanlens".into(),
        ..config.clone()
    };
    let err = migrate(&clustered).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "database {} was migrated for the single topology, but clickhouse.topology is sharded; a database keeps its topology (migrate into a new database to change it)",
            config.database
        )
    );
    drop_database(&config).await;
}
