//! `spanlens::shutdown().await` waits for the last export on the SDK's own threads: on a
//! current-thread runtime, other tasks keep running while it is awaited.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use spanlens::{ObservationType, Protocol};

#[test]
fn awaiting_shutdown_leaves_the_runtime_free() {
    // Accepts connections (the kernel's backlog) but never answers: the export waits for its
    // timeout.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let _guard = spanlens::builder()
            .endpoint(format!("http://{addr}"))
            .protocol(Protocol::HttpProtobuf)
            .export_timeout(Duration::from_millis(600))
            .batch_delay(Duration::from_secs(60)) // only shutdown exports
            .init()
            .unwrap();
        spanlens::observe_sync("step", ObservationType::Span, || ());

        let ticks = Arc::new(AtomicU64::new(0));
        let counter = ticks.clone();
        let ticker = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(5)).await;
                counter.fetch_add(1, Ordering::SeqCst);
            }
        });
        let started = Instant::now();
        let _ = spanlens::shutdown().await; // the export times out; not what is checked here
        let waited = started.elapsed();
        let ticked = ticks.load(Ordering::SeqCst);
        ticker.abort();
        assert!(
            waited >= Duration::from_millis(500),
            "shutdown waited for the export: {waited:?}"
        );
        assert!(
            ticked >= 40,
            "only {ticked} ticks in {waited:?}: awaiting shutdown blocked the runtime"
        );
    });
    drop(silent);
}
