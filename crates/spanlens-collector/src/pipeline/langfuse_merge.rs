//! The Langfuse merge: a Langfuse SDK sends an observation as a create and later updates (often
//! in another batch, seconds later, out of order, sometimes twice); they become ONE row.
//!
//! Durable first, merged on the way out:
//! 1. [`LangfuseMerge::accept`] appends the batch's accepted events to the Langfuse event log (a
//!    [`HoldLog`] in `<spool_dir>/langfuse`, fsynced in `durable` ack mode) before the 207 is
//!    sent, then holds them in memory by (project, trace or observation, id).
//! 2. The merge task releases an entry when it is complete (an observation with its create and
//!    an end time, or an `event`) or when its window ends: observations `langfuse.merge_window_ms`
//!    after their first event, traces that long after the last event of the trace or of any of
//!    its observations (a trace has no end of its own), at most `langfuse.trace_hold_max_ms`.
//!    Bounded: past `merge_max_entries` / `merge_max_bytes` the oldest entry is released early.
//!    Nothing is held forever and nothing is dropped: an update that arrives after its entry was
//!    released becomes a row of its own (counted).
//! 3. Released rows go into the pipeline (the main spool, fsynced in durable mode); then their
//!    events are released in the log (a marker), which commits up to the oldest event still
//!    held, so its segments are deleted. Rows that cannot be queued stay in the log.
//!
//! After a crash (even `kill -9`) the log gives back every event not released, and they are
//! held again. The only window for a duplicate is a crash between step 3's pipeline write and
//! its marker append.
//!
//! Envelope ids deduplicate: an event id already accepted (held, released or logged) for the
//! project is acknowledged again and not stored twice. The memory of ids is bounded (the last
//! [`MAX_SEEN_IDS`]) and after a restart holds only what the log replays, so an SDK re-sending an
//! event long after it was written stores it again.
//!
//! Without a spool (`pipeline.spool_dir` empty) there is no event log: held events live in
//! memory only, like everything else in that mode.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::path::Path;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Map;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::hold_log::{HoldLog, Recovered, Ticket};
use super::redact::redact_text;
use super::spool::SpoolError;
use super::{EncodedChunk, Pipeline, SubmitError};
use crate::config::{AckMode, Config};
use crate::enrich::cost::PriceTable;
use crate::normalize::langfuse::{
    self, Event, EventType, MergedObservation, MergedTrace, Sdk, Subject, Target, event_obs_type,
    event_time, merge_body,
};
use crate::storage::row::SpanRow;

/// Recent event ids remembered for deduplication, and recently released traces remembered so
/// their late observations still get the trace's attributes.
const MAX_SEEN_IDS: usize = 200_000;
const MAX_RECENT_TRACES: usize = 10_000;

/// The accepted trace and observation events of one ingestion request, as logged.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AcceptedEvents {
    pub project: String,
    pub sdk: Sdk,
    pub events: Vec<Accepted>,
}

/// An accepted event and what it is about.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Accepted {
    pub event: Event,
    pub target: Target,
}

/// Handle used by the receiver. Cheap to clone.
#[derive(Clone)]
pub struct LangfuseMerge {
    shared: Arc<Shared>,
}

/// The merge task; `shutdown` writes everything held.
pub struct MergeTask {
    shared: Arc<Shared>,
    handle: JoinHandle<()>,
}

struct Shared {
    state: Mutex<State>,
    wake: Notify,
    log: Option<Arc<HoldLog>>,
}

type Key = (String, Subject, String);

struct Entry {
    sdk: Sdk,
    trace_id: Option<String>,
    /// With their tickets in the event log (their order of arrival).
    events: Vec<(Ticket, Event)>,
    first_seq: u64,
    deadline: Instant,
    /// Traces only: never held past this.
    hold_until: Instant,
    bytes: usize,
    has_create: bool,
    has_end: bool,
    /// An `event` observation: complete with its create (it has no end).
    is_event: bool,
    /// Traces: the latest end (else start) time of the observations seen while held (Unix ns).
    observations_end: u64,
}

impl Entry {
    fn complete(&self, subject: Subject) -> bool {
        subject == Subject::Observation && self.has_create && (self.has_end || self.is_event)
    }
}

/// What a tick hands to the task to write.
#[derive(Default)]
struct Release {
    groups: Vec<Group>,
    /// The released events' tickets in the event log.
    tickets: Vec<Ticket>,
    /// Observations released without their create or end; entries released for room.
    incomplete: u64,
    evicted: u64,
    /// Entries still held afterwards.
    held: u64,
}

/// Released entries of one project and trace.
struct Group {
    project: String,
    sdk: Sdk,
    trace_row: Option<MergedTrace>,
    trace: Option<MergedTrace>,
    observations: Vec<MergedObservation>,
}

struct State {
    window: Duration,
    trace_hold_max: Duration,
    max_entries: usize,
    max_bytes: usize,
    entries: HashMap<Key, Entry>,
    /// first log seq → keys (release order for eviction).
    by_seq: BTreeMap<u64, Vec<Key>>,
    /// Deadlines in time order; an item is stale when its entry's deadline moved on (checked
    /// when it comes due), so a tick never walks every held entry.
    deadlines: BTreeSet<(Instant, Key)>,
    /// Observations that became complete since the last tick.
    completed: Vec<Key>,
    bytes: usize,
    seen: HashSet<(String, String)>,
    seen_order: VecDeque<(String, String)>,
    recent_traces: HashMap<(String, String), MergedTrace>,
    recent_order: VecDeque<(String, String)>,
    closed: bool,
}

impl LangfuseMerge {
    /// Opens (and replays) the event log and starts the merge task, which writes released rows
    /// into `pipeline`.
    pub fn start(
        config: &Config,
        pipeline: Pipeline,
        prices: Arc<PriceTable>,
    ) -> Result<(LangfuseMerge, MergeTask), SpoolError> {
        let mut state = State::new(config);
        let log = if config.pipeline.spool_dir.is_empty() {
            None
        } else {
            let dir = Path::new(&config.pipeline.spool_dir).join("langfuse");
            let durable = config.pipeline.ack == AckMode::Durable;
            let (log, recovered) = HoldLog::open(&dir, config.pipeline.spool_max_bytes, durable)?;
            replay(recovered, &mut state, Instant::now());
            Some(Arc::new(log))
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            wake: Notify::new(),
            log,
        });
        let handle = tokio::spawn(run(shared.clone(), pipeline, prices));
        Ok((
            LangfuseMerge {
                shared: shared.clone(),
            },
            MergeTask { shared, handle },
        ))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Logs the batch's new events (durably in `durable` mode) and holds them. Events whose id
    /// was already accepted for the project are skipped (a re-sent event). On error nothing is
    /// held: the client retries the batch.
    pub fn accept(&self, mut batch: AcceptedEvents) -> Result<(), SubmitError> {
        // Claim the ids first, under the lock: two concurrent requests re-sending the same
        // event must not both log it.
        {
            let mut st = self.lock();
            batch
                .events
                .retain(|a| st.remember((batch.project.clone(), a.event.id.clone())));
        }
        if batch.events.is_empty() {
            return Ok(());
        }
        let seq = match self.log_batch(&batch) {
            Ok(seq) => seq,
            Err(e) => {
                let mut st = self.lock();
                for a in &batch.events {
                    st.seen.remove(&(batch.project.clone(), a.event.id.clone()));
                }
                return Err(e.into());
            }
        };
        let mut st = self.lock();
        st.add(batch, seq, Instant::now());
        drop(st);
        self.shared.wake.notify_one();
        Ok(())
    }

    /// Appends the batch to the event log (fsynced in durable mode); its seq, 0 without a log.
    fn log_batch(&self, batch: &AcceptedEvents) -> Result<u64, SpoolError> {
        let Some(log) = &self.shared.log else {
            return Ok(0);
        };
        let payload = serde_json::to_string(batch).expect("a batch serializes");
        // Stored on disk: credentials stripped here too (the JS SDK v3 copies its secret key
        // into trace bodies).
        let payload = redact_text(&payload);
        log.hold(payload.as_bytes(), batch.events.len() as u32)
    }
}

impl MergeTask {
    /// Stops holding and writes every held entry. Call after the receivers stopped and before
    /// the pipeline is drained.
    pub async fn shutdown(self) {
        self.shared
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .closed = true;
        self.shared.wake.notify_one();
        let _ = self.handle.await;
    }
}

/// Holds again every logged event not yet released.
fn replay(recovered: Vec<Recovered>, state: &mut State, now: Instant) {
    for record in recovered {
        let batch = match serde_json::from_slice::<AcceptedEvents>(&record.payload) {
            Ok(batch) => batch,
            Err(e) => {
                tracing::error!(seq = record.seq, error = %e, "langfuse log: unreadable record skipped");
                continue;
            }
        };
        let mut events: Vec<Option<Accepted>> = batch.events.into_iter().map(Some).collect();
        let held = record
            .unreleased
            .iter()
            .filter_map(|&i| Some(((record.seq, i), events.get_mut(i as usize)?.take()?)))
            .collect();
        state.hold(&batch.project, &batch.sdk, held, now);
    }
}

async fn run(shared: Arc<Shared>, pipeline: Pipeline, prices: Arc<PriceTable>) {
    loop {
        let (release, next, closed) = {
            let mut st = shared.state.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            let release = st.tick(now);
            (release, st.next_deadline(), st.closed)
        };
        let m = &pipeline.metrics;
        m.langfuse_held.store(release.held, Relaxed);
        m.langfuse_incomplete.fetch_add(release.incomplete, Relaxed);
        m.langfuse_evicted.fetch_add(release.evicted, Relaxed);
        if !release.tickets.is_empty() {
            write(&shared, &pipeline, &prices, release).await;
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

/// The rows of a release's groups.
fn release_rows(release: &Release) -> Vec<SpanRow> {
    let mut rows: Vec<SpanRow> = Vec::new();
    for g in &release.groups {
        rows.extend(langfuse::rows(
            &g.project,
            &g.sdk,
            g.trace_row.as_ref(),
            g.trace.as_ref(),
            &g.observations,
        ));
    }
    rows
}

/// Every event of `batch` merged and released at once, as rows: the merge without its log and
/// task (a fuzz target's view of it).
#[cfg(feature = "fuzzing")]
pub fn merge_now(batch: AcceptedEvents) -> Vec<SpanRow> {
    let mut state = State::new(&Config::default());
    state.add(batch, 1, Instant::now());
    state.closed = true;
    release_rows(&state.tick(Instant::now()))
}

/// Writes released rows, then records the release in the log and commits what is done.
async fn write(shared: &Shared, pipeline: &Pipeline, prices: &PriceTable, release: Release) {
    let mut rows = release_rows(&release);
    for row in &mut rows {
        prices.apply(row);
    }
    for chunk in rows.chunks(1000) {
        let result = match EncodedChunk::encode(chunk) {
            Ok(encoded) => pipeline.submit_waiting(encoded).await,
            Err(e) => Err(SubmitError::Spool(SpoolError::Manifest {
                path: "langfuse".into(),
                reason: e.to_string(),
            })),
        };
        if let Err(e) = result {
            // Not released in the log: written from it at the next start.
            tracing::error!(rows = chunk.len(), error = %e, "langfuse merge: cannot queue released rows");
            return;
        }
    }
    pipeline
        .metrics
        .langfuse_rows_released
        .fetch_add(rows.len() as u64, Relaxed);
    let Some(log) = shared.log.clone() else {
        return;
    };
    let tickets = release.tickets;
    let released = tokio::task::spawn_blocking(move || log.release(&tickets)).await;
    if let Ok(Err(e)) = released {
        tracing::error!(error = %e, "langfuse log: cannot record a release");
    }
}

impl State {
    fn new(config: &Config) -> State {
        let l = &config.langfuse;
        State {
            window: Duration::from_millis(l.merge_window_ms),
            trace_hold_max: Duration::from_millis(l.trace_hold_max_ms),
            max_entries: l.merge_max_entries,
            max_bytes: l.merge_max_bytes,
            entries: HashMap::new(),
            by_seq: BTreeMap::new(),
            deadlines: BTreeSet::new(),
            completed: Vec::new(),
            bytes: 0,
            seen: HashSet::new(),
            seen_order: VecDeque::new(),
            recent_traces: HashMap::new(),
            recent_order: VecDeque::new(),
            closed: false,
        }
    }

    /// Remembers an event id; false when it was already known (a re-sent event).
    fn remember(&mut self, key: (String, String)) -> bool {
        if !self.seen.insert(key.clone()) {
            return false;
        }
        self.seen_order.push_back(key);
        while self.seen_order.len() > MAX_SEEN_IDS {
            if let Some(old) = self.seen_order.pop_front() {
                self.seen.remove(&old);
            }
        }
        true
    }

    /// Holds a batch logged as record `seq` (every event, its index in the batch its ticket).
    fn add(&mut self, batch: AcceptedEvents, seq: u64, now: Instant) {
        let events = (0..).map(|i| (seq, i)).zip(batch.events).collect();
        self.hold(&batch.project, &batch.sdk, events, now);
    }

    /// Holds events, each with its ticket in the event log.
    fn hold(&mut self, project: &str, sdk: &Sdk, events: Vec<(Ticket, Accepted)>, now: Instant) {
        let project = project.to_string();
        for ((seq, index), a) in events {
            self.remember((project.clone(), a.event.id.clone()));
            let size = a.event.body.to_string().len();
            let update = matches!(
                EventType::parse(&a.event.kind),
                Some(
                    EventType::Observation { update: true, .. }
                        | EventType::LegacyObservation { update: true }
                )
            );
            let has_end = a.event.body.get("endTime").is_some_and(|v| !v.is_null());
            let span_end = ["endTime", "startTime"].iter().find_map(|f| {
                crate::normalize::parse_rfc3339_nanos(a.event.body.get(*f)?.as_str()?)
            });
            let Target {
                subject,
                id,
                trace_id,
            } = a.target;
            let key = (project.clone(), subject, id);
            let window = self.window;
            let hold_max = self.trace_hold_max;
            let entry = self.entries.entry(key.clone()).or_insert_with(|| {
                self.by_seq.entry(seq).or_default().push(key.clone());
                self.deadlines.insert((now + window, key.clone()));
                Entry {
                    sdk: sdk.clone(),
                    trace_id: trace_id.clone(),
                    events: Vec::new(),
                    first_seq: seq,
                    deadline: now + window,
                    hold_until: now + hold_max.max(window),
                    bytes: 0,
                    has_create: false,
                    has_end: false,
                    is_event: false,
                    observations_end: 0,
                }
            });
            let was_complete = entry.complete(subject);
            entry.is_event |= event_obs_type(&a.event).as_deref() == Some("event");
            entry.has_create |= !update;
            entry.has_end |= has_end;
            entry.bytes += size;
            if entry.trace_id.is_none() {
                entry.trace_id = trace_id;
            }
            entry.events.push(((seq, index), a.event));
            if !was_complete && entry.complete(subject) {
                self.completed.push(key.clone());
            }
            // An update may omit its trace id: the entry knows it from the create.
            let trace = entry.trace_id.clone();
            self.bytes += size;
            if let Some(trace_id) = trace {
                self.refresh_trace(&project, &trace_id, now, span_end);
            }
        }
    }

    /// A trace stays held while its observations keep arriving (bounded by `hold_until`), and
    /// its row spans the observations it saw.
    fn refresh_trace(&mut self, project: &str, trace_id: &str, now: Instant, end: Option<u64>) {
        let key = (project.to_string(), Subject::Trace, trace_id.to_string());
        if let Some(t) = self.entries.get_mut(&key) {
            t.observations_end = t.observations_end.max(end.unwrap_or(0));
            let deadline = t.deadline.max(now + self.window).min(t.hold_until);
            if deadline != t.deadline {
                t.deadline = deadline;
                self.deadlines.insert((deadline, key));
            }
        }
    }

    /// The next deadline of a held entry (stale items are dropped on the way).
    fn next_deadline(&mut self) -> Option<Instant> {
        while let Some((at, key)) = self.deadlines.first().cloned() {
            if self.entries.get(&key).is_some_and(|e| e.deadline == at) {
                return Some(at);
            }
            self.deadlines.pop_first();
        }
        None
    }

    /// Keys of the entries due now: complete observations and ended windows (everything once
    /// closed).
    fn due_now(&mut self, now: Instant) -> HashSet<Key> {
        if self.closed {
            self.deadlines.clear();
            self.entries.keys().cloned().collect()
        } else {
            let mut due: HashSet<Key> = std::mem::take(&mut self.completed)
                .into_iter()
                .filter(|k| self.entries.contains_key(k))
                .collect();
            while let Some((at, key)) = self.deadlines.first().cloned() {
                if at > now {
                    break;
                }
                self.deadlines.pop_first();
                if self.entries.get(&key).is_some_and(|e| e.deadline == at) {
                    due.insert(key);
                }
            }
            due
        }
    }

    /// Adds the oldest remaining entries to `due` while the hold would stay over its bounds.
    fn add_oldest_over_bounds(&self, due: &mut HashSet<Key>) {
        let due_bytes: usize = due.iter().map(|k| self.entries[k].bytes).sum();
        let mut over_entries = (self.entries.len() - due.len()).saturating_sub(self.max_entries);
        let mut over_bytes = (self.bytes - due_bytes).saturating_sub(self.max_bytes);
        for key in self.by_seq.values().flatten() {
            if over_entries == 0 && over_bytes == 0 {
                break;
            }
            if !due.contains(key) {
                over_entries = over_entries.saturating_sub(1);
                over_bytes = over_bytes.saturating_sub(self.entries[key].bytes);
                due.insert(key.clone());
            }
        }
    }

    /// Takes out every entry due now: complete observations, ended windows, everything once
    /// closed, and the oldest entries while over the bounds.
    fn tick(&mut self, now: Instant) -> Release {
        let mut due = self.due_now(now);
        let on_time = due.len();
        self.add_oldest_over_bounds(&mut due);
        let mut release = Release {
            evicted: (due.len() - on_time) as u64,
            ..Default::default()
        };
        let mut due: Vec<Key> = due.into_iter().collect();
        // Traces after their observations, so a group's rows see the trace still held.
        due.sort_by_key(|k| std::cmp::Reverse(k.1));
        let mut groups: HashMap<(String, String), Group> = HashMap::new();
        for key in due {
            let Some(entry) = self.take(&key) else {
                continue;
            };
            let (project, subject, id) = key;
            release
                .tickets
                .extend(entry.events.iter().map(|(ticket, _)| *ticket));
            let trace_key = entry.trace_id.clone().unwrap_or_else(|| id.clone());
            let trace_now = self.trace_of(&project, &trace_key);
            let group = groups
                .entry((project.clone(), trace_key.clone()))
                .or_insert_with(|| Group {
                    project: project.clone(),
                    sdk: entry.sdk.clone(),
                    trace_row: None,
                    trace: trace_now,
                    observations: Vec::new(),
                });
            match subject {
                Subject::Observation => {
                    if !entry.complete(subject) {
                        release.incomplete += 1;
                    }
                    group.observations.push(merged_observation(id, entry));
                }
                Subject::Trace => {
                    let trace = merged_trace(id, entry);
                    group.trace = Some(trace.clone());
                    self.remember_trace(&project, trace.clone());
                    group.trace_row = Some(trace);
                }
            }
        }
        release.groups = groups.into_values().collect();
        release.held = self.entries.len() as u64;
        release
    }

    fn take(&mut self, key: &Key) -> Option<Entry> {
        let entry = self.entries.remove(key)?;
        if let Some(keys) = self.by_seq.get_mut(&entry.first_seq) {
            keys.retain(|k| k != key);
            if keys.is_empty() {
                self.by_seq.remove(&entry.first_seq);
            }
        }
        self.bytes -= entry.bytes;
        Some(entry)
    }

    /// The trace's attributes as known now: held, or released recently.
    fn trace_of(&self, project: &str, trace_id: &str) -> Option<MergedTrace> {
        let key = (project.to_string(), Subject::Trace, trace_id.to_string());
        if let Some(entry) = self.entries.get(&key) {
            return Some(merged_trace_ref(trace_id, entry));
        }
        self.recent_traces
            .get(&(project.to_string(), trace_id.to_string()))
            .cloned()
    }

    fn remember_trace(&mut self, project: &str, trace: MergedTrace) {
        let key = (project.to_string(), trace.id.clone());
        if self.recent_traces.insert(key.clone(), trace).is_none() {
            self.recent_order.push_back(key);
            while self.recent_order.len() > MAX_RECENT_TRACES {
                if let Some(old) = self.recent_order.pop_front() {
                    self.recent_traces.remove(&old);
                }
            }
        }
    }
}

/// Events in the order Langfuse applies them: by event time, creates before updates, then
/// arrival.
fn ordered(events: &[(Ticket, Event)]) -> Vec<&(Ticket, Event)> {
    let mut sorted: Vec<&(Ticket, Event)> = events.iter().collect();
    sorted.sort_by_key(|(seq, e)| {
        let update = matches!(
            EventType::parse(&e.kind),
            Some(
                EventType::Observation { update: true, .. }
                    | EventType::LegacyObservation { update: true }
            )
        );
        (event_time(e), update, *seq)
    });
    sorted
}

fn first_seen(events: &[&(Ticket, Event)]) -> u64 {
    events.first().map_or(0, |(_, e)| event_time(e))
}

fn merged_trace_ref(id: &str, entry: &Entry) -> MergedTrace {
    let events = ordered(&entry.events);
    let mut body = Map::new();
    for (_, e) in &events {
        merge_body(&mut body, &e.body);
    }
    MergedTrace {
        id: id.to_string(),
        first_seen: first_seen(&events),
        observations_end: entry.observations_end,
        body,
    }
}

fn merged_trace(id: String, entry: Entry) -> MergedTrace {
    merged_trace_ref(&id, &entry)
}

fn merged_observation(id: String, entry: Entry) -> MergedObservation {
    let events = ordered(&entry.events);
    let mut body = Map::new();
    let mut obs_type = None;
    for (_, e) in &events {
        merge_body(&mut body, &e.body);
        if let Some(t) = event_obs_type(e) {
            let update = matches!(
                EventType::parse(&e.kind),
                Some(EventType::Observation { update: true, .. })
            );
            // A create decides the type; an update only when no create came.
            if obs_type.is_none() || !update {
                obs_type = Some(t);
            }
        }
    }
    // Legacy patches name the observation `spanId` / `generationId`; the merged body keeps `id`.
    body.remove("spanId");
    body.remove("generationId");
    body.remove("type");
    MergedObservation {
        id,
        obs_type: obs_type.unwrap_or_else(|| "span".into()),
        first_seen: first_seen(&events),
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn state(max_entries: usize) -> State {
        let mut config = Config::default();
        config.langfuse.merge_window_ms = 1000;
        config.langfuse.trace_hold_max_ms = 3000;
        config.langfuse.merge_max_entries = max_entries;
        State::new(&config)
    }

    fn batch(events: Vec<(&str, &str, Value)>) -> AcceptedEvents {
        let events = events
            .into_iter()
            .map(|(id, kind, body)| {
                let event = Event {
                    id: id.into(),
                    timestamp: "2026-11-30T01:00:00.000Z".into(),
                    kind: kind.into(),
                    body,
                };
                let target = langfuse::validate(&event).unwrap().unwrap();
                Accepted { event, target }
            })
            .collect();
        AcceptedEvents {
            project: "p".into(),
            sdk: Sdk::default(),
            events,
        }
    }

    fn released(r: &Release) -> Vec<String> {
        let mut names: Vec<String> = r
            .groups
            .iter()
            .flat_map(|g| {
                g.observations
                    .iter()
                    .map(|o| o.id.clone())
                    .chain(g.trace_row.iter().map(|t| format!("trace:{}", t.id)))
            })
            .collect();
        names.sort();
        names
    }

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn complete_observations_go_at_once_and_halves_wait_for_each_other() {
        let (mut st, t0) = (state(100), Instant::now());
        st.add(
            batch(vec![
                (
                    "e1",
                    "span-create",
                    json!({"id": "done", "traceId": "t", "endTime": "2026-11-30T01:00:01Z"}),
                ),
                (
                    "e2",
                    "generation-create",
                    json!({"id": "g", "traceId": "t", "name": "gen"}),
                ),
                ("e3", "event-create", json!({"id": "ev", "traceId": "t"})),
                ("e4", "trace-create", json!({"id": "t", "name": "trace"})),
            ]),
            1,
            t0,
        );
        assert_eq!(released(&st.tick(t0)), vec!["done", "ev"]);
        // The update, in another batch: now the generation is complete, merged into one.
        st.add(
            batch(vec![(
                "e5",
                "generation-update",
                json!({"id": "g", "output": "o", "endTime": "2026-11-30T01:00:02Z"}),
            )]),
            2,
            t0 + 10 * MS,
        );
        let r = st.tick(t0 + 10 * MS);
        assert_eq!(released(&r), vec!["g"]);
        let g = &r.groups[0].observations[0];
        assert_eq!(
            (g.body["name"].as_str(), g.body["output"].as_str()),
            (Some("gen"), Some("o"))
        );
        assert_eq!(
            r.groups[0].trace.as_ref().unwrap().body["name"],
            "trace",
            "the held trace's attributes"
        );
        // The trace has no end: it goes when its window since the last activity ends.
        assert!(
            released(&st.tick(t0 + 1000 * MS)).is_empty(),
            "refreshed by the update at +10 ms"
        );
        let r = st.tick(t0 + 1010 * MS);
        assert_eq!(released(&r), vec!["trace:t"]);
        // Its row spans its observations: to the latest end seen (01:00:02).
        let trace = r.groups[0].trace_row.as_ref().unwrap();
        assert_eq!(trace.observations_end, 1_796_000_402_000_000_000);
        assert!(st.entries.is_empty() && st.by_seq.is_empty() && st.bytes == 0);
        assert_eq!(st.next_deadline(), None, "stale deadlines are dropped");
    }

    #[test]
    fn nothing_is_held_forever_or_beyond_the_bounds() {
        let (mut st, t0) = (state(100), Instant::now());
        st.add(
            batch(vec![("e1", "trace-create", json!({"id": "t"}))]),
            1,
            t0,
        );
        // Observations of the trace keep arriving: the trace waits, but not past its maximum.
        for i in 1..=5u64 {
            let at = t0 + 900 * i as u32 * MS;
            st.add(
                batch(vec![(
                    &format!("o{i}"),
                    "span-create",
                    json!({"id": format!("s{i}"), "traceId": "t"}),
                )]),
                1 + i,
                at,
            );
            let r = st.tick(at);
            assert!(!released(&r).contains(&"trace:t".to_string()) || at >= t0 + 3000 * MS);
        }
        assert!(
            !st.entries
                .contains_key(&("p".to_string(), Subject::Trace, "t".to_string()))
        );
        st.tick(t0 + 10_000 * MS);
        assert!(st.entries.is_empty());
        // An update without its create (it was written before) is a row of its own, later.
        let t1 = t0 + 20_000 * MS;
        st.add(
            batch(vec![(
                "late",
                "span-update",
                json!({"id": "gone", "output": "x"}),
            )]),
            10,
            t1,
        );
        assert!(released(&st.tick(t1)).is_empty());
        let r = st.tick(t1 + 1000 * MS);
        assert_eq!((released(&r), r.incomplete), (vec!["gone".to_string()], 1));
        assert_eq!(
            r.tickets,
            [(10, 0)],
            "its event log ticket is released with it"
        );
    }

    #[test]
    fn a_full_hold_writes_the_oldest_early_and_ids_are_remembered() {
        let (mut st, t0) = (state(2), Instant::now());
        for (seq, id) in [(1, "a"), (2, "b"), (3, "c")] {
            st.add(batch(vec![(id, "span-create", json!({"id": id}))]), seq, t0);
        }
        let r = st.tick(t0);
        assert_eq!(
            (released(&r), r.evicted, r.held),
            (vec!["a".to_string()], 1, 2)
        );
        assert_eq!(r.tickets, [(1, 0)], "the evicted entry's ticket");
        assert!(
            !st.remember(("p".into(), "a".into())),
            "a re-sent event is known"
        );
        assert!(st.remember(("q".into(), "a".into())), "ids are per project");
    }
}
