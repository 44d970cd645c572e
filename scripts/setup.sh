#!/usr/bin/env bash
# Installs every Debian 12 package that the build, the tests and the local run need.
# Idempotent: packages already present are left alone. Quiet on success, loud on failure.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libhiredis-dev prometheus-cpp-dev libyaml-cpp-dev
  libgtest-dev libgmock-dev
  libopenblas-dev libfftw3-dev libzip-dev
  nlohmann-json3-dev libcli11-dev
  libhts3  # htslib runtime: VCF/BCF, faidx, bgzf (evo2 score-variants); headers: see below
  redis-server redis-tools
  libssl-dev
  clang libclang-rt-14-dev  # the fuzz targets (libFuzzer, ASan/UBSan runtimes; scripts/fuzz.sh)
  libcpp-httplib-dev  # evo2-api's HTTP/JSON API
  chromium            # the web page's browser test (tests/browser)
  python3 python3-yaml yamllint  # tests/deploy: manifest invariants, YAML lint
)
# Node.js for the browser test: Debian's nodejs + npm unless a node with npm is already there
# (e.g. NodeSource's nodejs, which bundles npm and conflicts with Debian's npm package).
if ! command -v npm >/dev/null; then PACKAGES+=(nodejs npm); fi
# tests/deploy renders the Kubernetes overlays with `kubectl kustomize`. Any kubectl >= 1.20
# works (the manifests avoid what kustomize v2.0.3 lacks); Debian's kubernetes-client (1.20) is
# installed only when none is on PATH. A newer one: https://kubernetes.io/docs/tasks/tools/
if ! command -v kubectl >/dev/null; then
  echo "setup: no kubectl on PATH: adding Debian's kubernetes-client (kubectl 1.20); for a newer" \
       "one see https://kubernetes.io/docs/tasks/tools/" >&2
  PACKAGES+=(kubernetes-client)
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  echo "setup: installing ${#missing[@]} packages: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# htslib's headers (libhts-dev conflicts with prometheus-cpp-dev in Debian 12; see the script).
"$(dirname "$0")/install_htslib_headers.sh"
echo "setup: all packages present" >&2

# puppeteer-core for the browser test, exactly as locked in tests/browser/package-lock.json.
BROWSER_DIR="$(dirname "$0")/../tests/browser"
if [[ ! -f "$BROWSER_DIR/node_modules/.package-lock.json" ||
      "$BROWSER_DIR/package-lock.json" -nt "$BROWSER_DIR/node_modules/.package-lock.json" ]]; then
  echo "setup: npm ci in tests/browser" >&2
  (cd "$BROWSER_DIR" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
echo "setup: browser test packages present" >&2
