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
  redis-server redis-tools
  libssl-dev
  clang libclang-rt-14-dev  # the fuzz targets (libFuzzer, ASan/UBSan runtimes; scripts/fuzz.sh)
  python3 python3-yaml yamllint  # tests/deploy: manifest invariants, YAML lint
)
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
echo "setup: all packages present" >&2
