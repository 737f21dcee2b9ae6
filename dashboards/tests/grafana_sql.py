"""What Grafana and the grafana-clickhouse-datasource plugin (v4) do to a panel's SQL before
ClickHouse sees it, re-implemented so tests and the benchmark run the exact text Grafana would
send. Stdlib only.

Order, as in the plugin:
1. frontend, `Datasource.applyTemplateVariables`:
   a. `applyConditionalAll`: from the last `$__conditionalAll(` backwards, split its arguments at
      top-level commas (`getMacroArgs`); when the variable named in the 2nd argument has the
      value '' or '$__all' the macro becomes `1=1`, else its 1st argument. The text is put back
      with JavaScript `String.replace(string, string)` (first occurrence, `$$ $& $\` $'`
      patterns in the replacement are honoured).
   b. `templateSrv.replace(sql, scopedVars, format)` with Grafana's variable regex; the plugin's
      `format` turns arrays (multi-value variables) into `'a','b'` (no escaping) and leaves
      single values raw; `${var:sqlstring}` & co. use Grafana's named formats instead. All
      without a custom all value expands to every option; a custom all value is inserted raw.
      `$__from`, `$__to` (ms), `$__interval`, `$__interval_ms`, `$__range_s` are built-ins;
      unknown names are left untouched (so backend macros pass through).
2. backend, grafana-plugin-sdk-go `sqlutil.Interpolate` with the plugin's macros (pkg/macros)
   plus the SDK defaults: every `$__name\\b` occurrence, its argument list found by scanning for
   the next parenthesis pair (a bare `$__fromTime` followed later by `(` swallows text up to the
   matching `)`, as the plugin does — so dashboards must close no-argument macros with `)`),
   arguments split on every comma and trimmed; `$__timeFilter(c)` → `c >= toDateTime(s) AND
   c <= toDateTime(s)`, `$__timeInterval(c)` → `toStartOfInterval(toDateTime(c), INTERVAL n
   second)` with n = max(interval seconds, 1), `$__fromTime` → `toDateTime(s)`, etc.

Intervals follow Grafana: `roundInterval((to - from) / maxDataPoints)`, raised to the panel's
minimum interval; maxDataPoints is the panel's, else its width in pixels on a 1800 px wide
dashboard.
"""

import glob
import json
import os
import re
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
DASHBOARDS_DIR = os.path.dirname(HERE)
REPO = os.path.dirname(DASHBOARDS_DIR)
SCHEMAS_DIR = os.path.join(REPO, "schemas")

ALL = "$__all"
DASHBOARD_WIDTH_PX = 1800


# ---- ClickHouse over HTTP -------------------------------------------------------------------

class ClickHouseError(Exception):
    pass


class ClickHouse:
    def __init__(self, url, database=None, timeout=600, settings=None):
        self.url = url.rstrip("/")
        self.database = database
        self.timeout = timeout
        self.settings = dict(settings or {})

    def with_database(self, database):
        return ClickHouse(self.url, database, self.timeout, self.settings)

    def _post(self, sql, params=None):
        p = dict(self.settings)
        p.update(params or {})
        if self.database:
            p["database"] = self.database
        req = urllib.request.Request(self.url + "/?" + urllib.parse.urlencode(p), data=sql.encode("utf-8"))
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                return r.read().decode("utf-8")
        except urllib.error.HTTPError as e:
            raise ClickHouseError(e.read().decode("utf-8", "replace").strip() + "\n-- query:\n" + sql) from None

    def execute(self, sql):
        self._post(sql)

    def query_meta(self, sql):
        """Returns ([(name, type)], rows) of a SELECT."""
        body = self._post(sql.rstrip().rstrip(";") + "\nFORMAT JSONCompact", {
            "output_format_json_quote_64bit_integers": "0",
            "output_format_json_quote_denormals": "0",
        })
        doc = json.loads(body)
        return [(c["name"], c["type"]) for c in doc["meta"]], doc["data"]

    def query(self, sql):
        return self.query_meta(sql)[1]

    def scalar(self, sql):
        return self.query(sql)[0][0]


def migration_statements(sql):
    """Splits a migration like the collector's migrator: a line ending in `;` ends a statement,
    `--` comment lines are dropped."""
    out, cur = [], ""
    for line in sql.splitlines():
        if line.lstrip().startswith("--"):
            continue
        trimmed = line.rstrip()
        if trimmed.endswith(";"):
            cur += trimmed[:-1]
            if cur.strip():
                out.append(cur)
            cur = ""
        else:
            cur += line + "\n"
    if cur.strip():
        out.append(cur)
    return out


def migration_checksum(data):
    """The migrator's checksum of a file (FNV-1a 64, hex): tells a stale collector binary."""
    h = 0xcbf29ce484222325
    for byte in data:
        h = ((h ^ byte) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def schema_files():
    return sorted(glob.glob(os.path.join(SCHEMAS_DIR, "*.sql")))


def collector_binary():
    path = os.environ.get("SPANLENS_COLLECTOR_BIN") or os.path.join(REPO, "target", "debug", "spanlens-collector")
    return path if os.access(path, os.X_OK) else None


def create_database(ch, database):
    """A fresh database with every migration applied. Uses `spanlens-collector migrate` when the
    binary is built from the current schemas/*.sql (same files, same checksums); otherwise
    applies the files the same way (same statement splitting). Returns how it migrated."""
    ch.execute(f"DROP DATABASE IF EXISTS {database}")
    binary = collector_binary()
    db = ch.with_database(database)
    if binary:
        res = subprocess.run([binary, "migrate", "--clickhouse-url", ch.url, "--database", database],
                             capture_output=True, text=True, timeout=300)
        if res.returncode != 0:
            raise ClickHouseError(f"spanlens-collector migrate failed:\n{res.stdout}\n{res.stderr}")
        applied = dict(db.query("SELECT name, checksum FROM schema_migrations"))
        current = {}
        for path in schema_files():
            with open(path, "rb") as f:
                current[os.path.basename(path)] = migration_checksum(f.read())
        if applied == current:
            return "spanlens-collector migrate"
        # a binary built before the schemas/ files changed: apply the files themselves
        ch.execute(f"DROP DATABASE IF EXISTS {database}")
    ch.execute(f"CREATE DATABASE {database}")
    for path in schema_files():
        with open(path) as f:
            for statement in migration_statements(f.read()):
                db.execute(statement)
    return "schemas/*.sql applied directly"


# ---- dashboards ---------------------------------------------------------------------------------

def dashboard_files():
    return sorted(glob.glob(os.path.join(DASHBOARDS_DIR, "*.json")))


def load_dashboards():
    out = []
    for path in dashboard_files():
        with open(path) as f:
            out.append(json.load(f))
    return out


def all_panels(dash):
    for p in dash.get("panels", []):
        yield p
        for inner in p.get("panels", []):  # collapsed rows
            yield inner


@dataclass
class QueryItem:
    dashboard: str
    title: str
    sql: str
    kind: str  # "panel" | "variable"
    panel: dict = field(default_factory=dict)
    target: dict = field(default_factory=dict)


def queries(dash):
    """Every SQL the dashboard runs: variable queries first, then each panel target."""
    for v in dash.get("templating", {}).get("list", []):
        if v.get("type") == "query":
            yield QueryItem(dash["uid"], f"variable ${v['name']}", variable_sql(v), "variable", {}, v)
    for p in all_panels(dash):
        for t in p.get("targets", []):
            if "rawSql" in t:
                title = p.get("title", "")
                if len(p.get("targets", [])) > 1:
                    title += f" [{t.get('refId')}]"
                yield QueryItem(dash["uid"], title, t["rawSql"], "panel", p, t)


def variable_sql(v):
    q = v.get("query")
    return q if isinstance(q, str) else (q or {}).get("rawSql", "")


# ---- variables ----------------------------------------------------------------------------------

@dataclass
class Context:
    """The dashboard time range (Unix seconds, as Grafana's ms range truncated by the backend)."""
    from_s: int
    to_s: int

    @property
    def from_ms(self):
        return self.from_s * 1000

    @property
    def to_ms(self):
        return self.to_s * 1000


@dataclass
class Variable:
    name: str
    type: str
    multi: bool = False
    include_all: bool = False
    all_value: str = None
    options: list = field(default_factory=list)
    value: object = ""  # str, or list for multi-value variables; [ALL] / ALL for All

    def is_all(self):
        return self.value == ALL or (isinstance(self.value, list) and ALL in self.value)


def resolve_variables(ch, dash, ctx, selections=None):
    """Variables with their options (query variables run in order, each expanded with the ones
    before it, as Grafana does) and current values: `selections` {name: value} wins, else the
    dashboard's saved current value when still an option, else All / the first option."""
    selections = selections or {}
    resolved = []
    for v in dash.get("templating", {}).get("list", []):
        var = Variable(v["name"], v["type"], bool(v.get("multi")), bool(v.get("includeAll")),
                       v.get("allValue") or None)
        if v["type"] == "query":
            item = QueryItem(dash["uid"], f"variable ${v['name']}", variable_sql(v), "variable", {}, v)
            rows = ch.query(expand(item, resolved, ctx))
            var.options = [str(r[0]) for r in rows]
        elif v["type"] == "custom":
            var.options = [o["value"] for o in v.get("options", []) if o.get("value") != ALL] or \
                [s.strip() for s in v.get("query", "").split(",") if s.strip()]
        saved = (v.get("current") or {}).get("value", "")
        if v["name"] in selections:
            var.value = selections[v["name"]]
        elif v["type"] == "textbox":
            var.value = saved if saved is not None else v.get("query", "")
        else:
            saved_list = saved if isinstance(saved, list) else [saved]
            if saved_list and all(s == ALL or s in var.options for s in saved_list) and saved_list != [""]:
                var.value = saved_list if var.multi else saved_list[0]
            elif var.include_all:
                var.value = [ALL] if var.multi else ALL
            else:
                first = var.options[0] if var.options else ""
                var.value = [first] if var.multi else first
        if var.multi and not isinstance(var.value, list):
            var.value = [var.value]
        resolved.append(var)
    return resolved


# ---- frontend: conditionalAll + templateSrv.replace ---------------------------------------------

def js_replace_first(s, pattern, replacement):
    """JavaScript `s.replace(pattern, replacement)` for a string pattern."""
    i = s.find(pattern)
    if i < 0:
        return s
    before, after = s[:i], s[i + len(pattern):]
    out, k = [], 0
    while k < len(replacement):
        c = replacement[k]
        if c == "$" and k + 1 < len(replacement):
            n = replacement[k + 1]
            if n == "$":
                out.append("$"); k += 2; continue  # noqa: E702
            if n == "&":
                out.append(pattern); k += 2; continue  # noqa: E702
            if n == "`":
                out.append(before); k += 2; continue  # noqa: E702
            if n == "'":
                out.append(after); k += 2; continue  # noqa: E702
        out.append(c)
        k += 1
    return before + "".join(out) + after


def get_macro_args(query, args_index):
    """The plugin's `getMacroArgs`: arguments of the macro whose `(` is at args_index."""
    args = []
    bracket = 0
    last_end = 1
    sub = query[args_index:]
    for m in re.finditer(r"\(|\)|,", sub):
        node = m.group(0)
        if node == "(":
            bracket += 1
        elif node == ")":
            bracket -= 1
        if node == "," and bracket == 1:
            args.append(sub[last_end:m.end() - 1])
            last_end = m.end()
        if bracket == 0:
            args.append(sub[last_end:m.end() - 1])
            return args
    return []


_VAR_NAME_IN_ARG = re.compile(r"(?<=\$\{)[\w\d]+(?=\})|(?<=\$)[\w\d]+")


def apply_conditional_all(raw, variables):
    if not raw:
        return raw
    macro = "$__conditionalAll("
    idx = raw.rfind(macro)
    while idx != -1:
        params = get_macro_args(raw, idx + len(macro) - 1)
        if len(params) != 2:
            return raw
        phrase = params[0]
        m = _VAR_NAME_IN_ARG.search(params[1].strip())
        if m:
            var = next((v for v in variables if v.name == m.group(0)), None)
            if var is not None:
                value = ",".join(var.value) if isinstance(var.value, list) else str(var.value)
                if value == "" or value == ALL:
                    phrase = "1=1"
        raw = js_replace_first(raw, f"{macro}{params[0]},{params[1]})", phrase)
        idx = raw.rfind(macro)
    return raw


# Grafana's variableRegex.
_VARIABLE_RE = re.compile(r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^\}]+))?(?::([^\}]+))?\}")


def plugin_format(value):
    """The plugin's `format`: arrays → 'a','b' (values are not escaped); anything else raw."""
    if isinstance(value, list):
        return "'" + "','".join(value) + "'"
    return value


def named_format(value, fmt, var_name):
    values = value if isinstance(value, list) else [value]
    if fmt == "sqlstring":
        return ",".join("'" + str(v).replace("'", "''") + "'" for v in values)
    if fmt == "singlequote":
        return ",".join("'" + str(v).replace("'", "\\'") + "'" for v in values)
    if fmt == "doublequote":
        return ",".join('"' + str(v).replace('"', '\\"') + '"' for v in values)
    if fmt in ("csv", "raw", "text"):
        return ",".join(str(v) for v in values)
    if fmt == "pipe":
        return "|".join(str(v) for v in values)
    if fmt == "json":
        return json.dumps(value)
    if fmt == "queryparam":
        return "&".join("var-" + var_name + "=" + urllib.parse.quote(str(v), safe="") for v in values)
    raise ValueError(f"variable format {fmt!r} is not emulated")


def template_replace(target, variables, scoped, fmt_fn=plugin_format):
    by_name = {v.name: v for v in variables}

    def repl(m):
        name = m.group(1) or m.group(2) or m.group(4)
        fmt = m.group(3) or m.group(6)
        if m.group(5):
            raise ValueError(f"field paths in variables are not emulated: {m.group(0)}")
        if name in scoped:
            value = scoped[name]
            if fmt and fmt.startswith("date"):
                ms = int(value)
                if fmt == "date:seconds":
                    return str(ms // 1000)
                if fmt in ("date", "date:iso"):
                    return datetime.fromtimestamp(ms / 1000, timezone.utc).isoformat().replace("+00:00", "Z")
                raise ValueError(f"date format {fmt!r} is not emulated")
            return named_format(value, fmt, name) if fmt else fmt_fn(value)
        var = by_name.get(name)
        if var is None:
            return m.group(0)
        value = var.value
        if var.is_all():
            if var.all_value:
                if fmt not in ("text", "percentencode"):
                    return template_replace(var.all_value, variables, scoped, fmt_fn)
                value = var.all_value
            else:
                value = list(var.options)
        if fmt:
            return named_format(value, fmt, name)
        return fmt_fn(value)

    return _VARIABLE_RE.sub(repl, target)


# ---- backend: sqlutil.Interpolate with the plugin's macros -----------------------------------------

def _dt(s):
    return f"toDateTime({s})"


def _dt64(ms):
    return f"fromUnixTimestamp64Milli({ms})"


def _date(s):
    return "toDate('" + datetime.fromtimestamp(s, timezone.utc).strftime("%Y-%m-%d") + "')"


def _rfc3339(s):
    return datetime.fromtimestamp(s, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class MacroError(Exception):
    pass


def _need(args, n, name):
    if len(args) != n:
        raise MacroError(f"$__{name}: unexpected number of arguments: expected {n} argument, received {len(args)}")


def backend_macros(q):
    f, t = q["from_s"], q["to_s"]
    fms, tms = q["from_ms"], q["to_ms"]
    interval_ms = q["interval_ms"]

    def time_filter(a):
        _need(a, 1, "timeFilter")
        return f"{a[0]} >= {_dt(f)} AND {a[0]} <= {_dt(t)}"

    def time_filter_ms(a):
        _need(a, 1, "timeFilter_ms")
        return f"{a[0]} >= {_dt64(fms)} AND {a[0]} <= {_dt64(tms)}"

    def date_filter(a):
        _need(a, 1, "dateFilter")
        return f"{a[0]} >= {_date(f)} AND {a[0]} <= {_date(t)}"

    def date_time_filter(a):
        _need(a, 2, "dateTimeFilter")
        return (f"({a[0]} >= {_date(f)} AND {a[0]} <= {_date(t)}) AND "
                f"({a[1]} >= {_dt(f)} AND {a[1]} <= {_dt(t)})")

    def time_interval(a):
        _need(a, 1, "timeInterval")
        return f"toStartOfInterval(toDateTime({a[0]}), INTERVAL {int(max(interval_ms / 1000, 1))} second)"

    def time_interval_ms(a):
        _need(a, 1, "timeInterval_ms")
        return f"toStartOfInterval(toDateTime64({a[0]}, 3), INTERVAL {int(max(interval_ms, 1))} millisecond)"

    def time_from(a):
        _need(a, 1, "timeFrom")
        return f"{a[0]} >= '{_rfc3339(f)}'"

    def time_to(a):
        _need(a, 1, "timeTo")
        return f"{a[0]} <= '{_rfc3339(t)}'"

    def time_group(a):
        _need(a, 2, "timeGroup")
        parts = {"minute": ["minute", "hour", "day", "month", "year"], "hour": ["hour", "day", "month", "year"],
                 "day": ["day", "month", "year"], "month": ["month", "year"], "year": ["year"]}.get(a[1], [])
        return ",".join(f"datepart({p}, {a[0]})" for p in parts)

    return {
        # the plugin's pkg/macros
        "fromTime": lambda a: _dt(f),
        "toTime": lambda a: _dt(t),
        "fromTime_ms": lambda a: _dt64(fms),
        "toTime_ms": lambda a: _dt64(tms),
        "timeFilter": time_filter,
        "timeFilter_ms": time_filter_ms,
        "dateFilter": date_filter,
        "dateTimeFilter": date_time_filter,
        "dt": date_time_filter,
        "timeInterval": time_interval,
        "timeInterval_ms": time_interval_ms,
        "interval_s": lambda a: str(int(max(interval_ms / 1000, 1))),
        # grafana-plugin-sdk-go sqlutil.DefaultMacros the plugin does not override
        "timeFrom": time_from,
        "timeTo": time_to,
        "timeGroup": time_group,
        "table": lambda a: q.get("table", ""),
        "column": lambda a: q.get("column", ""),
    }


def get_macro_matches(text, name):
    """sqlutil.getMacroMatches: [(whole match, args string)] for `$__name\\b`."""
    out = []
    for m in re.finditer(r"\$__" + re.escape(name) + r"\b", text, flags=re.ASCII):
        start = m.start()
        rest = text[start:]
        macro_end = 0
        arg_start = 0
        cache = 0
        force_break = False
        for idx, ch in enumerate(rest):
            if (cache == 0 and macro_end > 0) or force_break:
                break
            if ch == "(":
                cache += 1
                if arg_start == 0:
                    arg_start = idx + 1
            elif ch == ")":
                if cache == 0:
                    macro_end = 0
                    force_break = True
                    continue
                cache -= 1
                macro_end = idx + 1
        if macro_end == 0:
            macro_end = m.end() - start
        whole = rest[:macro_end]
        args = rest[arg_start:macro_end - 1] if arg_start > 0 else ""
        out.append((whole, args))
    return out


def interpolate(raw, q, order=None):
    macros = backend_macros(q)
    names = order or list(macros)
    for name in names:
        for whole, args in get_macro_matches(raw, name):
            arg_list = [a.strip() for a in args.split(",")]
            raw = raw.replace(whole, macros[name](arg_list))
    return raw


# ---- intervals ----------------------------------------------------------------------------------

_ROUND = [(10, 1), (15, 10), (35, 20), (75, 50), (150, 100), (350, 200), (750, 500), (1500, 1000),
          (3500, 2000), (7500, 5000), (12500, 10000), (17500, 15000), (25000, 20000), (45000, 30000),
          (90000, 60000), (210000, 120000), (450000, 300000), (750000, 600000), (1050000, 900000),
          (1500000, 1200000), (2700000, 1800000), (5400000, 3600000), (9000000, 7200000),
          (16200000, 10800000), (32400000, 21600000), (86400000, 43200000), (604800000, 86400000),
          (1814400000, 604800000), (3628800000, 2592000000)]


def round_interval(ms):
    for limit, value in _ROUND:
        if ms < limit:
            return value
    return 31536000000


_UNITS_MS = {"ms": 1, "s": 1000, "m": 60000, "h": 3600000, "d": 86400000, "w": 604800000, "y": 31536000000}


def parse_interval_ms(s):
    m = re.fullmatch(r"[<>]?(\d+)(ms|s|m|h|d|w|y)", s.strip())
    if not m:
        raise ValueError(f"bad interval {s!r}")
    return int(m.group(1)) * _UNITS_MS[m.group(2)]


def panel_interval_ms(panel, ctx):
    resolution = panel.get("maxDataPoints") or max(1, round(panel.get("gridPos", {}).get("w", 24) / 24 * DASHBOARD_WIDTH_PX))
    interval = round_interval((ctx.to_ms - ctx.from_ms) / resolution)
    if panel.get("interval"):
        interval = max(interval, parse_interval_ms(panel["interval"]))
    return interval


def format_interval(ms):
    for unit in ("y", "w", "d", "h", "m", "s"):
        if ms >= _UNITS_MS[unit] and ms % _UNITS_MS[unit] == 0:
            return f"{ms // _UNITS_MS[unit]}{unit}"
    return f"{ms}ms"


# ---- the whole pipeline -------------------------------------------------------------------------

def expand(item, variables, ctx, macro_order=None):
    """The SQL ClickHouse receives for a panel target or a variable query."""
    interval_ms = panel_interval_ms(item.panel, ctx) if item.kind == "panel" else 0
    scoped = {"__from": str(ctx.from_ms), "__to": str(ctx.to_ms),
              "__range_s": str(ctx.to_s - ctx.from_s), "__range_ms": str(ctx.to_ms - ctx.from_ms)}
    if item.kind == "panel":
        scoped["__interval"] = format_interval(interval_ms)
        scoped["__interval_ms"] = str(interval_ms)
    sql = apply_conditional_all(item.sql, variables)
    sql = template_replace(sql, variables, scoped)
    q = {"from_s": ctx.from_s, "to_s": ctx.to_s, "from_ms": ctx.from_ms, "to_ms": ctx.to_ms,
         "interval_ms": interval_ms}
    return interpolate(sql, q, macro_order)
