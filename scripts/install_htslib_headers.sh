#!/usr/bin/env bash
# Installs htslib's headers and pkg-config file for the installed libhts3 (Debian 12), without
# the libhts-dev package. Idempotent; used by scripts/setup.sh and the Dockerfiles.
#
# Why: Debian 12's libhts-dev depends on libcurl4-gnutls-dev and prometheus-cpp-dev on
# libcurl4-openssl-dev; the two conflict, so installing one removes the other. htslib's headers
# do not need curl, so we unpack libhts-dev's headers and htslib.pc from Debian's own .deb (the
# version of the installed libhts3) under PREFIX and link PREFIX/lib/libhts.so to libhts.so.3.
set -euo pipefail
PREFIX=${HTSLIB_PREFIX:-/usr/local}
if pkg-config --exists htslib 2>/dev/null; then exit 0; fi
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
multiarch=$(gcc -print-multiarch)
version=$(dpkg-query -W -f='${Version}' libhts3)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"  # apt-get download drops privileges to _apt
(cd "$tmp" && apt-get download -qq "libhts-dev=$version" >/dev/null)
dpkg-deb -x "$tmp"/libhts-dev_*.deb "$tmp/x"
$SUDO mkdir -p "$PREFIX/include" "$PREFIX/lib/pkgconfig"
$SUDO cp -r "$tmp/x/usr/include/htslib" "$PREFIX/include/"
$SUDO ln -sf "/usr/lib/$multiarch/libhts.so.3" "$PREFIX/lib/libhts.so"
sed -e "s|^includedir=.*|includedir=$PREFIX/include|" -e "s|^libdir=.*|libdir=$PREFIX/lib|" \
  "$tmp/x/usr/lib/$multiarch/pkgconfig/htslib.pc" | $SUDO tee "$PREFIX/lib/pkgconfig/htslib.pc" >/dev/null
echo "install_htslib_headers: htslib $version headers under $PREFIX" >&2
