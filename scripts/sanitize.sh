#!/usr/bin/env bash
# Builds the tests with sanitizers (cmake -DEVO2_SANITIZE=..., every target instrumented, CUDA
# and benchmarks off) in their own build directory and runs a subset of them:
#   scripts/sanitize.sh asan   ASan+UBSan over the unit, integration and fault tests (build-asan)
#   scripts/sanitize.sh tsan   TSan over the service and threading tests (build-tsan)
# Extra arguments go to ctest. A sanitizer report fails the test that triggered it.
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=${1:?usage: scripts/sanitize.sh asan|tsan [ctest args]}
shift

SUPP="$PWD/tests/sanitizers"
# Tests left out of the sanitizer runs, with the reason (ctest -E regex, OR'ed together).
EXCLUDE=(
  # The CLI's golden comparisons (whole-model forwards through `evo2 predict`, the slowest golden
  # tests): the same engine code runs in the shorter unit and service tests; the plain run keeps
  # them. The cancellation tests (also whole forwards, 13 s plain, 2.3 min under TSan on a loaded
  # 2-core machine) stay: they are the engine's threading tests.
  '^PredictGolden\.'
  # Checks ctest's label bookkeeping, not code; the TSan build compiles only some test programs.
  '^test_labels_check$'
  # Check deploy/ files (manifests, YAML, Dockerfiles against the plain build's binaries), no code.
  '^deploy_'
)
case "$MODE" in
  asan)
    BUILD_DIR=${EVO2_ASAN_BUILD_DIR:-build-asan}
    SANITIZE=address,undefined
    TARGETS=()  # every test program with one of LABELS (from the configure-time manifest)
    LABELS='unit|integration|fault'
    # detect_leaks: leaks fail the test. abort_on_error keeps the exit status non-zero even
    # where a test's child process reports. UBSan halts on the first finding (the build passes
    # -fno-sanitize-recover=undefined), with a stack.
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=0
    export LSAN_OPTIONS=suppressions=$SUPP/lsan.supp:print_suppressions=0
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:suppressions=$SUPP/ubsan.supp
    ;;
  tsan)
    BUILD_DIR=${EVO2_TSAN_BUILD_DIR:-build-tsan}
    SANITIZE=thread
    # The code with threads: the engine's thread pool, cancellation and engine-group
    # communicator (ranks as threads), the service's job store,
    # queue and worker logic in process. Not the tests that start evo2-api/evo2-worker: Debian's
    # gRPC is not built with TSan, so TSan reports races inside its poller threads
    # (Epoll1Poller::DoEpollWait) that it cannot see synchronised, and those servers halt.
    # service_record_capacity_cache_test runs the API's advertisement refresh thread in process.
    TARGETS=(service_unit_test service_store_test service_record_capacity_cache_test cancel_test
             cpu_ops_test parallel_unit_test)
    LABELS='unit|integration|fault'
    export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:suppressions=$SUPP/tsan.supp
    ;;
  *) echo "sanitize: unknown mode '$MODE' (asan or tsan)" >&2; exit 2 ;;
esac

if [[ ! -f "$BUILD_DIR/CMakeCache.txt" ]]; then
  GEN=()
  if command -v ninja >/dev/null; then GEN=(-G Ninja); fi
  cmake "${GEN[@]}" -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DEVO2_SANITIZE="$SANITIZE" -DEVO2_ENABLE_CUDA=OFF -DEVO2_BUILD_BENCH=OFF >/dev/null
fi
if ((${#TARGETS[@]} == 0)); then
  # Golden-only programs are not built: they compare numbers, which ASan does not make any truer.
  mapfile -t TARGETS < <(awk -v re="$LABELS" '$2 ~ re {print $1}' "$BUILD_DIR/evo2_test_labels.txt")
fi
cmake --build "$BUILD_DIR" --parallel "$(nproc)" --target "${TARGETS[@]}"
exclude_regex=$(IFS='|'; echo "${EXCLUDE[*]}")
ctest --test-dir "$BUILD_DIR" --output-on-failure --parallel "$(nproc)" --timeout 1800 \
  -L "$LABELS" -E "$exclude_regex" "$@"
