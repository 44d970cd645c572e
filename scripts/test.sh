#!/usr/bin/env bash
# Builds with warnings as errors and runs the whole test suite (unit, golden, integration,
# fault; GPU tests skip with their reason when no GPU is present).
# Golden tests use ../shared/golden when present, else the subset in tests/data/golden.
set -euo pipefail
cd "$(dirname "$0")/.."
export EVO2_BUILD_DIR=${EVO2_BUILD_DIR:-build}
scripts/build.sh -DEVO2_WERROR=ON
ctest --test-dir "$EVO2_BUILD_DIR" --output-on-failure --parallel "$(nproc)" --timeout 900 "$@"
