#!/usr/bin/env bash
# Builds with warnings as errors and runs the whole test suite (unit, golden, integration,
# fault; GPU tests skip with their reason when no GPU is present), then the checks that need
# their own builds: every fuzz target for 60 s (scripts/fuzz.sh, clang + ASan/UBSan, build-fuzz/),
# the unit/integration/fault tests under ASan+UBSan (build-asan/) and the service and threading
# tests under TSan (build-tsan/) (scripts/sanitize.sh). EVO2_TEST_SANITIZERS=0 skips those three
# (a quick local run); CI runs everything.
# Golden tests use ../shared/golden when present, else the subset in tests/data/golden.
#
# Time: `.ci/run` on a fresh clone, on a 2-core development machine: 54 min in all (limit 90):
# the CUDA-enabled build and the plain suite (817 tests, 187 s of it), fuzzing (11 targets x
# 60 s), ASan+UBSan (361 tests, 131 s after its build), TSan (58 tests, 47 s after its build).
# The builds take most of it. The CI machine has been slower: its recent runs took 57-67 min.
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
