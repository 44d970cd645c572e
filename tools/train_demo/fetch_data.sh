#!/usr/bin/env bash
# Fetches the real genomes the demo model is trained and evaluated on (Debian packages, never
# committed) and builds the compact data file train.py reads.
#
#   tools/train_demo/fetch_data.sh [RAW_DIR]      (default: /tmp/evo2-demo-raw)
#
# Writes RAW_DIR/debs/*.deb and RAW_DIR/x/ (unpacked, ~120 MB), prints the sha256 of every .deb
# (recorded in tools/train_demo/DATA.md) and builds .demo-data/demo_data.npz (25 MB) in the
# repository; .demo-data/ must be git-ignored (it is what `carry` takes to the GPU machine).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
data="${1:-/tmp/evo2-demo-raw}"
mkdir -p "$data/debs" "$data/x" "$repo/.demo-data"
# .demo-data/ must never be committed nor travel to the device machine uncarried
exclude="$(git -C "$repo" rev-parse --git-common-dir)/info/exclude"
mkdir -p "$(dirname "$exclude")"
grep -qx '/.demo-data/' "$exclude" 2>/dev/null || echo '/.demo-data/' >> "$exclude"
# Exact versions (Debian bookworm) and their sha256, as recorded in DATA.md.
pkgs=(bowtie-examples=1.3.1-1 bowtie2-examples=2.5.0-3 kleborate-examples=2.3.1-2
      kmer-examples=0~20150903+r2013-8 emboss-test=6.6.0+dfsg-12 vt-examples=0.57721+ds-3)
(cd "$data/debs" && apt-get download "${pkgs[@]}")
(cd "$data/debs" && sha256sum -c - <<'SUMS'
3cec5c9f6460ea2236cf3d2688665328ab18d90eb2f8eaa0183dd1cd05c212ee  bowtie-examples_1.3.1-1_all.deb
9f9f580954187e501102b13484bdecdc2725155e0b8020e7a056a48a06642118  bowtie2-examples_2.5.0-3_all.deb
ea22a043860d11b072303fcc535c132115cb9c3d32b30d4de70bb522b1096f94  emboss-test_6.6.0+dfsg-12_all.deb
6039a0ee139e0b5f8a288f2bba298326419dc856c166e53e27da319c2d9ce29f  kleborate-examples_2.3.1-2_all.deb
f94b7062d92bc820ced42b83f8be83b9f6772c9c4093689a4135535e8ceb1da7  kmer-examples_0~20150903+r2013-8_all.deb
277c0ef50f4cda40f2dd837f90b6d837155ecd5b8889797683fe63375b017b56  vt-examples_0.57721+ds-3_all.deb
SUMS
)
for f in "$data"/debs/*.deb; do dpkg -x "$f" "$data/x"; done
mkdir -p "$data/x/kmer"
tar xzf "$data/x/usr/share/doc/kmer-examples/test_data.tar.gz" -C "$data/x/kmer"
PYTHON="${PYTHON:-/usr/bin/python3}"
"$PYTHON" "$here/prepare_data.py" "$data/x" "$repo/.demo-data/demo_data.npz"
ls -l "$repo/.demo-data/demo_data.npz"
