//! The collector's one configuration struct.
//!
//! Sources, later ones win: built-in defaults → TOML file (`--config` / `SPANLENS_CONFIG`) →
//! environment (`SPANLENS_<SECTION>__<FIELD>`, e.g. `SPANLENS_CLICKHOUSE__URL`) → command-line
//! flags (`--set section.field=value`, plus shorthands in main.rs). Every override goes through
//! the same dotted-key path, so a field is declared once, here, with its documented default.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid TOML in {origin}: {message}")]
    Parse { origin: String, message: String },
    #[error("override `{0}` must look like section.field=value")]
    BadOverride(String),
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Project (tenant) every span is stored under while API keys are not configured.
    pub default_project: String,
    pub receiver: ReceiverConfig,
    pub clickhouse: ClickHouseConfig,
    pub pipeline: PipelineConfig,
    pub cost: CostConfig,
    pub auth: AuthConfig,
    pub langfuse: LangfuseConfig,
}

/// The Langfuse ingestion API (`POST /api/public/ingestion`): how creates and updates of one
/// observation are merged into one row.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LangfuseConfig {
    /// How long (ms) an observation's events wait for the rest (its create, its update with the
    /// end time) before it is written as it is; a complete observation is written at once.
    /// A trace is written this long after the last event of the trace or its observations.
    /// Default 10000.
    pub merge_window_ms: u64,
    /// A trace whose observations keep arriving is written at the latest this long (ms) after
    /// its first event. Default 600000 (10 minutes).
    pub trace_hold_max_ms: u64,
    /// At most this many observations and traces are held (each), and ...
    pub merge_max_entries: usize,
    /// ... at most this many bytes of their events; past either the oldest is written early.
    /// Defaults 100000 and 256 MiB.
    pub merge_max_bytes: usize,
}

impl Default for LangfuseConfig {
    fn default() -> Self {
        LangfuseConfig {
            merge_window_ms: 10_000,
            trace_hold_max_ms: 600_000,
            merge_max_entries: 100_000,
            merge_max_bytes: 256 << 20,
        }
    }
}

/// API keys → projects. Empty (the default): single-project mode, no key needed — keep the
/// listeners on 127.0.0.1 then.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    pub keys: Vec<ApiKeyConfig>,
}

/// One project's credentials, hashed at rest (`spanlens-collector hash-key <key>` prints the hash).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ApiKeyConfig {
    pub project: String,
    /// SHA-256 (hex) of a key sent as `Authorization: Bearer <key>` or `x-api-key`.
    pub key_sha256: Option<String>,
    /// Langfuse SDK drop-in: public key, and SHA-256 (hex) of the secret key (HTTP Basic).
    pub langfuse_public_key: Option<String>,
    pub langfuse_secret_key_sha256: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CostConfig {
    /// TOML price table (format of the bundled `enrich/prices.toml`) whose entries override and
    /// extend the bundled prices. Default: none, bundled prices only.
    pub price_file: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ReceiverConfig {
    /// OTLP/gRPC listen address. Default 127.0.0.1:4317 (set 0.0.0.0:4317 in a cluster).
    pub grpc_listen: SocketAddr,
    /// OTLP/HTTP listen address (also /healthz, /readyz). Default 127.0.0.1:4318.
    pub http_listen: SocketAddr,
    /// Largest accepted request: an HTTP body after gzip decompression (past it 413), a gRPC
    /// message (past it OUT_OF_RANGE). Default 16 MiB.
    pub max_body_bytes: usize,
    /// Memory budget for requests being read and handled at once, shared by every HTTP and
    /// gRPC connection (each reserves three times its body size); past it requests get HTTP
    /// 429 + Retry-After / gRPC RESOURCE_EXHAUSTED with RetryInfo instead of memory.
    /// Default 256 MiB.
    pub max_inflight_bytes: usize,
    /// PEM certificate chain: when set, both receivers serve TLS only (HTTP and gRPC).
    /// Default empty (plain TCP).
    pub tls_cert_file: String,
    /// PEM private key of `tls_cert_file`.
    pub tls_key_file: String,
    /// PEM CA certificates: when set, clients must present a certificate signed by one of them
    /// (mutual TLS). Default empty.
    pub tls_client_ca_file: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ClickHouseConfig {
    /// ClickHouse HTTP interface. Default http://127.0.0.1:8123.
    pub url: String,
    /// Database holding Spanlens tables; created by `migrate`. Default "spanlens".
    pub database: String,
    pub user: String,
    pub password: String,
    /// LZ4-compress insert bodies, once per batch (an LZ4 frame sent as `Content-Encoding: lz4`;
    /// a retry re-sends the same bytes). Default true.
    pub compression: bool,
    /// Retention in days, applied as the spans, logs and metrics tables' TTL by `migrate`. Default 0: keep
    /// forever (a TTL silently drops back-dated spans on arrival, so it is opt-in).
    pub retention_days: u32,
    /// Apply migrations when the collector starts. Default true.
    pub migrate_on_start: bool,
    /// Per-insert timeout in milliseconds. Default 30000.
    pub insert_timeout_ms: u64,
    /// PEM CA certificates to verify an https `url` against. Default empty: the bundled
    /// Mozilla roots.
    pub tls_ca_file: String,
    /// How the tables are laid out: "single" (default: one server, plain MergeTree engines),
    /// "replicated" (every table Replicated* and created ON CLUSTER `cluster`: one shard, N
    /// replicas) or "sharded" (also `<table>_local` tables on every shard under Distributed
    /// tables that keep the names the collector and dashboards use, sharded by trace id).
    /// `migrate` renders every schema file for it (`migrate --print` shows the DDL).
    pub topology: Topology,
    /// Cluster name from the servers' `remote_servers` config (ON CLUSTER, Distributed).
    /// Required for "replicated" and "sharded"; unused for "single". Default empty.
    pub cluster: String,
    /// Seconds `migrate` waits for each ON CLUSTER statement to finish on every host
    /// (ClickHouse's `distributed_ddl_task_timeout`); past it the migration fails and says so.
    /// Default 300.
    pub ddl_timeout_s: u64,
    /// Seconds `migrate` waits for another migrator's lock before failing. Default 600.
    pub migrate_lock_wait_s: u64,
    /// "sharded" only: inserts into the Distributed tables are "foreground" (default: the insert
    /// returns once every shard stored its part, so a retried batch is deduplicated by its token)
    /// or "background" (the server queues the parts and ships them later: faster replies, but a
    /// retried batch may be stored twice — insert deduplication does not see through the queue).
    pub distributed_insert: DistributedInsert,
}

/// ClickHouse table layout (see `ClickHouseConfig::topology`).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Topology {
    #[default]
    Single,
    Replicated,
    Sharded,
}

impl std::fmt::Display for Topology {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Topology::Single => "single",
            Topology::Replicated => "replicated",
            Topology::Sharded => "sharded",
        })
    }
}

/// How inserts into Distributed tables reach the shards (see
/// `ClickHouseConfig::distributed_insert`).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DistributedInsert {
    #[default]
    Foreground,
    Background,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct PipelineConfig {
    /// Without a spool: bytes of encoded rows the memory log may hold until they are written
    /// before receivers answer "try later" (HTTP 429 / gRPC RESOURCE_EXHAUSTED). Unused with a
    /// spool. Default 256 MiB.
    pub queue_max_bytes: usize,
    /// Directory of the on-disk write-ahead spool. Every accepted chunk is appended here
    /// before the reply and read back by the writer, so a ClickHouse outage or a crash
    /// (even kill -9) loses nothing acknowledged. Empty: no spool — the same pipeline over a
    /// log in memory (`queue_max_bytes`); shutdown still writes it all, a crash loses what it
    /// held, and `ack`, `spool_max_bytes`, `spool_segment_bytes` do nothing. Default ".data/spool".
    pub spool_dir: String,
    /// Disk the spool may use; when full, receivers answer 503 / UNAVAILABLE. Default 1 GiB.
    pub spool_max_bytes: u64,
    /// Size at which a spool segment file is sealed and the next one started; committed
    /// segments are deleted whole, so smaller segments free disk sooner. Default 64 MiB.
    pub spool_segment_bytes: u64,
    /// When the reply is sent: "durable" (default) after the spool write is fsynced; "fast"
    /// after it reaches the operating system (survives a collector crash, not a power loss).
    pub ack: AckMode,
    /// Each table has one open batch, written once it holds this many rows... Default 20000.
    pub batch_max_rows: usize,
    /// ...or this many encoded bytes (all open batches together hold at most this many: past
    /// it the largest is written)... Default 16 MiB.
    pub batch_max_bytes: usize,
    /// ...or when its oldest row is this old (milliseconds). Default 1000.
    pub batch_max_age_ms: u64,
    /// First retry delay after a failed insert (ms); doubles up to `retry_max_backoff_ms`.
    pub retry_initial_backoff_ms: u64,
    pub retry_max_backoff_ms: u64,
    /// How long (ms) the content join waits for the other half when GenAI content log records
    /// (prompt / completion) and their span arrive separately, whichever comes first. Content
    /// that arrives first waits this long for its span; an LLM span without input or output
    /// waits this long for its content, but only when content can still come (its service sent
    /// GenAI content logs in the last 10 minutes); every other span is written without delay.
    /// A span whose content does not come is written as it is (the records stay in the `logs`
    /// table). 0 disables the join. Default 5000.
    pub content_join_window_ms: u64,
    /// At most this many span contents wait for their spans, and at most this many spans wait
    /// for their content (each). A full content store evicts the oldest; a full hold writes the
    /// span without waiting. Both are counted in /metrics. Default 10000.
    pub content_join_max_entries: usize,
    /// At most this many bytes of prompt/completion text wait for their spans (oldest evicted
    /// first). Default 64 MiB.
    pub content_join_max_bytes: usize,
    /// How long (ms) a Logfire streamed call (its call span has no output) waits for its
    /// streaming companion span when the two come in different export requests; the call is
    /// written as it is when the companion does not come. Held calls count against
    /// `content_join_max_entries`. 0 disables the wait (same-request companions are still
    /// joined). Default 120000: the companion comes once the stream ends.
    pub companion_join_window_ms: u64,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum AckMode {
    Durable,
    Fast,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            default_project: "default".into(),
            receiver: ReceiverConfig::default(),
            clickhouse: ClickHouseConfig::default(),
            pipeline: PipelineConfig::default(),
            cost: CostConfig::default(),
            auth: AuthConfig::default(),
            langfuse: LangfuseConfig::default(),
        }
    }
}

impl Default for ReceiverConfig {
    fn default() -> Self {
        ReceiverConfig {
            grpc_listen: ([127, 0, 0, 1], 4317).into(),
            http_listen: ([127, 0, 0, 1], 4318).into(),
            max_body_bytes: 16 << 20,
            max_inflight_bytes: 256 << 20,
            tls_cert_file: String::new(),
            tls_key_file: String::new(),
            tls_client_ca_file: String::new(),
        }
    }
}

impl Default for ClickHouseConfig {
    fn default() -> Self {
        ClickHouseConfig {
            url: "http://127.0.0.1:8123".into(),
            database: "spanlens".into(),
            user: "default".into(),
            password: String::new(),
            compression: true,
            retention_days: 0,
            migrate_on_start: true,
            insert_timeout_ms: 30_000,
            topology: Topology::Single,
            cluster: String::new(),
            ddl_timeout_s: 300,
            migrate_lock_wait_s: 600,
            distributed_insert: DistributedInsert::Foreground,
            tls_ca_file: String::new(),
        }
    }
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            queue_max_bytes: 256 << 20,
            spool_dir: ".data/spool".into(),
            spool_max_bytes: 1 << 30,
            spool_segment_bytes: 64 << 20,
            ack: AckMode::Durable,
            batch_max_rows: 20_000,
            batch_max_bytes: 16 << 20,
            batch_max_age_ms: 1000,
            retry_initial_backoff_ms: 100,
            retry_max_backoff_ms: 10_000,
            content_join_window_ms: 5000,
            content_join_max_entries: 10_000,
            content_join_max_bytes: 64 << 20,
            companion_join_window_ms: 120_000,
        }
    }
}

impl PipelineConfig {
    pub fn batch_max_age(&self) -> Duration {
        Duration::from_millis(self.batch_max_age_ms)
    }

    pub fn content_join_window(&self) -> Duration {
        Duration::from_millis(self.content_join_window_ms)
    }
}

impl Config {
    /// Builds the configuration from an optional file, then `SPANLENS_*` environment variables,
    /// then `section.field=value` overrides (command-line flags).
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        overrides: &[String],
    ) -> Result<Config, ConfigError> {
        let mut table = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.display().to_string(),
                    source,
                })?;
                toml::from_str::<toml::Table>(&text).map_err(|e| ConfigError::Parse {
                    origin: path.display().to_string(),
                    message: e.to_string(),
                })?
            }
            None => toml::Table::new(),
        };
        for (name, value) in env {
            let Some(key) = name.strip_prefix("SPANLENS_") else {
                continue;
            };
            // Only `<SECTION>__<FIELD>` names (and the one top-level field) are configuration;
            // other SPANLENS_* variables (SPANLENS_CONFIG, SPANLENS_LOG, scripts' own) are not.
            if !key.contains("__") && key != "DEFAULT_PROJECT" {
                continue;
            }
            let dotted = key.to_ascii_lowercase().replace("__", ".");
            set_dotted(&mut table, &dotted, &value);
        }
        for item in overrides {
            let (key, value) = item
                .split_once('=')
                .ok_or_else(|| ConfigError::BadOverride(item.clone()))?;
            set_dotted(&mut table, key.trim(), value.trim());
        }
        let config: Config = table
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Parse {
                origin: "configuration (file, SPANLENS_* environment, flags)".into(),
                message: e.to_string(),
            })?;
        config.validate()?;
        Ok(config)
    }

    /// Pure checks, before anything is started.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let p = &self.pipeline;
        let invalid = |m: &str| Err(ConfigError::Invalid(m.to_string()));
        if self.default_project.is_empty() {
            return invalid("default_project must not be empty");
        }
        if p.batch_max_rows == 0 || p.batch_max_bytes == 0 {
            return invalid("pipeline.batch_max_rows and batch_max_bytes must be > 0");
        }
        if p.queue_max_bytes < p.batch_max_bytes {
            return invalid("pipeline.queue_max_bytes must be >= pipeline.batch_max_bytes");
        }
        if p.spool_segment_bytes < 4096 || p.spool_segment_bytes > p.spool_max_bytes {
            return invalid(
                "pipeline.spool_segment_bytes must be >= 4096 and <= pipeline.spool_max_bytes",
            );
        }
        if p.content_join_window_ms > 600_000 {
            return invalid(
                "pipeline.content_join_window_ms must be <= 600000 (10 minutes): held spans are not yet written",
            );
        }
        if p.companion_join_window_ms > 600_000 {
            return invalid(
                "pipeline.companion_join_window_ms must be <= 600000 (10 minutes): held calls are not yet written",
            );
        }
        if (p.content_join_window_ms > 0 || p.companion_join_window_ms > 0)
            && (p.content_join_max_entries == 0 || p.content_join_max_bytes == 0)
        {
            return invalid(
                "pipeline.content_join_max_entries and content_join_max_bytes must be > 0 (or set content_join_window_ms and companion_join_window_ms to 0 to disable the join)",
            );
        }
        let l = &self.langfuse;
        if l.merge_window_ms == 0 || l.merge_window_ms > 600_000 {
            return invalid("langfuse.merge_window_ms must be 1..=600000");
        }
        if l.trace_hold_max_ms > 3_600_000 {
            return invalid("langfuse.trace_hold_max_ms must be <= 3600000 (1 hour)");
        }
        if l.merge_max_entries == 0 || l.merge_max_bytes == 0 {
            return invalid("langfuse.merge_max_entries and merge_max_bytes must be > 0");
        }
        let r = &self.receiver;
        if r.tls_cert_file.is_empty() != r.tls_key_file.is_empty() {
            return invalid("receiver.tls_cert_file and receiver.tls_key_file go together");
        }
        if !r.tls_client_ca_file.is_empty() && r.tls_cert_file.is_empty() {
            return invalid(
                "receiver.tls_client_ca_file needs receiver.tls_cert_file and tls_key_file",
            );
        }
        if self.receiver.max_body_bytes == 0 {
            return invalid("receiver.max_body_bytes must be > 0");
        }
        if self.receiver.max_inflight_bytes < self.receiver.max_body_bytes {
            return invalid("receiver.max_inflight_bytes must be >= receiver.max_body_bytes");
        }
        if !self.clickhouse.url.starts_with("http://")
            && !self.clickhouse.url.starts_with("https://")
        {
            return invalid("clickhouse.url must start with http:// or https://");
        }
        let db = &self.clickhouse.database;
        if db.is_empty() || !db.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return invalid("clickhouse.database must be a plain identifier ([A-Za-z0-9_]+)");
        }
        let cluster = &self.clickhouse.cluster;
        if self.clickhouse.topology != Topology::Single && cluster.is_empty() {
            return invalid(
                "clickhouse.cluster must name the cluster (remote_servers) when clickhouse.topology is replicated or sharded",
            );
        }
        if !cluster
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.{}".contains(c))
        {
            return invalid("clickhouse.cluster may hold only [A-Za-z0-9_.-] and {macro} braces");
        }
        Ok(())
    }
}

/// Sets `a.b.c = value` in a TOML table. The value is read as a TOML literal when it parses as
/// one (numbers, booleans, arrays), else taken as a string — so `url=http://x` needs no quotes.
fn set_dotted(table: &mut toml::Table, dotted: &str, value: &str) {
    let parsed = toml::from_str::<toml::Table>(&format!("v = {value}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(value.to_string()));
    let mut parts: Vec<&str> = dotted.split('.').collect();
    let last = parts.pop().unwrap_or_default();
    let mut cur = table;
    for part in parts {
        let entry = cur
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            *entry = toml::Value::Table(toml::Table::new());
        }
        cur = entry.as_table_mut().expect("just made a table");
    }
    cur.insert(last.to_string(), parsed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_env_then_flags() {
        let dir = std::env::temp_dir().join(format!("spanlens-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.toml");
        std::fs::write(
            &path,
            "[clickhouse]\ndatabase = \"from_file\"\nretention_days = 7\n",
        )
        .unwrap();
        let env = vec![
            (
                "SPANLENS_CLICKHOUSE__URL".to_string(),
                "http://ch:8123".to_string(),
            ),
            (
                "SPANLENS_CLICKHOUSE__RETENTION_DAYS".to_string(),
                "9".to_string(),
            ),
            ("PATH".to_string(), "/bin".to_string()),
            ("SPANLENS_VENV".to_string(), "/some/venv".to_string()),
            ("SPANLENS_DEFAULT_PROJECT".to_string(), "shop".to_string()),
        ];
        let flags = vec!["clickhouse.retention_days=11".to_string()];
        let c = Config::load(Some(&path), env, &flags).unwrap();
        assert_eq!(c.clickhouse.database, "from_file");
        assert_eq!(c.clickhouse.url, "http://ch:8123");
        assert_eq!(c.clickhouse.retention_days, 11);
        assert_eq!(c.receiver, ReceiverConfig::default());
        assert_eq!(c.default_project, "shop");
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let err = Config::load(None, vec![], &["clickhouse.nope=1".into()]).unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
        let err = Config::load(None, vec![], &["pipeline.batch_max_rows=0".into()]).unwrap_err();
        assert!(err.to_string().contains("batch_max_rows"), "{err}");
        let err = Config::load(None, vec![], &["clickhouse.database=a-b".into()]).unwrap_err();
        assert!(err.to_string().contains("clickhouse.database"), "{err}");
        let err = Config::load(None, vec![], &["clickhouse.topology=sharded".into()]).unwrap_err();
        assert!(err.to_string().contains("clickhouse.cluster"), "{err}");
        let err = Config::load(None, vec![], &["clickhouse.topology=ring".into()]).unwrap_err();
        assert!(err.to_string().contains("ring"), "{err}");
        let err = Config::load(None, vec![], &["clickhouse.cluster=a'b".into()]).unwrap_err();
        assert!(err.to_string().contains("clickhouse.cluster"), "{err}");
    }
}
