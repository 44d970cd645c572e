#!/usr/bin/env bash
# Worked example of `evo2 score-variants` (docs/variant-scoring.md §7): the 194 human chr20
# indels that Debian's vt-examples package ships (normalize/01_IN.vcf.gz, GRCh37 chr20 in
# ref/20.fa.gz, MIT licence), scored with the demo model; then the plot of the deltas.
#
#   examples/variants/run_example.sh [WORK_DIR]     (default: /tmp/evo2-vt-example)
#
# Writes examples/variants/vt_chr20_indels.tsv and docs/variant-deltas.png (both committed) and,
# in WORK_DIR, the package, its unpacked files and the annotated vt_chr20.vcf.gz. EVO2 names the
# binary (default build/services/cli/evo2); extra arguments for it go in EVO2_ARGS (e.g.
# "--device cuda"). About 20 minutes on two busy CPU cores, seconds on a GPU.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
work="${1:-/tmp/evo2-vt-example}"
evo2="${EVO2:-$repo/build/services/cli/evo2}"
deb=vt-examples_0.57721+ds-3_all.deb
mkdir -p "$work"
[ -f "$work/$deb" ] || (cd "$work" && apt-get download vt-examples=0.57721+ds-3)
(cd "$work" && echo "277c0ef50f4cda40f2dd837f90b6d837155ecd5b8889797683fe63375b017b56  $deb" \
  | sha256sum -c --quiet -)
dpkg-deb -x "$work/$deb" "$work/x"
ex="$work/x/usr/share/doc/vt/examples"
gunzip -kf "$ex/ref/20.fa.gz.gzi.gz"  # the package gzips the bgzip index
# ${EVO2_ARGS} unquoted on purpose: it holds several arguments.
# shellcheck disable=SC2086
"$evo2" score-variants --vcf "$ex/normalize/01_IN.vcf.gz" --reference "$ex/ref/20.fa.gz" \
  --output "$work/vt_chr20.vcf.gz" --tsv "$here/vt_chr20_indels.tsv" --window 2048 ${EVO2_ARGS:-}
/usr/bin/python3 "$here/plot_deltas.py" "$here/vt_chr20_indels.tsv" "$repo/docs/variant-deltas.png"
