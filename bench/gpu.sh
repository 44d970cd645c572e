#!/usr/bin/env bash
# GPU tests + benchmark of the cuda backend in one call (figures: bench/RESULTS.md).
#
#   bench/gpu.sh pack              # here: build, pack executables + libraries + golden cases into
#                                  #   .gpu/ship (ignored) for the GPU machine (SHORT_GOLDEN=1:
#                                  #   without the 2048-token logits, to stay under 64 MiB)
#   bench/gpu.sh run [SHIP_DIR]    # there: unpack, run kernels_test, cuda_golden_test and the
#                                  #   benchmarks; full logs under $OUT, a short table at the end
# Environment for run: BENCH_ROWS (e.g. "7b:1x1048576"), SKIP_TESTS=1, SKIP_BENCH=1,
# SKIP_VARIANTS_BENCH=1 (evo2_variants_bench: variant scoring, 7B shape, 8 192-base windows),
# SKIP_LLAMA_BENCH=1 / LLAMA_BENCH_ROWS (evo2_llama_bench, the Llama family at the 8B shape).
# For pack: LLAMA_GOLDEN=1 ships the full l_eden_a / l_eden_b cases (≈ 10 MB; without it the
# Llama golden test checks the in-repo subset of l_eden_a only).
set -uo pipefail
mode=${1:-run}
root=$(cd "$(dirname "$0")/.." && pwd)

if [ "$mode" = pack ]; then
  set -e
  build=${BUILD_DIR:-$root/build-cuda}
  [ "${NO_BUILD:-0}" = 1 ] || ninja -C "$build" -j2 kernels_test cuda_golden_test evo2_cuda_bench \
    cudnn_attention_test cuda_gemm_runner_test cuda_fp8_gemm_test evo2_kernel_bench evo2_variants_bench \
    gqa_kernels_test cuda_llama_golden_test evo2_llama_bench
  stage=$root/.gpu/stage
  keep_golden=0
  [ "${NO_GOLDEN:-0}" = 1 ] && [ -f "$root/.gpu/ship/golden.tar.xz" ] && keep_golden=1
  rm -rf "$stage" && mkdir -p "$stage/golden" "$root/.gpu/ship"
  [ $keep_golden = 1 ] || rm -f "$root/.gpu/ship/golden.tar.xz"
  "${PACK_FOR_GPU:-$root/../shared/tools/pack-for-gpu.sh}" "$stage" "$build/tests/kernels/kernels_test" \
    "$build/tests/engine/cuda/cuda_golden_test" "$build/bench/cuda/evo2_cuda_bench" \
    "$build/tests/engine/cuda/cudnn_attention_test" "$build/tests/engine/cuda/cuda_gemm_runner_test" \
    "$build/tests/engine/cuda/cuda_fp8_gemm_test" "$build/bench/cuda/evo2_kernel_bench" \
    "$build/bench/cuda/evo2_variants_bench" "$build/tests/kernels/gqa_kernels_test" \
    "$build/tests/engine/cuda/cuda_llama_golden_test" "$build/bench/cuda/evo2_llama_bench"
  strip "$stage"/bin/*
  for c in a_tiny6 b_small10 c_7blike32; do
    [ $keep_golden = 1 ] && break
    src=$root/../shared/golden/$c
    mkdir -p "$stage/golden/$c"
    cp "$src"/model.pt "$src"/config.yml "$src"/*.tokens.npy "$src"/len?????.logits.npy \
       "$src"/*.logits_last64.npy "$src"/len?????.logprobs.npy "$src"/*hidden_after_block0.npy \
       "$src"/*.bf16run.logprobs.npy \
       "$stage/golden/$c/"
  done
  if [ "${LLAMA_GOLDEN:-0}" = 1 ] && [ $keep_golden = 0 ]; then
    for c in l_eden_a l_eden_b; do
      mkdir -p "$stage/golden/$c" && cp "$root/../shared/golden/$c"/* "$stage/golden/$c/"
    done
  fi
  # SHORT_GOLDEN=1 leaves out the 2048-token logits files (the test then checks those records on
  # log-probs only), for when the call's 64 MiB would otherwise be exceeded.
  [ "${SHORT_GOLDEN:-0}" = 1 ] && rm -f "$stage"/golden/*/len02048.logits.npy
  (cd "$stage" && tar -cf - bin lib | xz -T2 -6 > "$root/.gpu/ship/binlib.tar.xz")
  # a_tiny6 is in the repository (tests/data/golden) except its 2048-token logits: ship only
  # those for it (the call's working tree is limited to 64 MiB).
  if [ $keep_golden = 0 ] && [ -f "$root/tests/data/golden/a_tiny6/model.pt" ]; then
    find "$stage/golden/a_tiny6" -type f ! -name len02048.logits.npy ! -name '*.bf16run.logprobs.npy' -delete
  fi
  [ $keep_golden = 1 ] || (cd "$stage" && tar -cf - golden | xz -T2 -3 > "$root/.gpu/ship/golden.tar.xz")
  git -C "$root" rev-parse HEAD > "$root/.gpu/ship/commit.txt"
  git -C "$root" status --short -- kernels engine/src/cuda bench/cuda >> "$root/.gpu/ship/commit.txt"
  du -sh "$root/.gpu/ship"
  exit 0
fi

ship=${2:-$root/.gpu/ship}
out=${OUT:-/tmp/evo2-gpu-out}
work=/tmp/evo2-gpu
mkdir -p "$out" "$work"
tar -xJf "$ship/binlib.tar.xz" -C "$work" || exit 1
[ -f "$ship/golden.tar.xz" ] && tar -xJf "$ship/golden.tar.xz" -C "$work"
for c in "$root"/tests/data/golden/*/; do  # complete shipped cases from the repository's subset
  name=$(basename "$c"); mkdir -p "$work/golden/$name"; cp -rn "$c"/. "$work/golden/$name/" 2>/dev/null
done
export LD_LIBRARY_PATH=$work/lib
export EVO2_GOLDEN_DIR=$work/golden
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv \
  > "$out/nvidia-smi.txt" 2>&1
cp "$ship/commit.txt" "$out/commit.txt" 2>/dev/null || true

k=skipped; g=skipped; b=skipped
if [ "${SKIP_TESTS:-0}" != 1 ]; then
  "$work/bin/kernels_test" > "$out/kernels_test.log" 2>&1 && k=pass || k=FAIL
  # If the default (v3) attention kernel failed its unit test, run the rest with v2 and say so,
  # rather than spend the call on a known-bad kernel.
  if grep -qE '^\[  FAILED  \] AttentionKernelTest/1\.CausalAttention' "$out/kernels_test.log"; then
    export EVO2_CUDA_ATTENTION=v2
    echo "!! default attention kernel failed its test: the rest runs with EVO2_CUDA_ATTENTION=$EVO2_CUDA_ATTENTION"
  fi
  "$work/bin/cuda_golden_test" > "$out/cuda_golden_test.log" 2>&1 && g=pass || g=FAIL
  # The golden cases again with cuDNN attention forced for every shape (the default uses it only
  # where a plan pays, which the golden records' single passes rarely do).
  EVO2_CUDA_ATTENTION=cudnn "$work/bin/cuda_golden_test" > "$out/cuda_golden_test_cudnn.log" 2>&1 \
    && r=pass || r=FAIL
  echo "== cuda_golden_test with EVO2_CUDA_ATTENTION=cudnn: $r  ($(grep -E '^\[  (PASSED|FAILED)' "$out/cuda_golden_test_cudnn.log" | tr '\n' ' '))" >> "$out/summary.txt"
  for t in cudnn_attention_test cuda_gemm_runner_test cuda_fp8_gemm_test; do
    EVO2_FP8_DUMP_DIR=$out/fp8_dump "$work/bin/$t" > "$out/$t.log" 2>&1 && r=pass || r=FAIL
    echo "== $t: $r  ($(grep -E '^\[  (PASSED|FAILED|SKIPPED)' "$out/$t.log" | tr '\n' ' '))" >> "$out/summary.txt"
  done
  grep -E '^fp8 gemm|Failure' -A2 "$out/cuda_fp8_gemm_test.log" | head -40 >> "$out/summary.txt"
  # The Llama family: its kernels, then its goldens (own attention kernel, and cuDNN forced).
  if [ -x "$work/bin/cuda_llama_golden_test" ]; then
    "$work/bin/gqa_kernels_test" > "$out/gqa_kernels_test.log" 2>&1 && r=pass || r=FAIL
    echo "== gqa_kernels_test: $r  ($(grep -E '^\[  (PASSED|FAILED)' "$out/gqa_kernels_test.log" | tr '\n' ' '))" >> "$out/summary.txt"
    for attn in auto cudnn; do
      EVO2_CUDA_ATTENTION=$attn "$work/bin/cuda_llama_golden_test" \
        > "$out/cuda_llama_golden_test_$attn.log" 2>&1 && r=pass || r=FAIL
      echo "== cuda_llama_golden_test (EVO2_CUDA_ATTENTION=$attn): $r  ($(grep -E '^\[  (PASSED|FAILED)' "$out/cuda_llama_golden_test_$attn.log" | tr '\n' ' '))" >> "$out/summary.txt"
      grep -E '^llama (bf16|fp32)|Failure' -A2 "$out/cuda_llama_golden_test_$attn.log" | head -40 >> "$out/summary.txt"
    done
  fi
  # The FP8 emulation against PyTorch's own float8 cast and torch._scaled_mm (where torch exists).
  if [ -d "$out/fp8_dump" ] && python3 -c 'import torch' 2>/dev/null; then
    python3 "$root/bench/fp8_torch_check.py" "$out/fp8_dump" >> "$out/summary.txt" 2>&1 \
      || echo "!! fp8_torch_check failed" >> "$out/summary.txt"
  fi
fi
if [ "${SKIP_KERNEL_BENCH:-0}" != 1 ]; then
  # The memory-bound kernels alone at the 7B 32k and 1B 8×8192 shapes.
  { "$work/bin/evo2_kernel_bench"; "$work/bin/evo2_kernel_bench" --rows 65536 --hidden 1920 --groups 128; } \
    > "$out/kernel_bench.log" 2>&1
fi
if [ "${SKIP_BENCH:-0}" != 1 ]; then
  "$work/bin/evo2_cuda_bench" --profile --cancel ${BENCH_ROWS:+--rows "$BENCH_ROWS"} \
    > "$out/bench.log" 2>&1 && b=done || b=FAIL
  # A/B runs: each assignment in BENCH_AB_ENVS (space-separated VAR=value) reruns BENCH_AB_ROWS
  # with it, e.g. the GEMM tuning on or another attention kernel (BENCH_AB_ROWS="" to skip).
  ab_rows=${BENCH_AB_ROWS-7b:1x8192,1b:8x8192}
  if [ -n "$ab_rows" ]; then
    for assign in ${BENCH_AB_ENVS-EVO2_CUDA_GEMM_TUNING=1}; do
      env "$assign" "$work/bin/evo2_cuda_bench" --rows "$ab_rows" \
        > "$out/bench_ab_${assign//[^A-Za-z0-9_]/_}.log" 2>&1
    done
  fi
fi
if [ "${SKIP_LLAMA_BENCH:-0}" != 1 ] && [ -x "$work/bin/evo2_llama_bench" ]; then
  # The Llama family at the Eden 7B shape: 8k with a stage profile, then 131k.
  { "$work/bin/evo2_llama_bench" --rows "${LLAMA_BENCH_ROWS:-eden7b:1x8192}" --profile
    [ -n "${LLAMA_BENCH_ROWS:-}" ] || "$work/bin/evo2_llama_bench" --rows eden7b:1x131072; } \
    > "$out/llama_bench.log" 2>&1
fi
if [ "${SKIP_VARIANTS_BENCH:-0}" != 1 ] && [ -x "$work/bin/evo2_variants_bench" ]; then
  # Variant scoring end to end (docs/variant-scoring.md §5): 7B shape, 8 192-base windows.
  "$work/bin/evo2_variants_bench" --model 7b --window 8192 --variants 96 --batches 1,4,8 \
    > "$out/variants_bench.log" 2>&1
fi

echo "== $(tail -1 "$out/nvidia-smi.txt"); packed from commit $(head -1 "$out/commit.txt" 2>/dev/null)"
echo "== kernels_test: $k  ($(grep -E '^\[  (PASSED|FAILED)' "$out/kernels_test.log" 2>/dev/null | tr '\n' ' '))"
grep -E '^\[  FAILED|Failure|error' "$out/kernels_test.log" 2>/dev/null | head -20
echo "== cuda_golden_test: $g  ($(grep -E '^\[  (PASSED|FAILED)' "$out/cuda_golden_test.log" 2>/dev/null | tr '\n' ' '))"
grep -E '^\[(bf16|fp32|fp8)' "$out/cuda_golden_test.log" 2>/dev/null
grep -E -A3 'Failure' "$out/cuda_golden_test.log" 2>/dev/null | head -40
cat "$out/summary.txt" 2>/dev/null
cat "$out/kernel_bench.log" 2>/dev/null
echo "== benchmark: $b"
cat "$out/bench.log" 2>/dev/null | tail -80
[ -f "$out/variants_bench.log" ] && { echo "== variant scoring:"; cat "$out/variants_bench.log"; }
[ -f "$out/llama_bench.log" ] && { echo "== Llama family:"; cat "$out/llama_bench.log"; }
for log in "$out"/bench_ab_*.log; do
  [ -f "$log" ] || continue
  echo "A/B $(basename "$log" .log | sed 's/^bench_ab_//'):"
  grep -F ' tokens/s' "$log" | head -4
done
