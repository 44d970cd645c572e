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
)

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

# htslib's headers and pkg-config file. Debian 12's libhts-dev cannot be installed next to
# prometheus-cpp-dev: it depends on libcurl4-gnutls-dev, prometheus-cpp-dev on
# libcurl4-openssl-dev, and the two conflict (installing one removes the other). The headers do
# not need curl, so we unpack libhts-dev's headers and .pc (from Debian's own .deb, same version
# as libhts3) under /usr/local and link libhts.so to the installed libhts.so.3.
HTS_PREFIX=/usr/local
if ! pkg-config --exists htslib 2>/dev/null; then
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  multiarch=$(gcc -print-multiarch)
  tmp=$(mktemp -d)
  (cd "$tmp" && chmod 777 "$tmp" && apt-get download -qq libhts-dev >/dev/null)
  dpkg-deb -x "$tmp"/libhts-dev_*.deb "$tmp/x"
  $SUDO mkdir -p "$HTS_PREFIX/include" "$HTS_PREFIX/lib/pkgconfig"
  $SUDO cp -r "$tmp/x/usr/include/htslib" "$HTS_PREFIX/include/"
  $SUDO ln -sf "/usr/lib/$multiarch/libhts.so.3" "$HTS_PREFIX/lib/libhts.so"
  sed -e "s|^includedir=.*|includedir=$HTS_PREFIX/include|" -e "s|^libdir=.*|libdir=$HTS_PREFIX/lib|" \
    "$tmp/x/usr/lib/$multiarch/pkgconfig/htslib.pc" | $SUDO tee "$HTS_PREFIX/lib/pkgconfig/htslib.pc" >/dev/null
  rm -rf "$tmp"
  echo "setup: htslib headers unpacked under $HTS_PREFIX" >&2
fi
echo "setup: all packages present" >&2
