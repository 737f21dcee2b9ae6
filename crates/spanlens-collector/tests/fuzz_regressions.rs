//! Replays the fuzz targets (src/fuzzing.rs) over their seeds and over every input a fuzzer
//! once crashed on (fuzz/regressions/<target>/), so a fixed crash stays fixed. The fuzzing
//! itself is `crates/spanlens-collector/fuzz/run.sh` (libFuzzer, bounded time per target).

use std::path::{Path, PathBuf};

use spanlens_collector::fuzzing;

fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .map(|p| (p.clone(), std::fs::read(&p).unwrap()))
        .collect();
    files.sort();
    files
}

fn regressions(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    files(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/regressions")
            .join(target),
    )
}

#[test]
fn otlp_target_on_every_fixture_and_regression() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/otlp");
    let mut replayed = 0;
    for library in std::fs::read_dir(&fixtures).unwrap() {
        for (path, body) in files(&library.unwrap().path()) {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let kind: u8 = match name.as_str() {
                n if n.contains("expected") || n.contains(".other.") || n.contains(".metrics.") => {
                    continue;
                }
                n if n.ends_with(".logs.pb") => 2,
                n if n.ends_with(".logs.json") => 3,
                n if n.ends_with(".pb") => 0,
                n if n.ends_with(".json") => 1,
                _ => continue,
            };
            fuzzing::otlp(&[&[kind][..], &body].concat());
            replayed += 1;
        }
    }
    assert!(replayed >= 40, "{replayed} fixtures");
    for (_, input) in regressions("otlp") {
        fuzzing::otlp(&input);
    }
}

#[test]
fn spool_target_on_every_regression_and_each_truncation_of_the_seed() {
    let inputs = regressions("spool");
    assert!(!inputs.is_empty());
    for (_, input) in &inputs {
        fuzzing::spool(input);
    }
    // Every prefix and every single-byte flip of the seed segment: damage at each position.
    let (_, seed) = inputs
        .iter()
        .find(|(p, _)| p.ends_with("three-records"))
        .expect("seed segment");
    for cut in 0..seed.len() {
        fuzzing::spool(&seed[..cut]);
        let mut flipped = seed.clone();
        flipped[cut] ^= 0xa5;
        fuzzing::spool(&flipped);
    }
}

#[test]
fn langfuse_target_on_every_regression_and_its_truncations() {
    let inputs = regressions("langfuse");
    assert!(!inputs.is_empty());
    for (_, input) in &inputs {
        fuzzing::langfuse(input);
        // Every prefix: envelopes and events cut anywhere.
        for cut in (0..input.len()).step_by(7) {
            fuzzing::langfuse(&input[..cut]);
        }
    }
}
