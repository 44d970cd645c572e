#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz, clang + ASan/UBSan) into build-fuzz/ and runs each
# for a bounded time, starting from its committed seed corpus tests/fuzz/corpus/<target>/.
# Fails when any target finds a crash, a leak, undefined behaviour, a timeout or runs out of
# memory; the reproducer is left in build-fuzz/artifacts/ and its path is printed.
#   scripts/fuzz.sh [SECONDS_PER_TARGET [TARGET...]]     (default 60 s, every target)
# Targets run $(nproc) at a time. New inputs they find go to build-fuzz/corpus/<target>/, not
# to the committed corpus (copy the interesting ones there by hand).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET=${1:-60}
shift || true
BUILD_DIR=${EVO2_FUZZ_BUILD_DIR:-build-fuzz}

if [[ ! -f "$BUILD_DIR/CMakeCache.txt" ]]; then
  GEN=()
  if command -v ninja >/dev/null; then GEN=(-G Ninja); fi
  CC=clang CXX=clang++ cmake "${GEN[@]}" -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DEVO2_FUZZ=ON -DEVO2_ENABLE_CUDA=OFF -DEVO2_BUILD_BENCH=OFF >/dev/null
fi
cmake --build "$BUILD_DIR" --target evo2_fuzzers --parallel "$(nproc)"

targets=("$@")
if ((${#targets[@]} == 0)); then
  for src in tests/fuzz/*_fuzz.cc; do targets+=("$(basename "$src" .cc)"); done
fi
mkdir -p "$BUILD_DIR/artifacts" "$BUILD_DIR/logs"
rm -f "$BUILD_DIR"/logs/*.rc

run_one() {
  local t=$1 work="$BUILD_DIR/corpus/$1"
  mkdir -p "$work"
  # -rss_limit_mb: a parser that allocates 2 GB for a small input is a bug (CI has 24 GB for 2
  # runs). -timeout: one input taking 10 s is a hang. Input length is libFuzzer's default, the
  # larger of 4 KiB and the largest seed (the DCP .metadata seed is 30 KB).
  # ASan's leak check is on by default; UBSan halts (built with -fno-sanitize-recover).
  local rc=0
  "$BUILD_DIR/tests/fuzz/$t" -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=2048 \
    -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$BUILD_DIR/artifacts/$t-" "$work" "tests/fuzz/corpus/$t" \
    >"$BUILD_DIR/logs/$t.log" 2>&1 || rc=$?
  echo "$rc" >"$BUILD_DIR/logs/$t.rc"
}

for t in "${targets[@]}"; do
  while (($(jobs -rp | wc -l) >= $(nproc))); do wait -n || true; done
  run_one "$t" &
done
wait
failed=()
for t in "${targets[@]}"; do
  if [[ "$(cat "$BUILD_DIR/logs/$t.rc" 2>/dev/null)" != 0 ]]; then failed+=("$t"); fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$BUILD_DIR/logs/$t.log" | grep -o '[0-9]*$' || echo "?")
  echo "fuzz: $t: ${runs} executions in ${SECONDS_PER_TARGET} s" >&2
done
if ((${#failed[@]})); then
  for t in "${failed[@]}"; do
    echo "fuzz: $t FAILED; log $BUILD_DIR/logs/$t.log, reproducer:" >&2
    ls "$BUILD_DIR/artifacts/$t-"* >&2 || true
    grep -m1 -A30 -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error' "$BUILD_DIR/logs/$t.log" >&2 || tail -30 "$BUILD_DIR/logs/$t.log" >&2
  done
  exit 1
fi
echo "fuzz: all ${#targets[@]} targets clean" >&2
