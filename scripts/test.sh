#!/usr/bin/env bash
# Builds with warnings as errors and runs the whole test suite (unit, golden, integration,
# fault; GPU tests skip with their reason when no GPU is present), then the checks that need
# their own builds: every fuzz target for 60 s (scripts/fuzz.sh, clang + ASan/UBSan, build-fuzz/),
# the unit/integration/fault tests under ASan+UBSan (build-asan/) and the service and threading
# tests under TSan (build-tsan/) (scripts/sanitize.sh). EVO2_TEST_SANITIZERS=0 skips those three
# (a quick local run); CI runs everything.
# Golden tests use ../shared/golden when present, else the subset in tests/data/golden.
#
# Time on the CI machine's shape (2 cores, 24 GiB, no GPU). Measured on such a machine that was
# shared with other builds (load average 8-12), so compile times are estimated from the CPU time
# of sample translation units (per unit: ASan+UBSan 2.2x plain GCC, TSan 1.05x, clang+libFuzzer
# 1.0x) times the units each build compiles; run times are measured:
#   plain build (190 units) + tests                         ~13 min (before this step)
#   fuzz: build (101 units, ~3.5 min) + 11 targets x 60 s, 2 at a time (6.2 min measured)  ~10 min
#   ASan+UBSan: build (142 units, ~11 min) + tests (whole run not timed yet; the unit tests
#     alone took 5 s, integration and fault tests are ~2-3x their plain time)            ~16 min
#   TSan: build (~90 units, ~4 min) + thread pool, cancellation, job store and worker tests
#     (the two whole-forward cancellation tests: 68 s of CPU, the others 7 s)             ~6 min
# Added ~32 min, ~45 min in all (limit 90). The plain run of the whole suite (494 tests, with the
# HTTP/browser, deploy, generation, variant-scoring jobs, NeMo2-family and engine-group tests)
# measured 5.6 min wall at --parallel 2 on the 2-core development machine; ASan+UBSan over 291
# unit/integration/fault tests 4.0 min of test time after its build; TSan 48 tests. The last CI
# run of everything took 38 min before those were added.
set -euo pipefail
cd "$(dirname "$0")/.."
export EVO2_BUILD_DIR=${EVO2_BUILD_DIR:-build}
scripts/build.sh -DEVO2_WERROR=ON
ctest --test-dir "$EVO2_BUILD_DIR" --output-on-failure --parallel "$(nproc)" --timeout 900 "$@"

if [[ "${EVO2_TEST_SANITIZERS:-1}" != 0 ]]; then
  scripts/fuzz.sh 60
  scripts/sanitize.sh asan
  scripts/sanitize.sh tsan
fi
