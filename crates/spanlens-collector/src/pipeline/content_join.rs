//! The content join: prompt / completion text that arrives as GenAI log records
//! ([`SpanContent`], from `normalize::logs`) is written into its span's row, matched by project,
//! trace id and span id — whichever of the two arrives first. The ids are the numbers `normalize`
//! decoded from the OTLP bytes ([`SpanIds`], beside the rows), never parsed again from the rows'
//! hex.
//!
//! Bounded and in memory, in front of the pipeline queue:
//! - **Content first**: it waits up to `pipeline.content_join_window_ms` for its span
//!   (at most `content_join_max_entries` items and `content_join_max_bytes` of text; beyond
//!   that the oldest is evicted). A span that finds its content is merged and written at once.
//! - **Span first**: an LLM span (`llm` without input or output, `embedding` without input) is
//!   held for the window **only when content may still come**: its service sent GenAI content
//!   log records for that kind of call (chat-like or embeddings) in the last [`SERVICE_MEMORY`]
//!   (a small, bounded set of service names per project). Every other span goes straight to
//!   the queue — no delay for services that do not send content logs, nor for embeddings of a
//!   service whose content logs only ever covered chat calls (opentelemetry-util-genai). A held
//!   span is released as soon as its content completes it, else at the end of the window as it
//!   is (the records stay queryable in the `logs` table). At most `content_join_max_entries`
//!   spans are held; beyond that a span is written without waiting.
//! - Only empty columns are filled: content on the span itself always wins.
//! - **Logfire streamed calls** ([`companion::awaits_companion`]: a Logfire LLM call span without
//!   output) whose streaming companion span was not in the same export request (where
//!   `normalize` joins them) are held the same way, for `pipeline.companion_join_window_ms`,
//!   until a later request brings the companion: it is merged into the call's row
//!   ([`companion::merge`]) and not written on its own. A call whose companion does not come is
//!   written as it is at the end of the window; a companion whose call is not held is written
//!   as it is. Both are logged in the hold log before the reply, so a crash writes them
//!   unjoined rather than losing either.
//! - A span is never dropped: a held span is first logged in the hold log
//!   (`spool_dir/content_join`, [`HoldLog`]) and only forgotten there once it is in the
//!   pipeline, so after a crash (even `kill -9`) the next start writes it; released spans wait
//!   for queue budget instead of failing; [`JoinTask::shutdown`] (graceful shutdown) writes
//!   every held span.
//!
//! Hot path: one uncontended `Mutex` per export request, nothing awaited while it is held; a
//! project that never sent content logs costs one map look-up per request. Every change is
//! counted in /metrics (`spanlens_content_join_*`).
//!
//! Receivers use it in two steps so a refused request (full queue: the client retries) leaves no
//! trace: [`ContentJoin::route`] decides per span (pass, or hold) and copies waiting content
//! into the passing rows without consuming it; only after those rows are queued does
//! [`ContentJoin::commit`] consume the content and hold the rest.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::hold_log::{HoldLog, Recovered, Ticket};
use super::spool::SpoolError;
use super::{EncodedChunk, Pipeline, SubmitError};
use crate::config::{AckMode, PipelineConfig};
use crate::metrics::{JoinMetrics, Metrics};
use crate::normalize::companion;
use crate::normalize::{SpanContent, SpanIds};
use crate::storage::row::SpanRow;

/// A service counts as sending GenAI content logs for this long after its last one.
pub const SERVICE_MEMORY: Duration = Duration::from_secs(600);
/// At most this many (project, service) pairs are remembered (least recently seen evicted).
const MAX_SERVICES: usize = 1024;
/// Released spans are queued in chunks of at most this many rows.
const RELEASE_CHUNK_ROWS: usize = 1000;

/// (interned project, the span's ids).
type Key = (u32, SpanIds);

/// Handle used by the receivers. Cheap to clone.
#[derive(Clone)]
pub struct ContentJoin {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    wake: Notify,
    metrics: Arc<Metrics>,
    /// Held spans, durable (None without a spool).
    log: Option<Arc<HoldLog>>,
}

/// The join's task: writes released spans; `shutdown` flushes everything held.
pub struct JoinTask {
    shared: Arc<Shared>,
    handle: JoinHandle<()>,
}

/// What [`ContentJoin::route`] decided for a request's spans.
#[derive(Debug, Default)]
pub struct Routed {
    /// To queue now (content already copied in where it was waiting).
    pub now: Vec<SpanRow>,
    /// To hand to [`ContentJoin::commit`] once `now` is queued.
    pub pending: Pending,
}

/// The second half of a routing decision.
#[derive(Debug, Default)]
pub struct Pending {
    project: String,
    hold: Vec<(SpanIds, SpanRow)>,
    consumed: Vec<Key>,
    /// Streaming companion spans of held calls, to merge into them.
    companions: Vec<SpanRow>,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.hold.is_empty() && self.consumed.is_empty() && self.companions.is_empty()
    }

    /// The rows to log before they wait: held rows, then companions (tickets in that order).
    fn logged(&self) -> Vec<&SpanRow> {
        let held = self.hold.iter().map(|(_, row)| row);
        held.chain(&self.companions).collect()
    }

    fn take_logged(&mut self) -> Vec<SpanRow> {
        let held = std::mem::take(&mut self.hold)
            .into_iter()
            .map(|(_, row)| row);
        held.chain(std::mem::take(&mut self.companions)).collect()
    }
}

impl Routed {
    /// Holds the row if the hold has room, else passes it on now.
    fn hold(&mut self, ids: SpanIds, row: SpanRow, room: &mut usize, m: &JoinMetrics) {
        if *room == 0 {
            m.hold_full.fetch_add(1, Relaxed);
            self.now.push(row);
        } else {
            *room -= 1;
            self.pending.hold.push((ids, row));
        }
    }
}

impl ContentJoin {
    /// Creates the join and starts its task, which queues released spans into `pipeline`. With
    /// a spool, held spans are logged in `spool_dir/content_join` first; spans a crash left
    /// held are written at once.
    pub fn start(
        config: &PipelineConfig,
        pipeline: Pipeline,
    ) -> Result<(ContentJoin, JoinTask), SpoolError> {
        let mut state = State::new(config);
        let log = if config.spool_dir.is_empty() {
            None
        } else {
            let dir = Path::new(&config.spool_dir).join("content_join");
            let durable = config.ack == AckMode::Durable;
            let (log, recovered) = HoldLog::open(&dir, config.spool_max_bytes, durable)?;
            state.recover(recovered);
            Some(Arc::new(log))
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            wake: Notify::new(),
            metrics: pipeline.metrics.clone(),
            log,
        });
        let handle = tokio::spawn(run(shared.clone(), pipeline));
        Ok((
            ContentJoin {
                shared: shared.clone(),
            },
            JoinTask { shared, handle },
        ))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Step 1 for spans: which rows go to the queue now and which wait for content. `ids` are
    /// the rows' ids, index-aligned (`Normalized::ids`).
    pub fn route(&self, project: &str, rows: Vec<SpanRow>, ids: Vec<SpanIds>) -> Routed {
        assert_eq!(rows.len(), ids.len(), "one SpanIds per span row");
        self.lock().route(
            project,
            rows,
            ids,
            Instant::now(),
            &self.shared.metrics.join,
        )
    }

    /// Step 2 for spans, after `Routed::now` was queued: consumes the content those rows took
    /// and holds the rest. Returns rows that could not be held (the join is shut down) and
    /// companions whose call is no longer held: the caller queues them itself.
    pub fn commit(&self, mut pending: Pending) -> Vec<SpanRow> {
        if pending.is_empty() {
            return Vec::new();
        }
        // Held spans and companions were acknowledged: log them before they wait. If the log
        // fails they do not wait (written now, unjoined) rather than wait in memory only.
        let (tickets, mut late) = match self.log_hold(&pending.logged()) {
            Ok(tickets) => (tickets, Vec::new()),
            Err(e) => {
                tracing::error!(error = %e, "content join: cannot log held spans; writing them now");
                (Vec::new(), pending.take_logged())
            }
        };
        let mut st = self.lock();
        let (more, released) =
            st.commit(pending, &tickets, Instant::now(), &self.shared.metrics.join);
        st.publish(&self.shared.metrics.join);
        drop(st);
        late.extend(more);
        // The caller queues these itself (or fails the request, which the client retries).
        if let (Some(log), false) = (&self.shared.log, released.is_empty())
            && let Err(e) = log.release(&released)
        {
            tracing::error!(error = %e, "content join: cannot record released spans");
        }
        // Released rows to write, or a new deadline the task may be sleeping past.
        self.shared.wake.notify_one();
        late
    }

    /// Logs rows about to be held; their tickets (none without a log).
    fn log_hold(&self, rows: &[&SpanRow]) -> Result<Vec<Ticket>, SpoolError> {
        let Some(log) = self.shared.log.as_ref().filter(|_| !rows.is_empty()) else {
            return Ok(Vec::new());
        };
        let payload = serde_json::to_vec(rows).expect("span rows serialize");
        let seq = log.hold(&payload, rows.len() as u32)?;
        Ok((0..rows.len() as u32).map(|i| (seq, i)).collect())
    }

    /// Content from a logs request (already queued for the `logs` table): completes held spans
    /// or waits for its span.
    pub fn add_content(&self, project: &str, content: Vec<SpanContent>) {
        if content.is_empty() {
            return;
        }
        let mut st = self.lock();
        st.add_content(project, content, Instant::now(), &self.shared.metrics.join);
        st.publish(&self.shared.metrics.join);
        drop(st);
        self.shared.wake.notify_one();
    }
}

impl JoinTask {
    /// Stops holding spans, writes every held span into the pipeline, and ends the task.
    /// Call after the receivers stopped and before the pipeline is drained.
    pub async fn shutdown(self) {
        {
            let mut st = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
            st.closed = true;
        }
        self.shared.wake.notify_one();
        let _ = self.handle.await;
    }
}

async fn run(shared: Arc<Shared>, pipeline: Pipeline) {
    loop {
        let (ready, released, next, closed) = {
            let mut st = shared.state.lock().unwrap_or_else(|e| e.into_inner());
            let (ready, next) = st.tick(Instant::now(), &shared.metrics.join);
            st.publish(&shared.metrics.join);
            (ready, std::mem::take(&mut st.released), next, st.closed)
        };
        let mut written = true;
        for rows in ready.chunks(RELEASE_CHUNK_ROWS) {
            let mut result = queue(&pipeline, rows).await;
            if let Err(SubmitError::TooLarge(_)) = result {
                // Larger than the whole queue budget together: one row at a time.
                for row in rows {
                    result = queue(&pipeline, std::slice::from_ref(row)).await;
                    written &= report(&shared, 1, result.as_ref().err());
                }
                continue;
            }
            written &= report(&shared, rows.len(), result.as_ref().err());
        }
        // Only once they are in the pipeline (durable) may the log forget them; after a failed
        // write they stay logged and are written again at the next start.
        if let (Some(log), true, false) = (&shared.log, written, released.is_empty()) {
            let log = log.clone();
            let recorded = tokio::task::spawn_blocking(move || log.release(&released)).await;
            if let Ok(Err(e)) = recorded {
                tracing::error!(error = %e, "content join: cannot record released spans");
            }
        }
        if closed {
            return;
        }
        let sleep = match next {
            Some(at) => tokio::time::sleep_until(at.into()),
            None => tokio::time::sleep(Duration::from_secs(3600)),
        };
        tokio::select! {
            _ = shared.wake.notified() => {}
            _ = sleep => {}
        }
    }
}

async fn queue(pipeline: &Pipeline, rows: &[SpanRow]) -> Result<(), SubmitError> {
    match EncodedChunk::encode(rows) {
        Ok(chunk) => pipeline.submit_waiting(chunk).await,
        Err(e) => {
            tracing::error!(error = %e, "cannot encode spans released by the content join");
            Err(SubmitError::ShuttingDown)
        }
    }
}

/// Counts and logs a failed write of released rows; true when there was none.
fn report(shared: &Shared, rows: usize, error: Option<&SubmitError>) -> bool {
    if let Some(e) = error {
        shared.metrics.rows_dropped.fetch_add(rows as u64, Relaxed);
        tracing::error!(rows, error = %e, "cannot queue spans released by the content join");
    }
    error.is_none()
}

struct Waiting {
    content: SpanContent,
    since: Instant,
    seq: u64,
}

struct Held {
    row: SpanRow,
    /// Its entry in the hold log.
    ticket: Option<Ticket>,
    until: Instant,
    seq: u64,
    /// A Logfire streamed call waiting for its companion span (not for content).
    companion: bool,
}

/// Everything behind the mutex. Methods take `now` so tests drive time.
struct State {
    window: Duration,
    enabled: bool,
    /// How long a Logfire streamed call waits for its companion (zero: not at all).
    companion_window: Duration,
    max_entries: usize,
    max_bytes: usize,
    /// Project name → small id (projects are few: configured API keys).
    projects: HashMap<String, u32>,
    content: HashMap<Key, Waiting>,
    /// Arrival order of `content` (oldest first), for expiry and eviction.
    content_order: BTreeMap<u64, Key>,
    content_bytes: usize,
    held: HashMap<Key, Held>,
    /// Held spans by deadline (then arrival), for expiry.
    held_order: BTreeMap<(Instant, u64), Key>,
    /// Released spans the task has not queued yet.
    ready: Vec<SpanRow>,
    /// Hold-log tickets of `ready` rows, recorded as released once they are queued.
    released: Vec<Ticket>,
    /// Project id → service → when it last sent GenAI content, per kind of call.
    services: HashMap<u32, HashMap<String, Seen>>,
    service_count: usize,
    seq: u64,
    closed: bool,
}

/// When a service last sent content for chat-like calls and for embeddings.
#[derive(Clone, Copy, Default, Debug)]
struct Seen {
    llm: Option<Instant>,
    embedding: Option<Instant>,
}

impl Seen {
    fn last(&self) -> Option<Instant> {
        self.llm.max(self.embedding)
    }
}

/// Whether a span row still lacks content a GenAI log record could supply.
fn wants_content(row: &SpanRow) -> bool {
    match row.observation_type.as_str() {
        "llm" => row.input.is_empty() || row.output.is_empty(),
        // An embedding's output is vectors, never text: only its input can come.
        "embedding" => row.input.is_empty(),
        _ => false,
    }
}

/// Fills the row's empty content columns; true when input or output was filled.
fn merge(
    row: &mut SpanRow,
    content: &SpanContent,
    take: impl Fn(&Option<String>) -> Option<String>,
) -> bool {
    let mut filled = false;
    if row.input.is_empty()
        && let Some(input) = take(&content.input)
    {
        row.input = input;
        filled = true;
    }
    if row.output.is_empty()
        && let Some(output) = take(&content.output)
    {
        row.output = output;
        filled = true;
    }
    if row.finish_reasons.is_empty() && !content.finish_reasons.is_empty() {
        row.finish_reasons = content.finish_reasons.clone();
    }
    filled
}

fn merge_owned(row: &mut SpanRow, mut content: SpanContent) -> bool {
    let mut filled = false;
    if row.input.is_empty()
        && let Some(input) = content.input.take()
    {
        row.input = input;
        filled = true;
    }
    if row.output.is_empty()
        && let Some(output) = content.output.take()
    {
        row.output = output;
        filled = true;
    }
    if row.finish_reasons.is_empty() {
        row.finish_reasons = content.finish_reasons;
    }
    filled
}

impl State {
    fn new(config: &PipelineConfig) -> State {
        State {
            window: config.content_join_window(),
            enabled: config.content_join_window_ms > 0,
            companion_window: Duration::from_millis(config.companion_join_window_ms),
            max_entries: config.content_join_max_entries,
            max_bytes: config.content_join_max_bytes,
            projects: HashMap::new(),
            content: HashMap::new(),
            content_order: BTreeMap::new(),
            content_bytes: 0,
            held: HashMap::new(),
            held_order: BTreeMap::new(),
            ready: Vec::new(),
            released: Vec::new(),
            services: HashMap::new(),
            service_count: 0,
            seq: 0,
            closed: false,
        }
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    fn project_id(&mut self, project: &str) -> u32 {
        if let Some(id) = self.projects.get(project) {
            return *id;
        }
        let id = self.projects.len() as u32;
        self.projects.insert(project.to_string(), id);
        id
    }

    /// Whether the span's service recently sent content for this kind of span.
    fn content_expected(&self, pid: u32, row: &SpanRow, now: Instant) -> bool {
        let Some(seen) = self
            .services
            .get(&pid)
            .and_then(|s| s.get(&row.service_name))
        else {
            return false;
        };
        let last = if row.observation_type == "embedding" {
            seen.embedding
        } else {
            seen.llm
        };
        last.is_some_and(|t| now.saturating_duration_since(t) < SERVICE_MEMORY)
    }

    fn route(
        &mut self,
        project: &str,
        rows: Vec<SpanRow>,
        ids: Vec<SpanIds>,
        now: Instant,
        m: &JoinMetrics,
    ) -> Routed {
        let mut routed = Routed {
            pending: Pending {
                project: project.to_string(),
                ..Default::default()
            },
            ..Default::default()
        };
        // Content is joined only for projects that sent some (or held spans) before.
        let pid = self.projects.get(project).copied();
        let content = self.enabled && pid.is_some();
        let companions = !self.companion_window.is_zero();
        // Fast path: nothing in this request can wait or be joined.
        if self.closed || !(content || (companions && rows.iter().any(companion::is_logfire))) {
            routed.now = rows;
            return routed;
        }
        routed.now.reserve(rows.len());
        // The hold bound is checked here, before the request is answered, so a full hold means
        // "write now" (through the normal, back-pressured path) rather than a growing backlog.
        // Concurrent requests may overshoot it by their own spans.
        let mut room = self.max_entries.saturating_sub(self.held.len());
        for (row, ids) in rows.into_iter().zip(ids) {
            if companions && companion::awaits_companion(&row) {
                routed.hold(ids, row, &mut room, m);
            } else if companion::is_companion(&row)
                && pid.is_some_and(|pid| self.held_call_for(pid, &row).is_some())
            {
                routed.pending.companions.push(row);
            } else if let Some(pid) = pid.filter(|_| self.enabled) {
                self.route_content((pid, ids), row, &mut routed, &mut room, now, m);
            } else {
                routed.now.push(row);
            }
        }
        routed
    }

    /// Routes a span that may take or wait for GenAI content.
    fn route_content(
        &self,
        key: Key,
        mut row: SpanRow,
        routed: &mut Routed,
        room: &mut usize,
        now: Instant,
        m: &JoinMetrics,
    ) {
        let (pid, ids) = key;
        if let Some(waiting) = self.content.get(&key) {
            let complete = waiting.content.is_complete();
            merge(&mut row, &waiting.content, Clone::clone);
            routed.pending.consumed.push(key);
            if complete || !wants_content(&row) {
                routed.now.push(row);
            } else {
                // Half of an old-style event pair: the other half may still come.
                routed.hold(ids, row, room, m);
            }
        } else if wants_content(&row) && self.content_expected(pid, &row, now) {
            routed.hold(ids, row, room, m);
        } else {
            routed.now.push(row);
        }
    }

    /// The held streamed call `companion` completes: the latest that started before it.
    fn held_call_for(&self, pid: u32, companion: &SpanRow) -> Option<Key> {
        self.held
            .iter()
            .filter(|(key, held)| {
                key.0 == pid && held.companion && companion::completes(&held.row, companion)
            })
            .max_by_key(|(_, held)| held.row.start_time)
            .map(|(key, _)| *key)
    }

    /// Holds `pending`'s rows (with their hold-log `tickets`, when logged) and joins its
    /// companions; returns the rows that cannot wait (to write now) and their tickets.
    fn commit(
        &mut self,
        pending: Pending,
        tickets: &[Ticket],
        now: Instant,
        m: &JoinMetrics,
    ) -> (Vec<SpanRow>, Vec<Ticket>) {
        let Pending {
            project,
            hold,
            consumed,
            companions,
        } = pending;
        let pid = self.project_id(&project);
        let (mut late, mut late_tickets) = (Vec::new(), Vec::new());
        let held = hold.len();
        for (i, (ids, row)) in hold.into_iter().enumerate() {
            let ticket = tickets.get(i).copied();
            if let Some(row) = self.commit_hold((pid, ids), row, ticket, now, m) {
                late.push(row);
                late_tickets.extend(ticket);
            }
        }
        for (i, row) in companions.into_iter().enumerate() {
            let ticket = tickets.get(held + i).copied();
            if let Some(row) = self.join_companion(pid, row, ticket, m) {
                late.push(row);
                late_tickets.extend(ticket);
            }
        }
        for key in consumed {
            // Rows that passed at once took a copy in `route`; consume the original.
            if self.remove_content(&key).is_some() {
                m.spans_merged.fetch_add(1, Relaxed);
            }
        }
        (late, late_tickets)
    }

    /// Holds one row (or releases it, when waiting content completes it); gives it back when
    /// it cannot wait.
    fn commit_hold(
        &mut self,
        key: Key,
        mut row: SpanRow,
        ticket: Option<Ticket>,
        now: Instant,
        m: &JoinMetrics,
    ) -> Option<SpanRow> {
        let awaits = companion::awaits_companion(&row);
        if !awaits && let Some(waiting) = self.remove_content(&key) {
            let complete = waiting.content.is_complete();
            if merge_owned(&mut row, waiting.content) {
                m.spans_merged.fetch_add(1, Relaxed);
            }
            if complete || !wants_content(&row) {
                self.release(row, ticket);
                return None;
            }
        }
        if self.closed {
            return Some(row);
        }
        m.spans_held.fetch_add(1, Relaxed);
        let until = now
            + if awaits {
                self.companion_window
            } else {
                self.window
            };
        let seq = self.next_seq();
        self.held_order.insert((until, seq), key);
        let held = Held {
            row,
            ticket,
            until,
            seq,
            companion: awaits,
        };
        if let Some(old) = self.held.insert(key, held) {
            // The same span sent twice within the window: both copies are written.
            self.held_order.remove(&(old.until, old.seq));
            self.release(old.row, old.ticket);
        }
        None
    }

    /// Merges a companion span into its held call, which is then released (with the
    /// companion's ticket); gives the companion back when its call is no longer held.
    fn join_companion(
        &mut self,
        pid: u32,
        row: SpanRow,
        ticket: Option<Ticket>,
        m: &JoinMetrics,
    ) -> Option<SpanRow> {
        let Some(key) = self.held_call_for(pid, &row) else {
            return Some(row);
        };
        let mut held = self.remove_held(&key).expect("found above");
        companion::merge(&mut held.row, row);
        m.companions_joined.fetch_add(1, Relaxed);
        self.release(held.row, held.ticket);
        self.released.extend(ticket);
        None
    }

    fn remove_held(&mut self, key: &Key) -> Option<Held> {
        let held = self.held.remove(key)?;
        self.held_order.remove(&(held.until, held.seq));
        Some(held)
    }

    /// Hands a row (and its hold-log ticket) to the task for writing.
    fn release(&mut self, row: SpanRow, ticket: Option<Ticket>) {
        self.ready.push(row);
        self.released.extend(ticket);
    }

    /// Spans a crash left in the hold log: written at once, as they are (they never wait again,
    /// so the log keeps the rows without their [`SpanIds`]).
    fn recover(&mut self, recovered: Vec<Recovered>) {
        for record in recovered {
            let rows: Vec<SpanRow> = match serde_json::from_slice(&record.payload) {
                Ok(rows) => rows,
                Err(e) => {
                    tracing::error!(seq = record.seq, error = %e, "content join: unreadable held spans");
                    continue;
                }
            };
            for index in record.unreleased {
                if let Some(row) = rows.get(index as usize) {
                    self.release(row.clone(), Some((record.seq, index)));
                }
            }
        }
    }

    fn remove_content(&mut self, key: &Key) -> Option<Waiting> {
        let waiting = self.content.remove(key)?;
        self.content_order.remove(&waiting.seq);
        self.content_bytes -= waiting.content.text_bytes();
        Some(waiting)
    }

    fn add_content(
        &mut self,
        project: &str,
        content: Vec<SpanContent>,
        now: Instant,
        m: &JoinMetrics,
    ) {
        if !self.enabled || self.closed {
            return;
        }
        let pid = self.project_id(project);
        for c in content {
            m.content_received.fetch_add(1, Relaxed);
            self.remember_service(pid, &c.service_name, c.operation == "embeddings", now);
            let key = (pid, c.ids);
            if let Some(held) = self.held.get_mut(&key) {
                let complete = c.is_complete();
                if merge_owned(&mut held.row, c) {
                    m.spans_merged.fetch_add(1, Relaxed);
                }
                if complete || !wants_content(&held.row) {
                    let held = self.remove_held(&key).expect("present");
                    self.release(held.row, held.ticket);
                }
                continue;
            }
            if let Some(waiting) = self.content.get_mut(&key) {
                self.content_bytes -= waiting.content.text_bytes();
                waiting.content.absorb(c);
                self.content_bytes += waiting.content.text_bytes();
            } else {
                let seq = self.next_seq();
                self.content_bytes += c.text_bytes();
                self.content_order.insert(seq, key);
                self.content.insert(
                    key,
                    Waiting {
                        content: c,
                        since: now,
                        seq,
                    },
                );
            }
            while self.content.len() > self.max_entries || self.content_bytes > self.max_bytes {
                let Some((_, oldest)) = self.content_order.first_key_value().map(|(s, k)| (*s, *k))
                else {
                    break;
                };
                self.remove_content(&oldest);
                m.content_evicted.fetch_add(1, Relaxed);
            }
        }
    }

    fn remember_service(&mut self, pid: u32, service: &str, embedding: bool, now: Instant) {
        let mark = |seen: &mut Seen| {
            if embedding {
                seen.embedding = Some(now);
            } else {
                seen.llm = Some(now);
            }
        };
        if let Some(seen) = self.services.get_mut(&pid).and_then(|s| s.get_mut(service)) {
            mark(seen);
            return;
        }
        if self.service_count >= MAX_SERVICES {
            // Forget the least recently seen service (rare: a handful of services is normal).
            let oldest = self
                .services
                .iter()
                .flat_map(|(p, s)| {
                    s.iter()
                        .map(move |(name, seen)| (seen.last(), *p, name.clone()))
                })
                .min();
            if let Some((_, p, name)) = oldest
                && let Some(s) = self.services.get_mut(&p)
            {
                s.remove(&name);
                self.service_count -= 1;
            }
        }
        let mut seen = Seen::default();
        mark(&mut seen);
        self.services
            .entry(pid)
            .or_default()
            .insert(service.to_string(), seen);
        self.service_count += 1;
    }

    /// Releases expired holds (everything once closed), drops expired content, and hands the
    /// released rows out. Returns the next instant something expires.
    fn tick(&mut self, now: Instant, m: &JoinMetrics) -> (Vec<SpanRow>, Option<Instant>) {
        while let Some((&(until, seq), &key)) = self.held_order.first_key_value() {
            if !self.closed && until > now {
                break;
            }
            self.held_order.remove(&(until, seq));
            if let Some(held) = self.held.remove(&key) {
                m.held_expired.fetch_add(1, Relaxed);
                self.release(held.row, held.ticket);
            }
        }
        while let Some((_, &key)) = self.content_order.first_key_value() {
            let since = self.content.get(&key).map(|w| w.since);
            if !self.closed && since.is_some_and(|s| s + self.window > now) {
                break;
            }
            self.remove_content(&key);
            m.content_expired.fetch_add(1, Relaxed);
        }
        let next_held = self
            .held_order
            .first_key_value()
            .map(|((until, _), _)| *until);
        let next_content = self
            .content_order
            .first_key_value()
            .and_then(|(_, k)| self.content.get(k))
            .map(|w| w.since + self.window);
        let next = match (next_held, next_content) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        (std::mem::take(&mut self.ready), next)
    }

    /// Updates the gauges.
    fn publish(&self, m: &JoinMetrics) {
        m.waiting_content.store(self.content.len() as u64, Relaxed);
        m.waiting_content_bytes
            .store(self.content_bytes as u64, Relaxed);
        m.held_spans.store(self.held.len() as u64, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_millis(5000);

    fn state(max_entries: usize, max_bytes: usize) -> State {
        let config = PipelineConfig {
            content_join_window_ms: 5000,
            content_join_max_entries: max_entries,
            content_join_max_bytes: max_bytes,
            ..PipelineConfig::default()
        };
        State::new(&config)
    }

    fn span(n: u32, service: &str, input: &str, output: &str) -> SpanRow {
        SpanRow {
            project: "p".into(),
            trace_id: format!("{:032x}", 0xab00 + n as u128),
            span_id: format!("{:016x}", 0xcd00 + n as u64),
            service_name: service.into(),
            observation_type: "llm".into(),
            input: input.into(),
            output: output.into(),
            ..SpanRow::default()
        }
    }

    fn content(n: u32, input: Option<&str>, output: Option<&str>, complete: bool) -> SpanContent {
        SpanContent {
            service_name: "bot".into(),
            ids: SpanIds {
                trace: 0xab00 + n as u128,
                span: 0xcd00 + n as u64,
            },
            input: input.map(str::to_string),
            output: output.map(str::to_string),
            finish_reasons: vec!["stop".into()],
            operation: "chat".into(),
            complete,
        }
    }

    /// Routes project p's rows with the ids normalize decodes for them (from the bytes their hex
    /// spells).
    fn route(st: &mut State, rows: Vec<SpanRow>, now: Instant, m: &JoinMetrics) -> Routed {
        let ids = rows
            .iter()
            .map(|r| {
                let (trace, span) = (hex::decode(&r.trace_id), hex::decode(&r.span_id));
                SpanIds::from_otlp(&trace.unwrap(), &span.unwrap()).unwrap()
            })
            .collect();
        st.route("p", rows, ids, now, m)
    }

    /// route + commit as the receiver does, returning the rows written now.
    fn spans(st: &mut State, rows: Vec<SpanRow>, now: Instant, m: &JoinMetrics) -> Vec<SpanRow> {
        let routed = route(st, rows, now, m);
        let (late, _) = st.commit(routed.pending, &[], now, m);
        assert!(late.is_empty());
        routed.now
    }

    #[test]
    fn spans_of_services_that_never_sent_content_pass_without_waiting() {
        let (mut st, m, t0) = (state(10, 1 << 20), JoinMetrics::default(), Instant::now());
        let now = spans(&mut st, vec![span(1, "bot", "", "")], t0, &m);
        assert_eq!(now.len(), 1);
        assert!(st.held.is_empty());
        // Content from another service of the project: still no reason to hold this one.
        st.add_content(
            "p",
            vec![SpanContent {
                service_name: "other".into(),
                ..content(9, Some("[]"), None, true)
            }],
            t0,
            &m,
        );
        assert_eq!(
            spans(&mut st, vec![span(2, "bot", "", "")], t0, &m).len(),
            1
        );
        assert_eq!(m.spans_held.load(Relaxed), 0);
    }

    #[test]
    fn content_first_is_merged_when_the_span_arrives() {
        let (mut st, m, t0) = (state(10, 1 << 20), JoinMetrics::default(), Instant::now());
        st.add_content("p", vec![content(1, Some("IN"), Some("OUT"), true)], t0, &m);
        let now = spans(
            &mut st,
            vec![span(1, "bot", "", "")],
            t0 + Duration::from_millis(10),
            &m,
        );
        assert_eq!(now.len(), 1);
        assert_eq!(
            (now[0].input.as_str(), now[0].output.as_str()),
            ("IN", "OUT")
        );
        assert_eq!(now[0].finish_reasons, vec!["stop".to_string()]);
        assert!(st.content.is_empty() && st.content_order.is_empty() && st.content_bytes == 0);
        assert_eq!(m.spans_merged.load(Relaxed), 1);
        // Content on the span wins over the log record's.
        st.add_content("p", vec![content(2, Some("IN"), Some("OUT"), true)], t0, &m);
        let now = spans(&mut st, vec![span(2, "bot", "own", "")], t0, &m);
        assert_eq!(
            (now[0].input.as_str(), now[0].output.as_str()),
            ("own", "OUT")
        );
    }

    #[test]
    fn a_refused_request_consumes_nothing() {
        let (mut st, m, t0) = (state(10, 1 << 20), JoinMetrics::default(), Instant::now());
        st.add_content("p", vec![content(1, Some("IN"), Some("OUT"), true)], t0, &m);
        let routed = route(&mut st, vec![span(1, "bot", "", "")], t0, &m);
        assert_eq!(routed.now[0].input, "IN");
        drop(routed); // queue full: the client will send the span again
        let now = spans(&mut st, vec![span(1, "bot", "", "")], t0, &m);
        assert_eq!(now[0].input, "IN");
    }

    #[test]
    fn span_first_is_held_then_completed_by_its_content() {
        let (mut st, m, t0) = (state(10, 1 << 20), JoinMetrics::default(), Instant::now());
        st.add_content("p", vec![content(9, Some("x"), Some("y"), true)], t0, &m); // service known
        assert!(spans(&mut st, vec![span(1, "bot", "", "")], t0, &m).is_empty());
        assert_eq!(st.held.len(), 1);
        st.add_content(
            "p",
            vec![content(1, Some("IN"), Some("OUT"), true)],
            t0 + Duration::from_millis(100),
            &m,
        );
        let (ready, _) = st.tick(t0 + Duration::from_millis(100), &m);
        assert_eq!(ready.len(), 1);
        assert_eq!(
            (ready[0].input.as_str(), ready[0].output.as_str()),
            ("IN", "OUT")
        );
        assert!(st.held.is_empty() && st.held_order.is_empty());
        assert_eq!(m.held_expired.load(Relaxed), 0);
    }

    #[test]
    fn old_style_halves_complete_a_held_span_in_two_steps() {
        let (mut st, m, t0) = (state(10, 1 << 20), JoinMetrics::default(), Instant::now());
        st.add_content("p", vec![content(9, Some("x"), None, false)], t0, &m);
        assert!(spans(&mut st, vec![span(1, "bot", "", "")], t0, &m).is_empty());
        st.add_content("p", vec![content(1, Some("IN"), None, false)], t0, &m);
        assert!(
            st.tick(t0, &m).0.is_empty(),
            "still waiting for the completion"
        );
        st.add_content("p", vec![content(1, None, Some("OUT"), false)], t0, &m);
        let ready = st.tick(t0, &m).0;
        assert_eq!(
            (ready[0].input.as_str(), ready[0].output.as_str()),
            ("IN", "OUT")
        );
    }

    #[test]
    fn partial_content_first_then_span_waits_for_the_rest() {
        let (mut st, m, t0) = (state(10, 1 << 20), JoinMetrics::default(), Instant::now());
        st.add_content("p", vec![content(1, Some("[1]"), None, false)], t0, &m);
        st.add_content("p", vec![content(1, Some("[2]"), None, false)], t0, &m);
        assert!(spans(&mut st, vec![span(1, "bot", "", "")], t0, &m).is_empty());
        st.add_content("p", vec![content(1, None, Some("OUT"), false)], t0, &m);
        let ready = st.tick(t0, &m).0;
        assert_eq!(
            (ready[0].input.as_str(), ready[0].output.as_str()),
            ("[1,2]", "OUT")
        );
    }

    #[test]
    fn expired_holds_are_released_unmerged_and_content_expires() {
        let (mut st, m, t0) = (state(10, 1 << 20), JoinMetrics::default(), Instant::now());
        st.add_content("p", vec![content(9, Some("x"), Some("y"), true)], t0, &m);
        assert!(
            spans(
                &mut st,
                vec![span(1, "bot", "", "")],
                t0 + Duration::from_millis(1),
                &m
            )
            .is_empty()
        );
        let (ready, next) = st.tick(t0 + Duration::from_millis(2), &m);
        assert!(ready.is_empty());
        assert_eq!(next, Some(t0 + WINDOW), "content 9 expires first");
        let (ready, next) = st.tick(t0 + WINDOW, &m);
        assert!(ready.is_empty());
        assert_eq!(m.content_expired.load(Relaxed), 1);
        assert_eq!(next, Some(t0 + Duration::from_millis(1) + WINDOW));
        let (ready, next) = st.tick(t0 + Duration::from_millis(1) + WINDOW, &m);
        assert_eq!(ready.len(), 1);
        assert_eq!(ready[0].input, "");
        assert_eq!(next, None);
        assert_eq!(m.held_expired.load(Relaxed), 1);
    }

    #[test]
    fn bounds_evict_oldest_content_and_pass_spans_when_the_hold_is_full() {
        let (mut st, m, t0) = (state(2, 10), JoinMetrics::default(), Instant::now());
        for n in 1..=3 {
            st.add_content("p", vec![content(n, Some("ab"), None, true)], t0, &m);
        }
        assert_eq!(st.content.len(), 2);
        assert_eq!(m.content_evicted.load(Relaxed), 1);
        st.add_content(
            "p",
            vec![content(4, Some("0123456789"), None, true)],
            t0,
            &m,
        );
        assert_eq!(st.content.len(), 1, "byte bound");
        assert_eq!(st.content_bytes, 10);
        // Hold of 2: the third span is written at once, never dropped.
        let now = spans(
            &mut st,
            vec![
                span(5, "bot", "", ""),
                span(6, "bot", "", ""),
                span(7, "bot", "", ""),
            ],
            t0,
            &m,
        );
        assert_eq!(
            now.iter().map(|r| r.span_id.as_str()).collect::<Vec<_>>(),
            vec![span(7, "", "", "").span_id.as_str()]
        );
        assert_eq!(st.held.len(), 2);
        assert_eq!(m.hold_full.load(Relaxed), 1);
        assert!(st.tick(t0, &m).0.is_empty());
    }

    #[test]
    fn shutdown_releases_everything_and_projects_do_not_mix() {
        let (mut st, m, t0) = (state(10, 1 << 20), JoinMetrics::default(), Instant::now());
        st.add_content("p", vec![content(9, Some("x"), Some("y"), true)], t0, &m);
        st.add_content("q", vec![content(1, Some("Q"), Some("Q"), true)], t0, &m);
        let now = spans(
            &mut st,
            vec![span(1, "bot", "", ""), span(2, "bot", "", "")],
            t0,
            &m,
        );
        assert!(now.is_empty(), "project q's content is not project p's");
        st.closed = true;
        let (ready, next) = st.tick(t0, &m);
        assert_eq!(ready.len(), 2);
        assert!(ready.iter().all(|r| r.input.is_empty()));
        assert_eq!(next, None);
        // Closed: nothing is held any more.
        assert_eq!(
            route(&mut st, vec![span(3, "bot", "", "")], t0, &m)
                .now
                .len(),
            1
        );
    }

    #[test]
    fn embeddings_wait_only_for_input_and_other_spans_never() {
        let (mut st, m, t0) = (state(10, 1 << 20), JoinMetrics::default(), Instant::now());
        st.add_content("p", vec![content(9, Some("x"), Some("y"), true)], t0, &m);
        let embedding = |input: &str| SpanRow {
            observation_type: "embedding".into(),
            ..span(1, "bot", input, "")
        };
        // The service's content logs covered chat calls only: its embeddings are not held.
        assert_eq!(spans(&mut st, vec![embedding("")], t0, &m).len(), 1);
        st.add_content(
            "p",
            vec![SpanContent {
                operation: "embeddings".into(),
                ..content(8, Some("x"), None, true)
            }],
            t0,
            &m,
        );
        assert_eq!(spans(&mut st, vec![embedding("text")], t0, &m).len(), 1);
        assert_eq!(spans(&mut st, vec![embedding("")], t0, &m).len(), 0);
        let tool = SpanRow {
            observation_type: "tool".into(),
            ..span(2, "bot", "", "")
        };
        assert_eq!(spans(&mut st, vec![tool], t0, &m).len(), 1);
    }

    /// A busy service: each of many spans takes its own content, content first (merged as the
    /// request is routed) and span first (held, then released by its content).
    #[test]
    fn many_spans_each_take_their_own_content_in_either_order() {
        const N: u32 = 250;
        let (mut st, m, t0) = (state(1000, 1 << 20), JoinMetrics::default(), Instant::now());
        let text = |n: u32| format!("[{n}]");
        let contents = |range: std::ops::Range<u32>| -> Vec<SpanContent> {
            range
                .map(|n| content(n, Some(&text(n)), Some("OUT"), true))
                .collect()
        };
        let rows = |range: std::ops::Range<u32>| -> Vec<SpanRow> {
            range.map(|n| span(n, "bot", "", "")).collect()
        };
        st.add_content("p", contents(0..N), t0, &m);
        let now = spans(&mut st, rows(0..N), t0, &m);
        assert_eq!(now.len(), N as usize);
        for (n, row) in (0..N).zip(&now) {
            assert_eq!(
                (row.span_id.as_str(), row.input.as_str()),
                (span(n, "", "", "").span_id.as_str(), text(n).as_str())
            );
        }
        assert!(spans(&mut st, rows(N..2 * N), t0, &m).is_empty());
        assert_eq!(st.held.len(), N as usize);
        st.add_content("p", contents(N..2 * N).into_iter().rev().collect(), t0, &m);
        let ready = st.tick(t0, &m).0;
        assert_eq!(ready.len(), N as usize);
        for (n, row) in (N..2 * N).rev().zip(&ready) {
            assert_eq!(
                (row.span_id.as_str(), row.input.as_str()),
                (span(n, "", "", "").span_id.as_str(), text(n).as_str())
            );
        }
        assert!(st.held.is_empty() && st.content.is_empty() && st.content_bytes == 0);
        assert_eq!(
            (m.spans_merged.load(Relaxed), m.spans_held.load(Relaxed)),
            (2 * N as u64, N as u64)
        );
        assert_eq!(m.content_received.load(Relaxed), 2 * N as u64);
    }

    fn streamed_call(n: u32, start: i64) -> SpanRow {
        SpanRow {
            scope_name: "logfire.openai".into(),
            request_model: "gpt-4o".into(),
            input: "[prompt]".into(),
            start_time: start,
            duration_ns: 1_000,
            ..span(n, "bot", "", "")
        }
    }

    fn companion_of(n: u32, start: i64) -> SpanRow {
        SpanRow {
            observation_type: "span".into(),
            output: "[answer]".into(),
            output_tokens: Some(7),
            span_attributes: vec![(
                "logfire.msg_template".into(),
                "streaming response from {request_data[model]!r} took {duration:.2f}s".into(),
            )],
            ..streamed_call(n, start)
        }
    }

    #[test]
    fn a_streamed_call_waits_for_its_companion_from_a_later_request() {
        let (mut st, m, t0) = (state(10, 1 << 20), JoinMetrics::default(), Instant::now());
        let other = SpanRow {
            input: "[other]".into(),
            ..streamed_call(2, 500)
        };
        let now = spans(&mut st, vec![streamed_call(1, 1_000), other], t0, &m);
        assert!(
            now.is_empty(),
            "held although the project never sent content"
        );
        assert_eq!(st.held.len(), 2);
        // The next request: the companion (and an unrelated span, which passes).
        let later = t0 + Duration::from_secs(30);
        let now = spans(
            &mut st,
            vec![companion_of(3, 50_000), span(4, "bot", "x", "y")],
            later,
            &m,
        );
        assert_eq!(now.len(), 1, "the companion is not written on its own");
        assert_eq!(now[0].span_id, span(4, "", "", "").span_id);
        let (ready, _) = st.tick(later, &m);
        assert_eq!(ready.len(), 1);
        let call = &ready[0];
        assert_eq!(call.span_id, span(1, "", "", "").span_id);
        assert_eq!(
            (call.output.as_str(), call.output_tokens, call.is_streaming),
            ("[answer]", Some(7), Some(true))
        );
        assert_eq!(call.duration_ns, 49_000, "until the stream ended");
        assert_eq!(m.companions_joined.load(Relaxed), 1);
        assert_eq!(st.held.len(), 1, "the call with another prompt still waits");
    }

    #[test]
    fn an_uncompleted_call_is_written_as_it_is_and_windows_expire_in_deadline_order() {
        let (mut st, m, t0) = (state(10, 1 << 20), JoinMetrics::default(), Instant::now());
        assert!(spans(&mut st, vec![streamed_call(1, 1_000)], t0, &m).is_empty());
        // A content-held span arriving later expires first (shorter window).
        st.add_content("p", vec![content(9, Some("x"), Some("y"), true)], t0, &m);
        assert!(spans(&mut st, vec![span(2, "bot", "", "")], t0, &m).is_empty());
        let (ready, next) = st.tick(t0 + WINDOW, &m);
        assert_eq!(ready.len(), 1);
        assert_eq!(ready[0].span_id, span(2, "", "", "").span_id);
        let companion_window = PipelineConfig::default().companion_join_window_ms;
        let deadline = t0 + Duration::from_millis(companion_window);
        assert_eq!(next, Some(deadline));
        let (ready, next) = st.tick(deadline, &m);
        assert_eq!(ready, vec![streamed_call(1, 1_000)], "unmodified");
        assert_eq!(next, None);
        // Its companion, now too late, is written on its own.
        assert_eq!(
            spans(&mut st, vec![companion_of(3, 5_000)], deadline, &m).len(),
            1
        );
        assert_eq!(m.companions_joined.load(Relaxed), 0);
    }

    #[test]
    fn a_companion_whose_call_went_between_route_and_commit_is_written_late() {
        let (mut st, m, t0) = (state(10, 1 << 20), JoinMetrics::default(), Instant::now());
        assert!(spans(&mut st, vec![streamed_call(1, 1_000)], t0, &m).is_empty());
        let routed = route(&mut st, vec![companion_of(2, 5_000)], t0, &m);
        assert!(routed.now.is_empty());
        st.closed = true;
        assert_eq!(
            st.tick(t0, &m).0.len(),
            1,
            "the call is released at shutdown"
        );
        let (late, _) = st.commit(routed.pending, &[], t0, &m);
        assert_eq!(late, vec![companion_of(2, 5_000)]);
    }
}
