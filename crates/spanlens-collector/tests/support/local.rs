//! What the end-to-end tests use on this machine besides cargo, found or started by the harness
//! itself, so that a bare `cargo test` works in a fresh clone with no environment variable:
//! - ClickHouse: `CLICKHOUSE_URL` when set (e.g. a real server); otherwise the project's local
//!   one (deploy/local/chdb_server.py over chDB), started once per test binary, on a free port,
//!   with a temporary data directory. The server stops when the pipe on its stdin closes, i.e.
//!   when the test binary exits however it exits (statics are never dropped, and a killed
//!   process runs no code), and then removes its data.
//! - Python: `SPANLENS_PYTHON` when set; otherwise the project's virtualenv
//!   (`${SPANLENS_VENV:-<repo>/.venv}`), created or brought up to date by `tests/prepare.sh venv`.
//! - The current Langfuse Python SDK: `SPANLENS_LANGFUSE_CURRENT` when set; otherwise
//!   `tests/prepare.sh langfuse-current` installs it.
//! - The Langfuse JS SDK: `tests/prepare.sh node` (npm ci in tests/js).
//!
//! Each preparation step runs at most once per test binary, under a file lock, since test
//! binaries may run at the same time (two cargo invocations, nextest).
#![allow(dead_code)]

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{LazyLock, Mutex, PoisonError};
use std::time::Duration;

/// The root of the Spanlens checkout (every crate sits two levels below it).
pub fn repo_root() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .canonicalize()
        .expect("the repository root")
}

/// The ClickHouse the tests write into: `CLICKHOUSE_URL`, or this test binary's local server.
pub fn clickhouse_url() -> String {
    static LOCAL: LazyLock<ChdbServer> =
        LazyLock::new(|| ChdbServer::start(["--port", "0", "--temporary"]));
    match std::env::var("CLICKHOUSE_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => LOCAL.url.clone(),
    }
}

/// The Python of the test virtualenv (chDB, the OpenTelemetry and Langfuse v2 SDKs).
pub fn python() -> PathBuf {
    if let Some(python) = env_path("SPANLENS_PYTHON") {
        return python;
    }
    prepare("venv");
    venv().join("bin/python")
}

/// The directory holding the current Langfuse Python SDK (for PYTHONPATH).
pub fn langfuse_current() -> PathBuf {
    if let Some(dir) = env_path("SPANLENS_LANGFUSE_CURRENT") {
        return dir;
    }
    prepare("venv");
    prepare("langfuse-current");
    venv().join("langfuse-current")
}

/// tests/js, its node_modules installed from tests/js/package-lock.json.
pub fn js_tests() -> PathBuf {
    prepare("node");
    repo_root().join("tests/js")
}

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

fn venv() -> PathBuf {
    env_path("SPANLENS_VENV").unwrap_or_else(|| repo_root().join(".venv"))
}

/// Runs `tests/prepare.sh <step>` once per test binary, holding a lock file that other test
/// binaries (of any crate of the workspace: one target directory) take too.
fn prepare(step: &'static str) {
    static DONE: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());
    let mut done = DONE.lock().unwrap_or_else(PoisonError::into_inner);
    if done.contains(&step) {
        return;
    }
    let lock_path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("spanlens-prepare.lock");
    let lock = std::fs::File::create(&lock_path)
        .unwrap_or_else(|e| panic!("create {}: {e}", lock_path.display()));
    lock.lock()
        .unwrap_or_else(|e| panic!("lock {}: {e}", lock_path.display()));
    let script = repo_root().join("tests/prepare.sh");
    // Its output (pip and npm errors) goes straight to the terminal: the test harness does not
    // capture a child's output.
    let status = Command::new("bash")
        .arg(&script)
        .arg(step)
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .status()
        .unwrap_or_else(|e| panic!("run {}: {e}", script.display()));
    assert!(
        status.success(),
        "`tests/prepare.sh {step}` failed ({status}): see its output above"
    );
    done.push(step);
}

/// The project's local ClickHouse (deploy/local/chdb_server.py) as a child of this process,
/// listening on 127.0.0.1. Dropping it stops the server and waits for it to exit.
pub struct ChdbServer {
    child: Child,
    /// The writing end of the server's stdin: the server stops when it closes.
    stdin: Option<ChildStdin>,
    pub url: String,
}

impl ChdbServer {
    /// Starts the server with `args` (`--port`, and `--path` or `--temporary`) and waits for its
    /// ready line (60 s at most).
    pub fn start<I, S>(args: I) -> ChdbServer
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let script = repo_root().join("deploy/local/chdb_server.py");
        let mut child = Command::new(python())
            .arg(&script)
            .args(["--host", "127.0.0.1", "--log-level", "warning"])
            .arg("--stop-on-stdin-eof")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", script.display()));
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let (ready_tx, ready) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = stdout.lines();
            let _ = ready_tx.send(lines.next());
            lines.for_each(drop);
        });
        let line = match ready.recv_timeout(Duration::from_secs(60)) {
            Ok(Some(Ok(line))) => line,
            other => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the local ClickHouse did not start (its errors are above): {other:?}");
            }
        };
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no URL in the chDB server's ready line {line:?}"))
            .to_string();
        ChdbServer { child, stdin, url }
    }
}

impl Drop for ChdbServer {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}
