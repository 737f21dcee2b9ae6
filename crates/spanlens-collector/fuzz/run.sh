#!/usr/bin/env bash
# Runs every fuzz target for a bounded time (default 60 s each) with libFuzzer, seeded from the
# real fixtures (tests/fixtures/otlp) and the regression inputs (fuzz/regressions/<target>/, the
# Langfuse seeds among them).
#   crates/spanlens-collector/fuzz/run.sh [SECONDS_PER_TARGET]
# Needs cargo-fuzz (`cargo install cargo-fuzz`); RUSTC_BOOTSTRAP lets the stable toolchain build
# with the sanitizer flags cargo-fuzz passes. A crash leaves its input in fuzz/artifacts/<target>/:
# copy it to fuzz/regressions/<target>/ with the fix, so tests/fuzz_regressions.rs replays it.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../../.." && pwd)
seconds=${1:-60}
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
seeds=$(mktemp -d)
trap 'rm -rf "$seeds"' EXIT

# otlp: the first byte picks the decoder (0 traces protobuf, 1 traces JSON, 2 logs protobuf,
# 3 logs JSON, 4 metrics protobuf, 5 metrics JSON).
mkdir -p "$seeds/otlp" "$seeds/spool" "$seeds/langfuse"
i=0
for f in "$repo"/tests/fixtures/otlp/*/*.pb "$repo"/tests/fixtures/otlp/*/*.json; do
  case "$f" in *expected*|*.other.*) continue ;; esac
  case "$f" in
    *.metrics.pb) kind='\x04' ;; *.metrics.json) kind='\x05' ;;
    *.logs.pb) kind='\x02' ;; *.logs.json) kind='\x03' ;; *.pb) kind='\x00' ;; *) kind='\x01' ;;
  esac
  { printf "$kind"; cat "$f"; } >"$seeds/otlp/$i"; i=$((i + 1))
done
cp "$here"/regressions/otlp/* "$seeds/otlp/" 2>/dev/null || true
cp "$here"/regressions/spool/* "$seeds/spool/" 2>/dev/null || true
cp "$here"/regressions/langfuse/* "$seeds/langfuse/" 2>/dev/null || true

cd "$here/.."
for target in otlp langfuse spool; do
  RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" "$seeds/$target" -- -max_total_time="$seconds" -rss_limit_mb=2048
done
