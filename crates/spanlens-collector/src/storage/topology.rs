//! The cluster forms of the schema. `schemas/*.sql` is written once, for a single server; this
//! module renders each statement for `clickhouse.topology`, so every migration — present or
//! future — has its replicated and sharded form without a second copy of the SQL:
//!
//! - `single`: the statements exactly as written (and checksummed) in the file.
//! - `replicated`: names qualified with the database, `ON CLUSTER`, and every `*MergeTree`
//!   engine replaced by its `Replicated*` form (Keeper path per shard and table, `{replica}`).
//! - `sharded`: as replicated, but each table is created as `<name>_local` on every shard, under
//!   a Distributed table that keeps `<name>` (the one the collector inserts into and dashboards
//!   read), sharded by the trace id so a trace stays on one shard. Materialized views read and
//!   write the local tables (each shard aggregates its own spans); plain views and `INSERT …
//!   SELECT` read the Distributed tables.
//!
//! Only the statement shapes the schema files use are rendered (CREATE TABLE / VIEW /
//! MATERIALIZED VIEW … TO, ALTER TABLE, DROP, INSERT); anything else is refused with the file
//! and statement named, so a new migration that needs another shape fails the golden test
//! (`tests/golden/`), not a production cluster. (SQL parser crates do not parse ClickHouse DDL
//! — codecs, Map types, TTL, SETTINGS — faithfully enough to round-trip it.)

use std::collections::HashMap;
use std::sync::LazyLock;

use regex::{Captures, Regex};

use crate::config::{ClickHouseConfig, Topology};

#[derive(Debug, thiserror::Error)]
#[error("{file}: no {topology} form for `{head}…`: {reason}")]
pub struct RenderError {
    pub file: String,
    pub topology: Topology,
    pub head: String,
    pub reason: String,
}

/// What a schema name refers to, as far as rendering needs to know.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Object {
    /// A MergeTree-family table (sharded: a `_local` table plus a Distributed one).
    Table,
    View,
    MaterializedView,
}

/// Where a reference to a table should point: the table as the collector and dashboards see it
/// (Distributed when sharded), or the shard's own part (what materialized views read and write).
#[derive(Clone, Copy, PartialEq)]
enum Scope {
    Global,
    Local,
}

/// Renders migration files in version order; it remembers the objects earlier statements
/// created, since later ones (views, ALTERs) refer to them.
pub struct Renderer {
    topology: Topology,
    cluster: String,
    database: String,
    objects: HashMap<String, Object>,
}

static CREATE_TABLE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?is)^CREATE\s+TABLE\s+(IF\s+NOT\s+EXISTS\s+)?(\w+)\s*(.*)$").unwrap()
});
static CREATE_VIEW: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?is)^CREATE\s+VIEW\s+(IF\s+NOT\s+EXISTS\s+)?(\w+)\s+AS\s+(.*)$").unwrap()
});
static CREATE_MV: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?is)^CREATE\s+MATERIALIZED\s+VIEW\s+(IF\s+NOT\s+EXISTS\s+)?(\w+)\s+TO\s+(\w+)\s+AS\s+(.*)$",
    )
    .unwrap()
});
static ALTER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?is)^ALTER\s+TABLE\s+(\w+)\s+(.*)$").unwrap());
static DROP: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?is)^DROP\s+(TABLE|VIEW)\s+(IF\s+EXISTS\s+)?(\w+)(\s+SYNC)?\s*$").unwrap()
});
static INSERT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?is)^INSERT\s+INTO\s+(\w+)\s+(.*)$").unwrap());
static ENGINE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?i)\bENGINE\s*=\s*(\w+)").unwrap());
/// A table reference in a query: `FROM name` / `JOIN name`, and what follows it.
static REFERENCE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\b(FROM|JOIN)(\s+)(\w+)\b(\s*\w*)").unwrap());
/// Columns that carry the trace id, in preference order, with the sharding expression for each;
/// metric tables (no trace) shard by series. A deterministic key matters: a retried batch must
/// split across shards exactly as the first attempt did, or its deduplication token cannot work.
const SHARDING_COLUMNS: [(&str, &str); 4] = [
    ("trace_id", "cityHash64(trace_id)"),
    ("TraceId", "cityHash64(TraceId)"),
    ("trace_hash", "trace_hash"),
    (
        "MetricName",
        "cityHash64(ServiceName, MetricName, Attributes)",
    ),
];
/// ALTER commands that change columns, which a Distributed table must mirror.
const COLUMN_COMMANDS: [&str; 5] = [
    "ADD COLUMN",
    "DROP COLUMN",
    "MODIFY COLUMN",
    "RENAME COLUMN",
    "COMMENT COLUMN",
];
/// Words that may follow a table reference without being its alias.
const NOT_ALIASES: [&str; 22] = [
    "", "WHERE", "PREWHERE", "GROUP", "ORDER", "LIMIT", "FINAL", "SETTINGS", "UNION", "JOIN",
    "LEFT", "RIGHT", "INNER", "FULL", "CROSS", "ARRAY", "SAMPLE", "HAVING", "GLOBAL", "ANY", "ON",
    "USING",
];

impl Renderer {
    pub fn new(config: &ClickHouseConfig) -> Renderer {
        Renderer {
            topology: config.topology,
            cluster: config.cluster.clone(),
            database: config.database.clone(),
            objects: HashMap::new(),
        }
    }

    /// The statements of one migration file, rendered for the topology, in order.
    pub fn render_file(&mut self, file: &str, sql: &str) -> Result<Vec<String>, RenderError> {
        let mut out = Vec::new();
        for statement in statements(sql) {
            out.extend(self.render(file, &statement)?);
        }
        Ok(out)
    }

    /// One statement's rendering (sharded CREATE / ALTER / DROP of a table yield two).
    fn render(&mut self, file: &str, statement: &str) -> Result<Vec<String>, RenderError> {
        let refuse = |reason: &str| self.refusal(file, statement, reason);
        if self.topology == Topology::Single {
            return Ok(vec![statement.to_string()]);
        }
        if let Some(c) = CREATE_TABLE.captures(statement) {
            let rendered = self.create_table(&c).map_err(|r| refuse(&r))?;
            self.objects.insert(c[2].to_string(), Object::Table);
            Ok(rendered)
        } else if let Some(c) = CREATE_MV.captures(statement) {
            let rendered = format!(
                "CREATE MATERIALIZED VIEW {}{} {} TO {} AS {}",
                opt(&c, 1),
                self.qualified(&c[2]),
                self.on_cluster(),
                self.reference(&c[3], Scope::Local),
                self.rewrite_references(&c[4], Scope::Local)
            );
            self.objects
                .insert(c[2].to_string(), Object::MaterializedView);
            Ok(vec![rendered])
        } else if let Some(c) = CREATE_VIEW.captures(statement) {
            let rendered = format!(
                "CREATE VIEW {}{} {} AS {}",
                opt(&c, 1),
                self.qualified(&c[2]),
                self.on_cluster(),
                self.rewrite_references(&c[3], Scope::Global)
            );
            self.objects.insert(c[2].to_string(), Object::View);
            Ok(vec![rendered])
        } else if ALTER.is_match(statement) {
            self.render_alter(file, statement)
        } else if let Some(c) = DROP.captures(statement) {
            let rendered = self.drop(&c);
            self.objects.remove(&c[3]);
            Ok(rendered)
        } else if let Some(c) = INSERT.captures(statement) {
            // Once, through the Distributed table (sharded) or one replica (replicated).
            Ok(vec![format!(
                "INSERT INTO {} {}",
                self.qualified(&c[1]),
                self.rewrite_references(&c[2], Scope::Global)
            )])
        } else {
            Err(refuse(
                "only CREATE TABLE / VIEW / MATERIALIZED VIEW … TO, ALTER TABLE, DROP and INSERT are rendered (extend storage/topology.rs)",
            ))
        }
    }

    /// An ALTER TABLE statement's rendering (sharded: the local table, and the Distributed one
    /// too for column changes).
    pub fn render_alter(&self, file: &str, statement: &str) -> Result<Vec<String>, RenderError> {
        if self.topology == Topology::Single {
            return Ok(vec![statement.to_string()]);
        }
        let refuse = |reason: &str| self.refusal(file, statement, reason);
        let c = ALTER
            .captures(statement)
            .ok_or_else(|| refuse("not an ALTER TABLE statement"))?;
        self.alter(&c[1], &c[2]).map_err(|r| refuse(&r))
    }

    fn refusal(&self, file: &str, statement: &str, reason: &str) -> RenderError {
        RenderError {
            file: file.to_string(),
            topology: self.topology,
            head: statement.chars().take(60).collect(),
            reason: reason.to_string(),
        }
    }

    /// The physical table holding a table's rows on this server (the `_local` one when sharded).
    pub fn local_name(&self, table: &str) -> String {
        if self.is_sharded(table) {
            format!("{table}_local")
        } else {
            table.to_string()
        }
    }

    fn create_table(&self, c: &Captures) -> Result<Vec<String>, String> {
        let (if_not_exists, name, rest) = (opt(c, 1), &c[2], &c[3]);
        let engine_at = ENGINE
            .captures(rest)
            .ok_or("a table needs an ENGINE clause")?;
        let engine = engine_at.get(1).expect("group 1");
        let engine_name = engine.as_str();
        if !engine_name.ends_with("MergeTree") || engine_name.starts_with("Replicated") {
            return Err(format!(
                "engine {engine_name} has no cluster form here (write plain *MergeTree engines)"
            ));
        }
        let columns = &rest[..engine_at.get(0).expect("group 0").start()];
        let after_name = &rest[engine.end()..];
        let (args, tail) = match after_name.strip_prefix('(') {
            Some(inner) => {
                let close = matching_paren(inner).ok_or("unbalanced ENGINE arguments")?;
                (inner[..close].trim(), &inner[close + 1..])
            }
            None => ("", after_name),
        };
        let mut replicated_args =
            "'/clickhouse/tables/{shard}/{database}/{table}', '{replica}'".to_string();
        if !args.is_empty() {
            replicated_args.push_str(", ");
            replicated_args.push_str(args);
        }
        let local = if self.topology == Topology::Sharded {
            format!("{name}_local")
        } else {
            name.to_string()
        };
        let mut out = vec![format!(
            "CREATE TABLE {if_not_exists}{} {}\n{columns}ENGINE = Replicated{engine_name}({replicated_args}){tail}",
            self.qualified(&local),
            self.on_cluster(),
        )];
        if self.topology == Topology::Sharded {
            let names = column_names(columns);
            let key = SHARDING_COLUMNS
                .iter()
                .find(|(column, _)| names.contains(column))
                .map_or("rand()", |(_, key)| key);
            out.push(format!(
                "CREATE TABLE {if_not_exists}{} {} AS {}\nENGINE = Distributed('{}', '{}', '{local}', {key})",
                self.qualified(name),
                self.on_cluster(),
                self.qualified(&local),
                self.cluster,
                self.database,
            ));
        }
        Ok(out)
    }

    fn alter(&self, name: &str, commands: &str) -> Result<Vec<String>, String> {
        let scope = match self.objects.get(name) {
            Some(Object::MaterializedView) => Scope::Local, // ALTER … MODIFY QUERY
            _ => Scope::Global,
        };
        let commands = self.rewrite_references(commands, scope);
        let local = format!(
            "ALTER TABLE {} {} {commands}",
            self.qualified(&self.local_name(name)),
            self.on_cluster()
        );
        if !self.is_sharded(name) {
            return Ok(vec![local]);
        }
        let parts = split_top_level(&commands);
        let is_column = |p: &&&str| {
            let upper = p.trim().to_ascii_uppercase();
            COLUMN_COMMANDS.iter().any(|c| upper.starts_with(c))
        };
        match parts.iter().filter(is_column).count() {
            0 => Ok(vec![local]),
            n if n == parts.len() => Ok(vec![
                local,
                format!(
                    "ALTER TABLE {} {} {commands}",
                    self.qualified(name),
                    self.on_cluster()
                ),
            ]),
            _ => Err(
                "column changes and other changes in one ALTER: split them (the Distributed table takes only the column changes)"
                    .into(),
            ),
        }
    }

    fn drop(&self, c: &Captures) -> Vec<String> {
        let (kind, if_exists, name, sync) = (&c[1], opt(c, 2), &c[3], opt(c, 4));
        let drop = |table: &str| {
            format!(
                "DROP {kind} {if_exists}{} {}{sync}",
                self.qualified(table),
                self.on_cluster()
            )
        };
        let mut out = vec![drop(name)];
        if self.is_sharded(name) {
            out.push(drop(&format!("{name}_local")));
        }
        out
    }

    fn is_sharded(&self, name: &str) -> bool {
        self.topology == Topology::Sharded && self.objects.get(name) == Some(&Object::Table)
    }

    fn qualified(&self, name: &str) -> String {
        format!("{}.{name}", self.database)
    }

    fn on_cluster(&self) -> String {
        format!("ON CLUSTER '{}'", self.cluster)
    }

    fn reference(&self, name: &str, scope: Scope) -> String {
        match scope {
            Scope::Local => self.qualified(&self.local_name(name)),
            Scope::Global => self.qualified(name),
        }
    }

    /// Qualifies `FROM t` / `JOIN t` references to schema objects, pointing them at the local
    /// tables in `Scope::Local`. A renamed reference keeps its old name as alias, so `t.column`
    /// still resolves.
    fn rewrite_references(&self, sql: &str, scope: Scope) -> String {
        REFERENCE
            .replace_all(sql, |c: &Captures| {
                let name = &c[3];
                if !self.objects.contains_key(name) {
                    return c[0].to_string();
                }
                let target = self.reference(name, scope);
                let next = c[4].trim().to_ascii_uppercase();
                let renamed = scope == Scope::Local && self.local_name(name) != name;
                let alias = if renamed && NOT_ALIASES.contains(&next.as_str()) {
                    format!(" AS {name}")
                } else {
                    String::new()
                };
                format!("{}{}{target}{alias}{}", &c[1], &c[2], &c[4])
            })
            .into_owned()
    }
}

fn opt<'a>(c: &'a Captures, group: usize) -> &'a str {
    c.get(group).map_or("", |m| m.as_str())
}

/// The column names of a `(name Type, …, INDEX …)` list (empty without one).
fn column_names(columns: &str) -> Vec<&str> {
    let Some(inner) = columns.trim_start().strip_prefix('(') else {
        return Vec::new();
    };
    let inner = &inner[..matching_paren(inner).unwrap_or(inner.len())];
    split_top_level(inner)
        .into_iter()
        .filter_map(|c| c.split_whitespace().next())
        .collect()
}

/// Index of the `)` closing a `(` that precedes `s`.
fn matching_paren(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut quoted = false;
    for (i, ch) in s.char_indices() {
        match ch {
            '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted && depth == 0 => return Some(i),
            ')' if !quoted => depth -= 1,
            _ => {}
        }
    }
    None
}

/// Splits at commas outside parentheses and quotes (ALTER commands; `Map(K, V)` stays whole).
fn split_top_level(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut quoted, mut start) = (0i32, false, 0);
    for (i, ch) in s.char_indices() {
        match ch {
            '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::migrate::MIGRATIONS;

    fn renderer(topology: Topology) -> Renderer {
        Renderer::new(&ClickHouseConfig {
            topology,
            cluster: "c1".into(),
            database: "db".into(),
            ..ClickHouseConfig::default()
        })
    }

    fn render(r: &mut Renderer, sql: &str) -> Vec<String> {
        r.render_file("test.sql", sql).unwrap()
    }

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
    fn single_is_every_file_as_written() {
        let mut r = renderer(Topology::Single);
        for m in MIGRATIONS {
            assert_eq!(r.render_file(m.name, m.sql).unwrap(), statements(m.sql));
        }
    }

    #[test]
    fn replicated_tables_keep_engine_arguments() {
        let mut r = renderer(Topology::Replicated);
        let out = render(
            &mut r,
            "CREATE TABLE IF NOT EXISTS s (id String, v UInt64)\nENGINE = ReplacingMergeTree(v)\nORDER BY id;",
        );
        assert_eq!(
            out,
            vec![
                "CREATE TABLE IF NOT EXISTS db.s ON CLUSTER 'c1'\n(id String, v UInt64)\nENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', v)\nORDER BY id"
            ]
        );
    }

    #[test]
    fn sharded_views_read_local_tables_and_alters_reach_both() {
        let mut r = renderer(Topology::Sharded);
        let out = render(
            &mut r,
            "CREATE TABLE t (trace_id String, n UInt64) ENGINE = MergeTree ORDER BY trace_id;\n\
             CREATE TABLE agg (k String, n UInt64) ENGINE = SummingMergeTree ORDER BY k;\n\
             CREATE MATERIALIZED VIEW agg_mv TO agg AS SELECT t.trace_id AS k, t.n AS n FROM t\nWHERE n > 0;\n\
             CREATE VIEW v AS SELECT * FROM t;\n\
             ALTER TABLE t ADD COLUMN m Map(String, String), DROP COLUMN n;\n\
             ALTER TABLE t ADD INDEX i n TYPE minmax GRANULARITY 1;\n\
             DROP TABLE IF EXISTS agg;\n",
        );
        assert_eq!(
            out[1],
            "CREATE TABLE db.t ON CLUSTER 'c1' AS db.t_local\nENGINE = Distributed('c1', 'db', 't_local', cityHash64(trace_id))"
        );
        assert!(
            out[3].ends_with("Distributed('c1', 'db', 'agg_local', rand())"),
            "{}",
            out[3]
        );
        assert_eq!(
            out[4],
            "CREATE MATERIALIZED VIEW db.agg_mv ON CLUSTER 'c1' TO db.agg_local AS SELECT t.trace_id AS k, t.n AS n FROM db.t_local AS t\nWHERE n > 0"
        );
        assert_eq!(
            out[5],
            "CREATE VIEW db.v ON CLUSTER 'c1' AS SELECT * FROM db.t"
        );
        assert_eq!(
            &out[6..8],
            [
                "ALTER TABLE db.t_local ON CLUSTER 'c1' ADD COLUMN m Map(String, String), DROP COLUMN n",
                "ALTER TABLE db.t ON CLUSTER 'c1' ADD COLUMN m Map(String, String), DROP COLUMN n",
            ]
        );
        assert_eq!(
            out[8],
            "ALTER TABLE db.t_local ON CLUSTER 'c1' ADD INDEX i n TYPE minmax GRANULARITY 1"
        );
        assert_eq!(
            &out[9..],
            [
                "DROP TABLE IF EXISTS db.agg ON CLUSTER 'c1'",
                "DROP TABLE IF EXISTS db.agg_local ON CLUSTER 'c1'",
            ]
        );
    }

    #[test]
    fn shapes_without_a_cluster_form_are_refused_by_name() {
        let mut r = renderer(Topology::Sharded);
        let err = r
            .render_file("0099_x.sql", "CREATE TABLE q (a String) ENGINE = Memory;")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "0099_x.sql: no sharded form for `CREATE TABLE q (a String) ENGINE = Memory…`: engine Memory has no cluster form here (write plain *MergeTree engines)"
        );
        let err = r
            .render_file("0099_x.sql", "OPTIMIZE TABLE spans FINAL;")
            .unwrap_err();
        assert!(
            err.to_string().contains("extend storage/topology.rs"),
            "{err}"
        );
        render(
            &mut r,
            "CREATE TABLE t (a String) ENGINE = MergeTree ORDER BY a;",
        );
        let err = r
            .render_file(
                "0099_x.sql",
                "ALTER TABLE t ADD COLUMN b String, ADD INDEX i b TYPE set(0) GRANULARITY 1;",
            )
            .unwrap_err();
        assert!(err.to_string().contains("split them"), "{err}");
    }
}
