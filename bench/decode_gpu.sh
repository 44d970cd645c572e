#!/usr/bin/env bash
# The cached-state decode step's GPU checks and figures in one call (bench/RESULTS.md,
# "cached-state decoding"): the decode tests, the decode benchmark with its A/B rows, the decode
# program's per-phase clocks and the weight-stream probe.
#
#   bench/decode_gpu.sh pack          # here: build build-cuda and build-cuda-trace (the same tree
#                                     #   with -DEVO2_DECODE_PROGRAM_TRACE=ON), pack executables,
#                                     #   libraries and the golden cases the repository lacks into
#                                     #   .gpu/decode (ignored; about 24 MB)
#   bench/decode_gpu.sh run [DIR]     # there: unpack, run everything; logs under $OUT, a short
#                                     #   summary on stdout
# Carry .gpu/decode. Environment for run: MODELS (default 1b,7b), SKIP_TESTS=1, SKIP_STREAM=1,
# FIGURES=1 to add the figures bench/RESULTS.md reports for generation: batch 1 and 32 with
# time to first token after an 8 192-token prompt (1b, 7b, 7b+full-fp8), and the reference
# code's decode rate on the same card (bench/vortex_decode.py), when pack found a vortex
# checkout in .ref/vortex (its vortex/ and configs/ travel, ≈ 0.5 MB).
set -uo pipefail
mode=${1:-run}
root=$(cd "$(dirname "$0")/.." && pwd)
tests=(cuda_decode_program_test cuda_decode_golden_test cuda_hf_decode_golden_test decode_kernels_test)

if [ "$mode" = pack ]; then
  set -e
  build=${BUILD_DIR:-$root/build-cuda}
  trace_build=${TRACE_BUILD_DIR:-$root/build-cuda-trace}
  [ -f "$build/build.ninja" ] || cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release
  [ -f "$trace_build/build.ninja" ] || cmake -S "$root" -B "$trace_build" -G Ninja \
    -DCMAKE_BUILD_TYPE=Release -DEVO2_DECODE_PROGRAM_TRACE=ON
  ninja -C "$build" -j2 "${tests[@]}" evo2_decode_bench evo2_stream_bench
  ninja -C "$trace_build" -j2 evo2_decode_bench
  ship=$root/.gpu/decode
  stage=$root/.gpu/decode-stage
  rm -rf "$stage" "$ship" && mkdir -p "$stage" "$ship"
  exes=()
  for t in "${tests[@]}"; do exes+=("$(find "$build/tests" -name "$t" -type f -executable | head -1)"); done
  "${PACK_FOR_GPU:-$root/../shared/tools/pack-for-gpu.sh}" "$stage" "${exes[@]}" \
    "$build/bench/cuda/evo2_decode_bench" "$build/bench/cuda/evo2_stream_bench"
  cp "$trace_build/bench/cuda/evo2_decode_bench" "$stage/bin/evo2_decode_bench_trace"
  strip "$stage"/bin/*
  # -9e: the executables share most of their code, which a large window finds (≈ 13 MB, not 28).
  (cd "$stage" && tar -cf - bin lib | xz -T2 -9e > "$ship/binlib.tar.xz")
  # The decode goldens the repository's subset lacks: c_7blike32's 500-token record.
  src=$root/../shared/golden/c_7blike32
  if [ -d "$src" ]; then
    (cd "$src/.." && tar -cf - c_7blike32/model.pt c_7blike32/config.yml c_7blike32/input.fa \
      c_7blike32/len00500.tokens.npy c_7blike32/len00500.logits.npy \
      c_7blike32/len00500.decode_from300.logits.npy | xz -T2 -6 > "$ship/golden.tar.xz")
  fi
  if [ -d "$root/.ref/vortex/vortex" ]; then
    (cd "$root/.ref" && tar -cf - vortex/vortex vortex/configs | xz -T2 -6 > "$ship/vortex.tar.xz")
  fi
  { git -C "$root" rev-parse HEAD; git -C "$root" status --short -- kernels engine/src/cuda bench/cuda; } \
    > "$ship/commit.txt"
  rm -rf "$stage"
  du -sh "$ship"
  exit 0
fi

ship=${2:-$root/.gpu/decode}
out=${OUT:-/tmp/evo2-decode-out}
work=/tmp/evo2-decode
mkdir -p "$out" "$work/golden"
tar -xJf "$ship/binlib.tar.xz" -C "$work" || exit 1
[ -f "$ship/golden.tar.xz" ] && tar -xJf "$ship/golden.tar.xz" -C "$work/golden"
cp -rn "$root"/tests/data/golden/. "$work/golden/" 2>/dev/null
export LD_LIBRARY_PATH=$work/lib EVO2_GOLDEN_DIR=$work/golden
bin=$work/bin
models=${MODELS:-1b,7b}
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.limit --format=csv > "$out/nvidia-smi.txt" 2>&1
cp "$ship/commit.txt" "$out/" 2>/dev/null

# Each step's log under $OUT; its exit status and wall time in the summary.
step() {
  local name=$1; shift
  local t0=$SECONDS
  "$@" > "$out/$name.log" 2>&1
  local rc=$?
  echo "== $name: rc=$rc ($((SECONDS - t0)) s)" >> "$out/summary.txt"
}
if [ "${SKIP_TESTS:-0}" != 1 ]; then
  for t in "${tests[@]}"; do
    step "$t" "$bin/$t"
    grep -E "^\[  (PASSED|FAILED)  \]|^\[  SKIPPED \] [0-9]+ test" "$out/$t.log" >> "$out/summary.txt"
  done
fi
step decode_bench "$bin/evo2_decode_bench" --models "$models" --batches 1 --ab --ttft-prompt 0
step decode_bench_trace "$bin/evo2_decode_bench_trace" --models "$models" --batches 1 \
  --ttft-prompt 0 --trace
[ "${SKIP_STREAM:-0}" = 1 ] ||
  step stream_bench "$bin/evo2_stream_bench" --stages 3,6 --in-flight 0,2,3
if [ "${FIGURES:-0}" = 1 ]; then
  step figures_bench "$bin/evo2_decode_bench" --models 1b,7b,7b+full-fp8 --batches 1,32 \
    --ttft-prompt 8192
  if [ -f "$ship/vortex.tar.xz" ]; then
    tar -xJf "$ship/vortex.tar.xz" -C "$work"
    step vortex_decode python3 "$root/bench/vortex_decode.py" --vortex "$work/vortex" \
      --shapes tiny,1b,7b
  else
    echo "== vortex_decode: not run (no .ref/vortex when packed)" >> "$out/summary.txt"
  fi
fi

echo "== $(tail -1 "$out/nvidia-smi.txt"); packed from $(head -1 "$out/commit.txt" 2>/dev/null)"
cat "$out/summary.txt"
grep -hE -A3 'Failure' "$out"/*_test.log 2>/dev/null | head -40
grep -hE 'rel-L2|logits error' "$out"/cuda_decode_*test.log 2>/dev/null | head -20
for log in decode_bench decode_bench_trace stream_bench figures_bench vortex_decode; do
  [ -f "$out/$log.log" ] && { echo "== $log"; cat "$out/$log.log"; }
done
