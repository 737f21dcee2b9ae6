//! The engine that applies [`RULES`](super::table::RULES) to one span. It has no knowledge of
//! any library: every decision comes from the table.
//!
//! Per span: one pass over the attributes finds the keys the table knows (a hash look-up per
//! attribute, prefixes for indexed lists); then each rule that can apply (the span has one of
//! its keys, a bit-set test, or it reads more than span attributes) tries its sources in order. Values
//! are converted straight from the OTLP `AnyValue`; JSON text is parsed only for sources that
//! are JSON paths into an attribute (cached per attribute). The two big text columns
//! (`input`, `output`) are never copied: the winning attribute's string is moved into the row
//! later ([`Val::Move`]).

use std::collections::HashMap;
use std::sync::OnceLock;

use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value::Value};
use opentelemetry_proto::tonic::trace::v1::Span;
use serde_json::Value as J;

use super::messages;
use super::table::{At, Col, Get, Kind, RULES, Src, is_placeholder};
use super::value::{
    as_bool, as_f64, as_text, as_u64, f64_to_u64, parse_bool, parse_f64, parse_u64, to_json_value,
};

pub const N_COLS: usize = Col::StatusFromLevel as usize + 1;

/// A resolved column value.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Text(String),
    U64(u64),
    F64(f64),
    Bool(bool),
    List(Vec<String>),
    Map(Vec<(String, String)>),
    /// The string value of span attribute N, to be moved into the row.
    Move(u32),
}

/// Keys the table reads, resolved once per process.
struct Index {
    exact: HashMap<&'static str, usize, foldhash::fast::FixedState>,
    prefixes: Vec<&'static str>,
    /// `slot_of[rule][source]`: the exact-key slot (`At::Span`) or prefix number
    /// (`At::SpanPrefix`) of each source, so the per-span look-ups are array indexing.
    slot_of: Vec<Vec<usize>>,
    /// Per rule, what it can read: a span lacking all of it skips the rule at once.
    reads: Vec<RuleReads>,
}

/// The exact-key slots a rule's sources read, as a bit set over slots, and whether it also has
/// sources of another kind (those are always tried).
struct RuleReads {
    slots: Vec<u64>,
    other: bool,
}

impl RuleReads {
    /// Whether a span whose present exact-key slots are `present` can give the rule a value.
    #[inline]
    fn may_apply(&self, present: &[u64]) -> bool {
        self.other || self.slots.iter().zip(present).any(|(r, p)| r & p != 0)
    }
}

fn index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut exact: HashMap<&'static str, usize, foldhash::fast::FixedState> =
            HashMap::default();
        let mut prefixes: Vec<&'static str> = Vec::new();
        let mut slot_of = Vec::with_capacity(RULES.len());
        for rule in RULES {
            let mut slots = Vec::with_capacity(rule.sources.len());
            for src in rule.sources {
                let slot = match src.at {
                    At::Span => {
                        let n = exact.len();
                        *exact.entry(src.key).or_insert(n)
                    }
                    At::SpanPrefix => match prefixes.iter().position(|p| *p == src.key) {
                        Some(p) => p,
                        None => {
                            prefixes.push(src.key);
                            prefixes.len() - 1
                        }
                    },
                    _ => usize::MAX,
                };
                slots.push(slot);
            }
            slot_of.push(slots);
        }
        let words = exact.len().div_ceil(64);
        let reads = RULES
            .iter()
            .zip(&slot_of)
            .map(|(rule, slots)| {
                let mut reads = RuleReads {
                    slots: vec![0; words],
                    other: false,
                };
                for (src, &slot) in rule.sources.iter().zip(slots) {
                    match src.at {
                        At::Span => reads.slots[slot / 64] |= 1 << (slot % 64),
                        _ => reads.other = true,
                    }
                }
                reads
            })
            .collect();
        Index {
            exact,
            prefixes,
            slot_of,
            reads,
        }
    })
}

/// Per-request scratch space, reused across spans (no per-span allocation for the look-ups).
pub struct Scratch {
    /// exact-key slot → attribute index + 1 (0 = absent).
    slots: Vec<u32>,
    /// The same as a bit set: the slots the span has.
    present: Vec<u64>,
    touched: Vec<usize>,
    /// prefix number → attribute indices with that prefix.
    prefixed: Vec<Vec<u32>>,
    /// span attribute index → consumed by a column.
    pub consumed: Vec<bool>,
    /// span event index → consumed by a column.
    pub consumed_events: Vec<bool>,
    json: Vec<(u32, Option<J>)>,
}

impl Default for Scratch {
    fn default() -> Self {
        let idx = index();
        Scratch {
            slots: vec![0; idx.exact.len()],
            present: vec![0; idx.exact.len().div_ceil(64)],
            touched: Vec::new(),
            prefixed: vec![Vec::new(); idx.prefixes.len()],
            consumed: Vec::new(),
            consumed_events: Vec::new(),
            json: Vec::new(),
        }
    }
}

/// The outcome of the table for one span.
pub struct Mapped {
    pub vals: Vec<Option<Val>>,
    /// Provenance (read by the CONVENTIONS.md generator in the tests), per column: bit `i` set = source `i` of the column's rule supplied the value
    /// (one bit for first-match rules, every contributor for merge rules).
    #[cfg_attr(not(test), allow(dead_code))]
    pub won: [u32; N_COLS],
}

impl Mapped {
    pub fn take(&mut self, col: Col) -> Option<Val> {
        self.vals[col as usize].take()
    }
    pub fn text(&mut self, col: Col) -> String {
        match self.take(col) {
            Some(Val::Text(s)) => s,
            _ => String::new(),
        }
    }
    pub fn u64(&mut self, col: Col) -> Option<u64> {
        match self.take(col) {
            Some(Val::U64(v)) => Some(v),
            _ => None,
        }
    }
    pub fn f64(&mut self, col: Col) -> Option<f64> {
        match self.take(col) {
            Some(Val::F64(v)) => Some(v),
            _ => None,
        }
    }
    pub fn bool(&mut self, col: Col) -> Option<bool> {
        match self.take(col) {
            Some(Val::Bool(v)) => Some(v),
            _ => None,
        }
    }
    pub fn list(&mut self, col: Col) -> Vec<String> {
        match self.take(col) {
            Some(Val::List(v)) => v,
            _ => Vec::new(),
        }
    }
    pub fn map(&mut self, col: Col) -> Vec<(String, String)> {
        match self.take(col) {
            Some(Val::Map(v)) => v,
            _ => Vec::new(),
        }
    }
    /// The attribute index to move into a text column, if that is how it was resolved.
    pub fn move_index(&self, col: Col) -> Option<u32> {
        match self.vals[col as usize] {
            Some(Val::Move(i)) => Some(i),
            _ => None,
        }
    }
}

struct Ctx<'a> {
    attrs: &'a [KeyValue],
    resource: &'a [KeyValue],
    span: &'a Span,
}

fn attr_value(kv: &KeyValue) -> Option<&Value> {
    kv.value.as_ref().and_then(|v| v.value.as_ref())
}

impl Scratch {
    /// Applies the table to `span`. Afterwards `self.consumed` / `self.consumed_events` say
    /// which attributes / events the columns took over.
    pub fn map_span(&mut self, span: &Span, resource: &[KeyValue]) -> Mapped {
        self.prepare(span);
        let ctx = Ctx {
            attrs: &span.attributes,
            resource,
            span,
        };
        let mut vals: Vec<Option<Val>> = vec![None; N_COLS];
        let mut won = [0u32; N_COLS];
        let idx = index();
        for ((rule, slots), reads) in RULES.iter().zip(&idx.slot_of).zip(&idx.reads) {
            if !reads.may_apply(&self.present) {
                continue;
            }
            let kind = rule.col.kind();
            let filled = if rule.merge {
                let mut merged: Vec<(String, String)> = Vec::new();
                for (i, (src, &slot)) in rule.sources.iter().zip(slots).enumerate() {
                    if let Some(Val::Map(entries)) = self.extract(&ctx, src, slot, kind, rule.col) {
                        if entries.is_empty() {
                            continue;
                        }
                        won[rule.col as usize] |= 1 << i;
                        for (k, v) in entries {
                            if !merged.iter().any(|(mk, _)| *mk == k) {
                                merged.push((k, v));
                            }
                        }
                        if src.consume {
                            self.consume(&ctx, src, slot);
                        }
                    }
                }
                if merged.is_empty() {
                    false
                } else {
                    vals[rule.col as usize] = Some(Val::Map(merged));
                    true
                }
            } else {
                let mut found = None;
                for (i, (src, &slot)) in rule.sources.iter().zip(slots).enumerate() {
                    if let Some(v) = self.extract(&ctx, src, slot, kind, rule.col) {
                        found = Some(v);
                        won[rule.col as usize] = 1 << i;
                        break;
                    }
                }
                match found {
                    Some(v) => {
                        vals[rule.col as usize] = Some(v);
                        true
                    }
                    None => false,
                }
            };
            if filled && !rule.merge {
                for (src, &slot) in rule.sources.iter().zip(slots) {
                    if src.consume {
                        self.consume(&ctx, src, slot);
                    }
                }
            }
        }
        self.finish();
        Mapped { vals, won }
    }

    fn prepare(&mut self, span: &Span) {
        let idx = index();
        for (i, kv) in span.attributes.iter().enumerate() {
            if let Some(&slot) = idx.exact.get(kv.key.as_str())
                && self.slots[slot] == 0
            {
                self.slots[slot] = i as u32 + 1;
                self.present[slot / 64] |= 1 << (slot % 64);
                self.touched.push(slot);
            }
            for (p, prefix) in idx.prefixes.iter().enumerate() {
                if kv.key.len() > prefix.len() && kv.key.starts_with(prefix) {
                    self.prefixed[p].push(i as u32);
                }
            }
        }
        self.consumed.clear();
        self.consumed.resize(span.attributes.len(), false);
        self.consumed_events.clear();
        self.consumed_events.resize(span.events.len(), false);
        self.json.clear();
    }

    fn finish(&mut self) {
        for slot in self.touched.drain(..) {
            self.slots[slot] = 0;
        }
        self.present.fill(0);
        for p in &mut self.prefixed {
            p.clear();
        }
    }

    /// Whether the span certainly lacks what `src` reads.
    #[inline(always)]
    fn absent(&self, ctx: &Ctx<'_>, src: &Src, slot: usize) -> bool {
        match src.at {
            At::Span => self.at_slot(slot).is_none(),
            At::SpanPrefix => self.prefixed(slot).is_empty(),
            At::Event(_) | At::Events => ctx.span.events.is_empty(),
            At::Resource => false,
        }
    }

    /// The attribute index of the exact-key slot, if the span has that attribute.
    fn at_slot(&self, slot: usize) -> Option<usize> {
        match self.slots.get(slot).copied().unwrap_or(0) {
            0 => None,
            n => Some(n as usize - 1),
        }
    }

    fn lookup(&self, key: &str) -> Option<usize> {
        self.at_slot(*index().exact.get(key)?)
    }

    fn prefixed(&self, prefix_slot: usize) -> &[u32] {
        self.prefixed
            .get(prefix_slot)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Marks what `src` read as consumed by its column. Inlined, so the sources a span lacks
    /// (most of them) cost no call.
    #[inline(always)]
    fn consume(&mut self, ctx: &Ctx<'_>, src: &Src, slot: usize) {
        if !self.absent(ctx, src, slot) {
            self.mark_consumed(ctx, src, slot);
        }
    }

    fn mark_consumed(&mut self, ctx: &Ctx<'_>, src: &Src, slot: usize) {
        match src.at {
            At::Span => {
                if let Some(i) = self.at_slot(slot) {
                    self.consumed[i] = true;
                }
            }
            At::SpanPrefix => {
                let prefix = src.key;
                let ids: Vec<u32> = self.prefixed(slot).to_vec();
                for i in ids {
                    let key = &ctx.attrs[i as usize].key;
                    let rest = &key[prefix.len()..];
                    let take = match src.get {
                        Get::Texts(field) => {
                            messages::split_index(rest).is_some_and(|(_, path)| path == field)
                        }
                        Get::Unflatten => messages::split_index(rest).is_some(),
                        _ => true,
                    };
                    if take {
                        self.consumed[i as usize] = true;
                    }
                }
            }
            At::Event(name) => {
                if let Some(j) = ctx.span.events.iter().position(|e| e.name == name) {
                    self.consumed_events[j] = true;
                }
            }
            At::Events => {
                for (j, e) in ctx.span.events.iter().enumerate() {
                    let hit = match src.get {
                        Get::InputEvents => messages::message_event_role(&e.name).is_some(),
                        _ => e.name == src.key,
                    };
                    if hit {
                        self.consumed_events[j] = true;
                    }
                }
            }
            At::Resource => {}
        }
    }

    fn json_of(&mut self, attr: u32, value: &Value) -> Option<&J> {
        let pos = match self.json.iter().position(|(i, _)| *i == attr) {
            Some(pos) => pos,
            None => {
                let parsed = match value {
                    // Only text that can be a JSON object/array/string is parsed.
                    Value::StringValue(s) if looks_like_json(s) => {
                        serde_json::from_str::<J>(s).ok()
                    }
                    Value::StringValue(_) => None,
                    Value::KvlistValue(_) | Value::ArrayValue(_) => Some(to_json_value(value)),
                    _ => None,
                };
                self.json.push((attr, parsed));
                self.json.len() - 1
            }
        };
        self.json[pos].1.as_ref()
    }

    /// The value `src` gives column `col`, if any. Inlined, so the sources a span lacks (most
    /// sources of most rules) cost no call.
    #[inline(always)]
    fn extract(
        &mut self,
        ctx: &Ctx<'_>,
        src: &Src,
        slot: usize,
        kind: Kind,
        col: Col,
    ) -> Option<Val> {
        if self.absent(ctx, src, slot) {
            return None;
        }
        self.read_source(ctx, src, slot, kind, col)
    }

    fn read_source(
        &mut self,
        ctx: &Ctx<'_>,
        src: &Src,
        slot: usize,
        kind: Kind,
        col: Col,
    ) -> Option<Val> {
        let val = match src.at {
            At::Span => {
                let i = self.at_slot(slot)?;
                let value = attr_value(&ctx.attrs[i])?;
                self.read_value(ctx, src, value, Some(i as u32), kind, col)?
            }
            At::Resource => {
                let kv = ctx.resource.iter().find(|kv| kv.key == src.key)?;
                let value = attr_value(kv)?;
                self.read_value(ctx, src, value, None, kind, col)?
            }
            At::Event(name) => {
                let event = ctx.span.events.iter().find(|e| e.name == name)?;
                let kv = event.attributes.iter().find(|kv| kv.key == src.key)?;
                let value = attr_value(kv)?;
                self.read_value(ctx, src, value, None, kind, col)?
            }
            At::SpanPrefix => self.read_prefix(ctx, src, slot, kind)?,
            At::Events => read_events(ctx, src, kind)?,
        };
        if let Val::Text(t) = &val
            && is_placeholder(col, t)
        {
            return None;
        }
        Some(val)
    }

    fn read_value(
        &mut self,
        ctx: &Ctx<'_>,
        src: &Src,
        value: &Value,
        attr: Option<u32>,
        kind: Kind,
        col: Col,
    ) -> Option<Val> {
        match src.get {
            Get::Value => {
                // The big text columns move the attribute's string instead of copying it.
                if matches!(col, Col::Input | Col::Output)
                    && let (Some(i), Value::StringValue(s)) = (attr, value)
                {
                    return (!s.is_empty()).then_some(Val::Move(i));
                }
                convert_value(value, kind)
            }
            Get::Norm(map) => {
                let text = as_text(value)?;
                let lower = text.trim().to_ascii_lowercase();
                let mapped = map
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(&lower))
                    .map(|(_, v)| *v);
                Some(Val::Text(mapped.map(str::to_string).unwrap_or(lower)))
            }
            Get::Vocab(map) => {
                let text = as_text(value)?;
                let text = text.trim();
                let (_, v) = map.iter().find(|(k, _)| k.eq_ignore_ascii_case(text))?;
                convert_str(v, kind)
            }
            Get::JsonVocab(map) => {
                let decoded: String = serde_json::from_str(as_text(value)?.trim()).ok()?;
                let decoded = decoded.trim();
                let (_, v) = map.iter().find(|(k, _)| k.eq_ignore_ascii_case(decoded))?;
                convert_str(v, kind)
            }
            Get::Const(c) => {
                as_text(value)?;
                convert_str(c, kind)
            }
            Get::Json(path)
            | Get::JsonOrFalse(path)
            | Get::JsonIfHas(path, _)
            | Get::JsonIfLacks(path, _) => self.read_json(src.get, path, value, attr, kind),
            Get::Seconds => secs_to_ns(as_f64(value)?, 1e9),
            Get::Millis => secs_to_ns(as_f64(value)?, 1e6),
            Get::SinceStart => since_start(value, ctx.span.start_time_unix_nano),
            Get::Entries => entries(value).map(Val::Map),
            Get::SemconvInput => {
                let instructions = self
                    .lookup("gen_ai.system_instructions")
                    .and_then(|i| attr_value(&ctx.attrs[i]));
                if let Some(instr) = instructions
                    && let Some(merged) = messages::merge_system_instructions(value, instr)
                {
                    return Some(Val::Text(merged));
                }
                match (attr, value) {
                    (Some(i), Value::StringValue(s)) => (!s.is_empty()).then_some(Val::Move(i)),
                    _ => convert_value(value, kind),
                }
            }
            // Prefix and event extractors do not apply to a single value.
            Get::Unflatten
            | Get::Texts(_)
            | Get::Suffix
            | Get::EventSinceStart
            | Get::InputEvents
            | Get::ChoiceEvents
            | Get::EventField(_) => None,
        }
    }

    /// The `Json*` extractors: the value at `path` of the JSON document (an attribute's decoded
    /// once per span and cached), when the document has the shape the extractor asks for.
    fn read_json(
        &mut self,
        get: Get,
        path: &[&str],
        value: &Value,
        attr: Option<u32>,
        kind: Kind,
    ) -> Option<Val> {
        let or_false = matches!(get, Get::JsonOrFalse(_));
        let shape = |doc: &J| match get {
            Get::JsonIfHas(_, key) => doc.get(key).is_some(),
            Get::JsonIfLacks(_, key) => doc.get(key).is_none(),
            _ => true,
        };
        let parsed: J = match attr {
            Some(i) => {
                let doc = self.json_of(i, value)?;
                if !shape(doc) {
                    return None;
                }
                doc.clone_path(path, or_false)?
            }
            None => {
                let owned = match value {
                    Value::StringValue(s) => serde_json::from_str::<J>(s).ok()?,
                    other => to_json_value(other),
                };
                if !shape(&owned) {
                    return None;
                }
                owned.clone_path(path, or_false)?
            }
        };
        convert_json(&parsed, kind)
    }

    fn read_prefix(&mut self, ctx: &Ctx<'_>, src: &Src, slot: usize, kind: Kind) -> Option<Val> {
        let prefix = src.key;
        let ids = self.prefixed(slot);
        if ids.is_empty() {
            return None;
        }
        let entries = ids.iter().filter_map(|&i| {
            let kv = &ctx.attrs[i as usize];
            Some((&kv.key[prefix.len()..], attr_value(kv)?))
        });
        match src.get {
            Get::Unflatten => {
                let json = messages::unflatten(entries)?;
                convert_json(&json, kind)
            }
            Get::Texts(field) => {
                let mut texts: Vec<(usize, String)> = entries
                    .filter_map(|(rest, v)| {
                        let (idx, path) = messages::split_index(rest)?;
                        (path == field).then(|| as_text(v).map(|t| (idx, t.into_owned())))?
                    })
                    .collect();
                if texts.is_empty() {
                    return None;
                }
                texts.sort_by_key(|(i, _)| *i);
                let texts: Vec<String> = texts.into_iter().map(|(_, t)| t).collect();
                Some(texts_to(texts, kind))
            }
            Get::Suffix => {
                let map: Vec<(String, String)> = entries
                    .filter(|(rest, _)| !rest.is_empty())
                    .map(|(rest, v)| (rest.to_string(), decode_quoted(v)))
                    .collect();
                (!map.is_empty()).then_some(Val::Map(map))
            }
            Get::Const(c) => {
                let any = entries
                    .into_iter()
                    .any(|(rest, _)| messages::split_index(rest).is_some());
                if any { convert_str(c, kind) } else { None }
            }
            _ => None,
        }
    }
}

fn read_events(ctx: &Ctx<'_>, src: &Src, kind: Kind) -> Option<Val> {
    let events = &ctx.span.events;
    match src.get {
        Get::EventSinceStart => {
            let first = events
                .iter()
                .filter(|e| e.name == src.key)
                .map(|e| e.time_unix_nano)
                .min()?;
            let start = ctx.span.start_time_unix_nano;
            (first >= start && first > 0).then(|| Val::U64(first - start))
        }
        Get::InputEvents => convert_json(&messages::input_events(events)?, kind),
        Get::ChoiceEvents => convert_json(&messages::choice_events(events)?, kind),
        Get::EventField(field) => {
            let texts: Vec<String> = events
                .iter()
                .filter(|e| e.name == src.key)
                .filter_map(|e| {
                    let kv = e.attributes.iter().find(|kv| kv.key == field)?;
                    Some(as_text(attr_value(kv)?)?.into_owned())
                })
                .collect();
            (!texts.is_empty()).then(|| texts_to(texts, kind))
        }
        _ => None,
    }
}

fn looks_like_json(s: &str) -> bool {
    matches!(s.trim_start().as_bytes().first(), Some(b'{' | b'[' | b'"'))
}

trait ClonePath {
    fn clone_path(&self, path: &[&str], or_false: bool) -> Option<J>;
}

impl ClonePath for J {
    fn clone_path(&self, path: &[&str], or_false: bool) -> Option<J> {
        let mut cur = self;
        for seg in path {
            // A numeric segment indexes an array (`choices.0.finish_reason`).
            let next = match (cur, seg.parse::<usize>()) {
                (J::Array(items), Ok(i)) => items.get(i),
                _ => cur.get(*seg),
            };
            match next {
                Some(next) => cur = next,
                None if or_false && self.is_object() => return Some(J::Bool(false)),
                None => return None,
            }
        }
        Some(cur.clone())
    }
}

fn secs_to_ns(v: f64, scale: f64) -> Option<Val> {
    f64_to_u64((v * scale).round()).map(Val::U64)
}

fn texts_to(texts: Vec<String>, kind: Kind) -> Val {
    match kind {
        Kind::List => Val::List(texts),
        _ if texts.len() == 1 => Val::Text(texts.into_iter().next().unwrap_or_default()),
        _ => Val::Text(serde_json::to_string(&texts).unwrap_or_default()),
    }
}

/// A string value that is itself JSON-quoted (`"\"e_workflow\""`) is decoded; anything else is
/// rendered as text.
fn decode_quoted(v: &Value) -> String {
    if let Value::StringValue(s) = v {
        if s.starts_with('"')
            && let Ok(decoded) = serde_json::from_str::<String>(s)
        {
            return decoded;
        }
        return s.clone();
    }
    super::value::value_to_string(v)
}

fn json_text(v: J) -> String {
    match v {
        J::String(s) => s,
        J::Null => String::new(),
        other => other.to_string(),
    }
}

fn convert_str(s: &str, kind: Kind) -> Option<Val> {
    match kind {
        Kind::Text => Some(Val::Text(s.to_string())),
        Kind::U64 | Kind::Nanos => parse_u64(s).map(Val::U64),
        Kind::F64 => parse_f64(s).map(Val::F64),
        Kind::Bool => parse_bool(s).map(Val::Bool),
        Kind::List => Some(Val::List(vec![s.to_string()])),
        Kind::Map => None,
    }
}

fn convert_value(value: &Value, kind: Kind) -> Option<Val> {
    match kind {
        Kind::Text => as_text(value).map(|t| Val::Text(t.into_owned())),
        Kind::U64 | Kind::Nanos => as_u64(value).map(Val::U64),
        Kind::F64 => as_f64(value).map(Val::F64),
        Kind::Bool => as_bool(value).map(Val::Bool),
        Kind::List => {
            let list: Vec<String> = match value {
                Value::ArrayValue(arr) => arr
                    .values
                    .iter()
                    .filter_map(|v| v.value.as_ref().and_then(as_text).map(|t| t.into_owned()))
                    .collect(),
                Value::StringValue(s) => list_from_str(s),
                other => as_text(other)
                    .map(|t| vec![t.into_owned()])
                    .unwrap_or_default(),
            };
            (!list.is_empty()).then_some(Val::List(list))
        }
        Kind::Map => None,
    }
}

/// A list sent as text: a JSON array (`'["stop"]'`, Logfire), comma-separated, or one value.
fn list_from_str(s: &str) -> Vec<String> {
    let t = s.trim();
    if t.is_empty() {
        return Vec::new();
    }
    if t.starts_with('[')
        && let Ok(J::Array(items)) = serde_json::from_str::<J>(t)
    {
        return items
            .into_iter()
            .filter(|v| !v.is_null())
            .map(json_text)
            .collect();
    }
    if t.contains(',') {
        return t
            .split(',')
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect();
    }
    vec![t.to_string()]
}

fn convert_json(v: &J, kind: Kind) -> Option<Val> {
    match kind {
        Kind::Text => match v {
            J::Null => None,
            J::String(s) if s.is_empty() => None,
            J::String(s) => Some(Val::Text(s.clone())),
            other => Some(Val::Text(other.to_string())),
        },
        Kind::U64 | Kind::Nanos => match v {
            J::Number(n) => n
                .as_u64()
                .or_else(|| n.as_f64().and_then(f64_to_u64))
                .map(Val::U64),
            J::String(s) => parse_u64(s).map(Val::U64),
            _ => None,
        },
        Kind::F64 => match v {
            J::Number(n) => n.as_f64().filter(|f| f.is_finite()).map(Val::F64),
            J::String(s) => parse_f64(s).map(Val::F64),
            _ => None,
        },
        Kind::Bool => match v {
            J::Bool(b) => Some(Val::Bool(*b)),
            J::String(s) => parse_bool(s).map(Val::Bool),
            _ => None,
        },
        Kind::List => match v {
            J::Array(items) => {
                let list: Vec<String> = items
                    .iter()
                    .filter(|v| !v.is_null())
                    .map(|v| json_text(v.clone()))
                    .collect();
                (!list.is_empty()).then_some(Val::List(list))
            }
            J::String(s) => {
                let list = list_from_str(s);
                (!list.is_empty()).then_some(Val::List(list))
            }
            J::Null => None,
            other => Some(Val::List(vec![other.to_string()])),
        },
        Kind::Map => match v {
            J::Object(map) => Some(Val::Map(
                map.iter()
                    .map(|(k, v)| (k.clone(), json_text(v.clone())))
                    .collect(),
            )),
            _ => None,
        },
    }
}

/// A timestamp (RFC 3339, optionally JSON-quoted) as nanoseconds after the span's start.
fn since_start(value: &Value, start: u64) -> Option<Val> {
    let text = as_text(value)?;
    let text = text.trim();
    let unquoted = if text.starts_with('"') {
        serde_json::from_str::<String>(text).ok()?
    } else {
        text.to_string()
    };
    let t = parse_rfc3339_nanos(&unquoted)?;
    (t >= start).then(|| Val::U64(t - start))
}

/// A map entry per member of a kvlist or of a JSON object given as text.
fn entries(value: &Value) -> Option<Vec<(String, String)>> {
    Some(match value {
        Value::KvlistValue(kv) => kv
            .values
            .iter()
            .map(|kv| {
                let text = attr_value(kv)
                    .map(super::value::value_to_string)
                    .unwrap_or_default();
                (kv.key.clone(), text)
            })
            .collect(),
        Value::StringValue(s) => match serde_json::from_str::<J>(s).ok()? {
            J::Object(map) => map.into_iter().map(|(k, v)| (k, json_text(v))).collect(),
            _ => return None,
        },
        _ => return None,
    })
}

/// RFC 3339 (`2026-11-25T08:16:56.225871Z`, `…+02:00`, `T`, `t` or a space between date and
/// time, any number of fraction digits, leap seconds) → Unix ns; `None` when invalid or before
/// 1970. A date-time without a zone (ISO 8601 local time) is taken as UTC.
pub fn parse_rfc3339_nanos(s: &str) -> Option<u64> {
    use time::OffsetDateTime;
    use time::format_description::well_known::Rfc3339;
    // A zone appended makes only a zoneless date-time valid (any other input stays invalid).
    let parsed = OffsetDateTime::parse(s, &Rfc3339)
        .or_else(|_| OffsetDateTime::parse(&format!("{s}Z"), &Rfc3339));
    u64::try_from(parsed.ok()?.unix_timestamp_nanos()).ok()
}
