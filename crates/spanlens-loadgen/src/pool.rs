//! A pool of encoded request bodies, built before the timed phase, so the load generator spends
//! its time sending rather than generating and encoding.
//!
//! Bodies are reused, but never sent twice with the same ids: each use gets a fresh key (from the
//! use number and a per-run nonce), and every trace id and span id in the body is XOR-ed with it
//! at offsets found once when the pool is built. The same key on a trace id and on all its
//! span/parent ids keeps every tree intact. The content is a function of the seed; the ids differ
//! on every run, so repeated runs against one database never collide.

use std::collections::HashSet;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use prost::Message;
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::corpus::{CorpusConfig, Generator};

/// One encoded `ExportTraceServiceRequest` and where its ids are.
pub struct Body {
    pub bytes: Bytes,
    pub spans: u64,
    pub traces: u64,
    trace_id_offsets: Vec<u32>,
    span_id_offsets: Vec<u32>,
}

pub struct Pool {
    pub bodies: Vec<Body>,
    /// Mixed into every key: ids differ between runs with the same seed.
    run_nonce: u64,
}

/// One ready-to-send body.
pub struct Instance {
    pub bytes: Bytes,
    pub spans: u64,
    /// Index of its body in the pool (where its ids are).
    body: usize,
}

impl Pool {
    /// Generates `count` distinct bodies from `seed`. Timestamps end near the current time.
    pub fn build(seed: u64, count: usize, corpus: &CorpusConfig) -> anyhow::Result<Pool> {
        let now_ns = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos() as u64;
        let mut generator = Generator::new(StdRng::seed_from_u64(seed), corpus.clone(), now_ns);
        let mut bodies = Vec::with_capacity(count);
        for _ in 0..count.max(1) {
            let g = generator.request();
            let bytes = g.request.encode_to_vec();
            let trace_ids: HashSet<[u8; 16]> = g.trace_ids.iter().copied().collect();
            let span_ids: HashSet<[u8; 8]> = g.span_ids.iter().copied().collect();
            let (trace_id_offsets, span_id_offsets) = find_ids(&bytes, &trace_ids, &span_ids);
            // Every span has a trace id and a span id; every non-root span has a parent id.
            let expected_span_refs = 2 * g.spans - g.root_spans;
            anyhow::ensure!(
                trace_id_offsets.len() == g.spans && span_id_offsets.len() == expected_span_refs,
                "id scan found {} trace ids / {} span ids, expected {} / {}",
                trace_id_offsets.len(),
                span_id_offsets.len(),
                g.spans,
                expected_span_refs
            );
            bodies.push(Body {
                bytes: Bytes::from(bytes),
                spans: g.spans as u64,
                traces: g.traces as u64,
                trace_id_offsets,
                span_id_offsets,
            });
        }
        let run_nonce = splitmix64(now_ns ^ u64::from(std::process::id()).rotate_left(32));
        Ok(Pool { bodies, run_nonce })
    }

    pub fn total_spans(&self) -> u64 {
        self.bodies.iter().map(|b| b.spans).sum()
    }

    pub fn total_bytes(&self) -> u64 {
        self.bodies.iter().map(|b| b.bytes.len() as u64).sum()
    }

    pub fn total_traces(&self) -> u64 {
        self.bodies.iter().map(|b| b.traces).sum()
    }

    /// The body for the `n`-th request of the run, with ids unique to `n`.
    pub fn instance(&self, n: u64) -> Instance {
        let index = (n % self.bodies.len() as u64) as usize;
        let body = &self.bodies[index];
        let round = n / self.bodies.len() as u64;
        let k1 = splitmix64(round ^ self.run_nonce);
        let k2 = splitmix64(k1 ^ 0x5bd1_e995_5bd1_e995);
        let mut buf = body.bytes.to_vec();
        for &off in &body.trace_id_offsets {
            xor(&mut buf[off as usize..off as usize + 8], k1);
            xor(&mut buf[off as usize + 8..off as usize + 16], k2);
        }
        for &off in &body.span_id_offsets {
            xor(&mut buf[off as usize..off as usize + 8], k1 ^ k2);
        }
        Instance {
            bytes: Bytes::from(buf),
            spans: body.spans,
            body: index,
        }
    }

    /// The traces of an instance as (trace id hex, spans in it), in first-seen order.
    pub fn traces(&self, instance: &Instance) -> Vec<(String, u64)> {
        let mut traces: Vec<(String, u64)> = Vec::new();
        for &off in &self.bodies[instance.body].trace_id_offsets {
            let id = hex::encode(&instance.bytes[off as usize..off as usize + 16]);
            match traces.iter_mut().find(|(t, _)| *t == id) {
                Some((_, spans)) => *spans += 1,
                None => traces.push((id, 1)),
            }
        }
        traces
    }
}

fn xor(bytes: &mut [u8], key: u64) {
    for (b, k) in bytes.iter_mut().zip(key.to_le_bytes()) {
        *b ^= k;
    }
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Offsets of the id bytes of Span.trace_id (field 1), Span.span_id (2) and Span.parent_span_id
/// (4) in an encoded request: a field tag, the length byte, then one of our ids. The ids are
/// random, so nothing else in the body matches by accident.
fn find_ids(
    buf: &[u8],
    trace_ids: &HashSet<[u8; 16]>,
    span_ids: &HashSet<[u8; 8]>,
) -> (Vec<u32>, Vec<u32>) {
    let mut traces = Vec::new();
    let mut spans = Vec::new();
    let mut i = 0;
    while i + 2 < buf.len() {
        match (buf[i], buf[i + 1]) {
            (0x0a, 16) if i + 18 <= buf.len() => {
                let id: [u8; 16] = buf[i + 2..i + 18].try_into().unwrap();
                if trace_ids.contains(&id) {
                    traces.push((i + 2) as u32);
                    i += 18;
                    continue;
                }
            }
            (0x12 | 0x22, 8) if i + 10 <= buf.len() => {
                let id: [u8; 8] = buf[i + 2..i + 10].try_into().unwrap();
                if span_ids.contains(&id) {
                    spans.push((i + 2) as u32);
                    i += 10;
                    continue;
                }
            }
            _ => {}
        }
        i += 1;
    }
    (traces, spans)
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::trace::v1::Span;
    use std::collections::HashMap;

    fn spans(bytes: &[u8]) -> Vec<Span> {
        let r = ExportTraceServiceRequest::decode(bytes).unwrap();
        r.resource_spans
            .into_iter()
            .flat_map(|rs| rs.scope_spans)
            .flat_map(|ss| ss.spans)
            .collect()
    }

    #[test]
    fn reuse_gives_fresh_ids_and_keeps_trees() {
        let corpus = CorpusConfig {
            spans_per_request: 50,
            llm_error_rate: 0.05,
            tool_error_rate: 0.05,
        };
        let pool = Pool::build(1, 2, &corpus).unwrap();
        let first = spans(&pool.instance(0).bytes);
        let other_run = Pool::build(1, 2, &corpus).unwrap();
        let first_elsewhere = spans(&other_run.instance(0).bytes);
        assert_eq!(
            first[0].attributes, first_elsewhere[0].attributes,
            "content depends on the seed only"
        );
        assert_ne!(
            first[0].span_id, first_elsewhere[0].span_id,
            "ids differ between runs"
        );
        let again = spans(&pool.instance(2).bytes); // same body, second round
        let third = spans(&pool.instance(4).bytes);
        assert_eq!(first.len(), again.len());
        let mut seen = HashSet::new();
        for set in [&first, &again, &third] {
            for s in set.iter() {
                assert!(
                    seen.insert(s.span_id.clone()),
                    "span id reused across rounds"
                );
            }
        }
        for (a, b) in first.iter().zip(&again) {
            assert_eq!(a.name, b.name);
            assert_eq!(a.attributes, b.attributes);
            assert_ne!(a.trace_id, b.trace_id);
        }
        let by_id: HashMap<&[u8], &Span> =
            again.iter().map(|s| (s.span_id.as_slice(), s)).collect();
        for s in &again {
            if !s.parent_span_id.is_empty() {
                assert_eq!(
                    by_id[s.parent_span_id.as_slice()].trace_id,
                    s.trace_id,
                    "parent link survives re-keying"
                );
            }
        }
    }
}
