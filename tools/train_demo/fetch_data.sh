#!/usr/bin/env bash
# Fetches the real genomes the demo model is trained and evaluated on (Debian packages, never
# committed) and builds the compact data file train.py reads.
#
#   tools/train_demo/fetch_data.sh [DATA_DIR]      (default: .gpu/data, git-ignored)
#
# Writes DATA_DIR/debs/*.deb, DATA_DIR/x/ (unpacked), DATA_DIR/demo_data.npz and prints the
# sha256 of every .deb (recorded in tools/train_demo/DATA.md).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
data="${1:-$repo/.gpu/data}"
mkdir -p "$data/debs" "$data/x"
pkgs=(bowtie-examples bowtie2-examples kleborate-examples kmer-examples emboss-test vt-examples)
(cd "$data/debs" && apt-get download "${pkgs[@]}")
for f in "$data"/debs/*.deb; do dpkg -x "$f" "$data/x"; done
(cd "$data/debs" && sha256sum ./*.deb)
mkdir -p "$data/x/kmer"
tar xzf "$data/x/usr/share/doc/kmer-examples/test_data.tar.gz" -C "$data/x/kmer"
PYTHON="${PYTHON:-/usr/bin/python3}"
"$PYTHON" "$here/prepare_data.py" "$data/x" "$data/demo_data.npz"
ls -l "$data/demo_data.npz"
