//! Per-span cost of the SDK on the caller's thread.
//!
//! ```sh
//! cargo run -p spanlens --example overhead              # N = 100000
//! cargo run -p spanlens --example overhead -- 20000
//! SPANLENS_ENDPOINT=http://127.0.0.1:4317 cargo run -p spanlens --example overhead   # export to a live collector
//! ```
//!
//! Measures, on the calling thread only, a full LLM span (request parameters, two input
//! messages, output text, response model/id, finish reasons, usage, inside a session scope),
//! the same span with content capture off, and a bare `observe_sync` span. Exporting happens
//! on the SDK's background thread; the queue is sized so no span is dropped during the run.
//! Without SPANLENS_ENDPOINT the export goes to a closed local port (spans are discarded after
//! the caller has paid for them). Each figure is given as wall time and, on Linux, as the
//! calling thread's CPU time, which a busy machine does not inflate.

use std::time::Instant;

use spanlens::{Message, ObservationType, Scope, Usage};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let endpoint =
        std::env::var("SPANLENS_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:9".into());
    let input = [
        Message::system("You are a travel planner. Be brief."),
        Message::user("Plan two days in Lisbon."),
    ];

    for capture in [true, false] {
        let guard = spanlens::builder()
            .endpoint(endpoint.clone())
            .service_name("overhead")
            .capture_content(capture)
            .max_queue_size(n + 1024)
            .max_export_batch_size(4096)
            .init()
            .expect("init");
        let _scope = Scope::new()
            .session_id("session-1")
            .user_id("user-1")
            .tags(["bench"])
            .attach();

        let llm_span = || {
            let span = spanlens::chat("openai", "gpt-4o-mini")
                .temperature(0.2)
                .max_tokens(300)
                .input_messages(&input)
                .start();
            span.set_response_model("gpt-4o-mini-2024-07-18");
            span.set_response_id("chatcmpl-abc123");
            span.set_output_text("Day 1: Alfama and Baixa. Day 2: Belém and LX Factory.");
            span.set_finish_reasons(["stop"]);
            span.set_usage(Usage::new(42, 17).cached(10));
            span.end();
        };
        for _ in 0..1000 {
            llm_span(); // warm up
        }
        let (t0, c0) = (Instant::now(), thread_cpu_ns());
        for _ in 0..n {
            llm_span();
        }
        println!(
            "LLM span (capture {}): {}",
            if capture { "on " } else { "off" },
            per_span(t0, c0, n)
        );

        if capture {
            let (t0, c0) = (Instant::now(), thread_cpu_ns());
            for _ in 0..n {
                spanlens::observe_sync("step", ObservationType::Span, || ());
            }
            println!("observe_sync span:      {}", per_span(t0, c0, n));
        }
        drop(_scope);
        let t0 = Instant::now();
        drop(guard); // flush: not part of the per-span figure
        println!("  (flush on drop took {:?})", t0.elapsed());
    }
    println!(
        "build profile: {}",
        if cfg!(debug_assertions) {
            "debug (unoptimized)"
        } else {
            "release"
        }
    );
}

/// CPU time of the calling thread in ns (Linux `/proc/thread-self/schedstat`): unlike wall time
/// it does not count time other processes took the core, so it stays meaningful on a busy
/// machine.
fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// "W ns/span wall, C ns/span CPU over N spans".
fn per_span(t0: Instant, cpu0: Option<u64>, n: usize) -> String {
    let wall = t0.elapsed().as_nanos() as f64 / n as f64;
    let cpu = match (cpu0, thread_cpu_ns()) {
        (Some(a), Some(b)) => format!("{:.0} ns/span CPU", (b - a) as f64 / n as f64),
        _ => "CPU time unavailable".into(),
    };
    format!("{wall:.0} ns/span wall, {cpu} over {n} spans")
}
