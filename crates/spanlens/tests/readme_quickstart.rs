//! The crate README's quick start is `examples/quickstart.rs`, verbatim; run as written — its
//! `main` in a child process (this test binary, re-run), with `SPANLENS_ENDPOINT` pointing at
//! the in-process collector — it stores the generation it describes.
//!
//! `cargo test -p spanlens --test readme_quickstart`

#[path = "../../spanlens-collector/tests/support/mod.rs"]
mod support;

use support::TestCollector;

mod quickstart {
    include!("../examples/quickstart.rs");

    pub fn run() -> Result<(), spanlens::Error> {
        main()
    }
}

/// Set in the child process: it runs the quick start's `main`.
const CHILD: &str = "SPANLENS_QUICKSTART_CHILD";

const README: &str = include_str!("../README.md");
const QUICKSTART: &str = include_str!("../examples/quickstart.rs");

#[test]
fn readme_quick_start_is_the_example() {
    let block = format!("```rust\n{QUICKSTART}```");
    assert!(
        README.contains(&block),
        "README.md must show examples/quickstart.rs verbatim in a ```rust block"
    );
}

/// Only does something in the child process.
#[test]
fn quickstart_main() {
    if std::env::var_os(CHILD).is_some() {
        quickstart::run().expect("quick start");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quick_start_runs_as_written() {
    let t = TestCollector::start("sdk_quickstart").await;
    let out = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "quickstart_main",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .env("SPANLENS_ENDPOINT", format!("http://{}", t.grpc_addr()))
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout.contains("You asked: What is OTLP?\n"), "{stdout}");

    let rows = t.spans(1).await;
    let llm = &rows[0];
    assert_eq!(
        (
            llm.name.as_str(),
            llm.observation_type.as_str(),
            llm.service_name.as_str()
        ),
        ("answer", "llm", "quickstart")
    );
    assert_eq!(
        (llm.provider.as_str(), llm.request_model.as_str()),
        ("openai", "gpt-4o-mini")
    );
    assert_eq!((llm.input_tokens, llm.output_tokens), (Some(12), Some(5)));
    assert_eq!(llm.input, r#"{"question":"What is OTLP?"}"#);
    assert_eq!(llm.output, "You asked: What is OTLP?");
    t.shutdown().await;
}
