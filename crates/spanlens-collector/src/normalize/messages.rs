//! Rebuilding message lists from the shapes instrumentations flatten them into: indexed
//! attributes (`llm.input_messages.0.message.role`, `gen_ai.prompt.0.content`), GenAI message
//! span events, and `gen_ai.system_instructions` kept apart from `gen_ai.input.messages`.

use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value::Value};
use opentelemetry_proto::tonic::trace::v1::span::Event;
use serde_json::{Map, Value as J};

use super::value::to_json_value;

/// OpenInference wraps each list element in a level named after its type
/// (`llm.input_messages.0.message.role`, `…tool_calls.0.tool_call.id`,
/// `…contents.0.message_content.text`, `retrieval.documents.0.document.content`); the rebuilt
/// JSON drops that level so every convention yields `[{"role":…,"content":…}]`.
const WRAPPERS: &[&str] = &[
    "message",
    "tool_call",
    "message_content",
    "document",
    "prompt",
    "completion",
    "embedding",
];

/// Splits `rest` (the key after the list prefix) into the element index and the path below it.
pub fn split_index(rest: &str) -> Option<(usize, &str)> {
    let (idx, path) = match rest.split_once('.') {
        Some((idx, path)) => (idx, path),
        None => (rest, ""),
    };
    if idx.is_empty() || !idx.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((idx.parse().ok()?, path))
}

/// Rebuilds `[(rest-of-key, value)]` (rest = `N.a.b`) into a JSON array, elements in index order.
pub fn unflatten<'a>(entries: impl Iterator<Item = (&'a str, &'a Value)>) -> Option<J> {
    let mut root = Map::new();
    let mut any = false;
    for (rest, value) in entries {
        let Some((idx, path)) = split_index(rest) else {
            continue;
        };
        any = true;
        let v = to_json_value(value);
        let slot = root
            .entry(idx.to_string())
            .or_insert_with(|| J::Object(Map::new()));
        if path.is_empty() {
            *slot = v;
        } else {
            insert_path(slot, path, v);
        }
    }
    if !any {
        return None;
    }
    let mut arr = J::Object(root);
    arrays_from_index_maps(&mut arr);
    unwrap_wrappers(&mut arr);
    Some(arr)
}

fn insert_path(node: &mut J, path: &str, v: J) {
    let mut cur = node;
    let mut segs = path.split('.').peekable();
    while let Some(seg) = segs.next() {
        if !cur.is_object() {
            *cur = J::Object(Map::new());
        }
        let obj = cur.as_object_mut().expect("object");
        if segs.peek().is_none() {
            obj.insert(seg.to_string(), v);
            return;
        }
        cur = obj
            .entry(seg.to_string())
            .or_insert_with(|| J::Object(Map::new()));
    }
}

/// Objects whose keys are all indices become arrays (sorted by index).
fn arrays_from_index_maps(node: &mut J) {
    match node {
        J::Object(map) => {
            for v in map.values_mut() {
                arrays_from_index_maps(v);
            }
            if !map.is_empty()
                && map
                    .keys()
                    .all(|k| !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()))
            {
                let mut items: Vec<(usize, J)> = std::mem::take(map)
                    .into_iter()
                    .map(|(k, v)| (k.parse().unwrap_or(usize::MAX), v))
                    .collect();
                items.sort_by_key(|(i, _)| *i);
                *node = J::Array(items.into_iter().map(|(_, v)| v).collect());
            }
        }
        J::Array(items) => items.iter_mut().for_each(arrays_from_index_maps),
        _ => {}
    }
}

fn unwrap_wrappers(node: &mut J) {
    match node {
        J::Array(items) => {
            for item in items.iter_mut() {
                if let J::Object(map) = item
                    && map.len() == 1
                {
                    let key = map.keys().next().cloned().unwrap_or_default();
                    if WRAPPERS.contains(&key.as_str()) {
                        let inner = map.remove(&key).unwrap_or(J::Null);
                        *item = inner;
                    }
                }
                unwrap_wrappers(item);
            }
        }
        J::Object(map) => map.values_mut().for_each(unwrap_wrappers),
        _ => {}
    }
}

/// Role of a GenAI message event (`gen_ai.user.message` → `user`), if it is one.
pub fn message_event_role(name: &str) -> Option<&str> {
    let role = name.strip_prefix("gen_ai.")?.strip_suffix(".message")?;
    matches!(role, "system" | "user" | "assistant" | "tool").then_some(role)
}

fn attr_json(kv: &KeyValue) -> J {
    kv.value
        .as_ref()
        .and_then(|v| v.value.as_ref())
        .map(to_json_value)
        .unwrap_or(J::Null)
}

/// A string attribute that holds a JSON object/array is decoded (e.g. `gen_ai.event.content`,
/// `message`, `tool_calls` sent as JSON text); other strings stay strings.
fn decode_if_json(v: J) -> J {
    if let J::String(s) = &v {
        let t = s.trim_start();
        if (t.starts_with('{') || t.starts_with('['))
            && let Ok(parsed) = serde_json::from_str::<J>(s)
        {
            return parsed;
        }
    }
    v
}

const EVENT_NOISE: &[&str] = &["gen_ai.system", "gen_ai.provider.name", "event.name"];

fn event_object(attrs: &[KeyValue]) -> Map<String, J> {
    let mut obj = Map::new();
    for kv in attrs {
        if EVENT_NOISE.contains(&kv.key.as_str()) {
            continue;
        }
        let v = attr_json(kv);
        if kv.key == "gen_ai.event.content" {
            // Azure SDK / .NET style: the whole event body as JSON text.
            if let J::Object(body) = decode_if_json(v) {
                for (k, v) in body {
                    obj.entry(k).or_insert(v);
                }
                continue;
            }
            continue;
        }
        let v = if matches!(kv.key.as_str(), "tool_calls" | "message") {
            decode_if_json(v)
        } else {
            v
        };
        obj.insert(kv.key.clone(), v);
    }
    obj
}

/// `gen_ai.{system,user,assistant,tool}.message` span events → `[{role, content, ...}]`.
pub fn input_events(events: &[Event]) -> Option<J> {
    let msgs: Vec<J> = events
        .iter()
        .filter_map(|e| {
            let role = message_event_role(&e.name)?;
            let mut obj = Map::new();
            obj.insert("role".into(), J::String(role.to_string()));
            for (k, v) in event_object(&e.attributes) {
                obj.insert(k, v);
            }
            Some(J::Object(obj))
        })
        .collect();
    (!msgs.is_empty()).then_some(J::Array(msgs))
}

/// `gen_ai.choice` span events → `[{role, content, tool_calls?, finish_reason?, index?}]`.
pub fn choice_events(events: &[Event]) -> Option<J> {
    let msgs: Vec<J> = events
        .iter()
        .filter(|e| e.name == "gen_ai.choice")
        .map(|e| {
            let mut body = event_object(&e.attributes);
            let mut out = Map::new();
            match body.remove("message") {
                Some(J::Object(message)) => out.extend(message),
                Some(other) if !other.is_null() => {
                    out.insert("content".into(), other);
                }
                _ => {}
            }
            out.extend(body);
            out.entry("role")
                .or_insert_with(|| J::String("assistant".into()));
            J::Object(out)
        })
        .collect();
    (!msgs.is_empty()).then_some(J::Array(msgs))
}

/// `gen_ai.input.messages` plus `gen_ai.system_instructions`: when the message list has no
/// `system` message the instructions are prepended as `{"role":"system","parts":[…]}` (the
/// semconv part shape). Returns `None` when nothing needs merging (the caller then keeps the
/// original value untouched).
pub fn merge_system_instructions(messages: &Value, instructions: &Value) -> Option<String> {
    let mut list = match messages {
        Value::StringValue(s) => serde_json::from_str::<J>(s).ok()?,
        other => to_json_value(other),
    };
    let arr = list.as_array_mut()?;
    let has_system = arr
        .iter()
        .any(|m| m.get("role").and_then(J::as_str) == Some("system"));
    if has_system {
        return None;
    }
    let parts = match instructions {
        Value::StringValue(s) => match serde_json::from_str::<J>(s) {
            Ok(J::Array(parts)) => J::Array(parts),
            _ => J::Array(vec![serde_json::json!({"type": "text", "content": s})]),
        },
        other => match to_json_value(other) {
            J::Array(parts) => J::Array(parts),
            single => J::Array(vec![single]),
        },
    };
    arr.insert(0, serde_json::json!({"role": "system", "parts": parts}));
    serde_json::to_string(&list).ok()
}
