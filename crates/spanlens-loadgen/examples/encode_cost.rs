//! Runs the bench corpus's span rows through the collector's row encoding once (normalize, then
//! `EncodedChunk::encode`, which redacts), to count its instructions under callgrind. The
//! argument is the number of request bodies (default 8; the loadgen's corpus defaults: seed 42,
//! 100 spans per request). It goes in through the `fuzzing` entry point, the one public way to
//! the encoder, so `--toggle-collect` keeps the count to the encoder itself. With the collector
//! and the search crates optimized, as in a release build (without LTO):
//!
//! ```text
//! O='--config profile.dev.package.'; cargo build -p spanlens-loadgen --example encode_cost \
//!     --features spanlens-collector/fuzzing ${O}spanlens-collector.opt-level=3 \
//!     ${O}memchr.opt-level=3 ${O}aho-corasick.opt-level=3 ${O}regex.opt-level=3 \
//!     ${O}regex-automata.opt-level=3 ${O}regex-syntax.opt-level=3
//! valgrind --tool=callgrind --toggle-collect='*EncodedChunk*encode*' \
//!     target/debug/examples/encode_cost 64
//! ```

#[allow(dead_code)]
#[path = "../src/corpus.rs"]
mod corpus;
#[allow(dead_code)]
#[path = "../src/text.rs"]
mod text;

use prost::Message;
use rand::SeedableRng;
use rand::rngs::StdRng;

fn main() {
    let bodies: usize = std::env::args()
        .nth(1)
        .map_or(8, |n| n.parse().expect("a number of request bodies"));
    let config = corpus::CorpusConfig {
        spans_per_request: 100,
        llm_error_rate: 0.03,
        tool_error_rate: 0.03,
    };
    let mut generator = corpus::Generator::new(StdRng::seed_from_u64(42), config, 1 << 60);
    let mut spans = 0;
    for _ in 0..bodies {
        let generated = generator.request();
        spans += generated.spans;
        let body = [&[0u8][..], &generated.request.encode_to_vec()].concat();
        spanlens_collector::fuzzing::otlp(&body);
    }
    println!("{spans} spans encoded");
}
