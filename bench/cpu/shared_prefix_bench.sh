#!/usr/bin/env bash
# Variant scoring on the CPU with and without shared prefixes (docs/variant-scoring.md §3):
# a random 200 kb contig (seed fixed), N variants spread over it (SNVs, 1–4-base insertions and
# deletions, one in four multi-allelic), default 8 192-base windows, scored by
# `evo2 score-variants` twice per round (shared prefix, then --no-shared-prefix), ROUNDS rounds
# interleaved so machine load hits both alike. Prints wall and CPU seconds and variants/s per run and
# the largest difference between the two runs' deltas: GEMM rounding only (fp32 rows blocked
# differently, ~5e-6 per log-prob, summed over a window); more than 1e-3 would be a defect.
#
# usage: bench/cpu/shared_prefix_bench.sh EVO2_BINARY [N=24] [ROUNDS=3] [WINDOW=8192] [extra
#        score-variants arguments, e.g. --ckpt-dir CASE/model.pt --threads 2 --both-strands]
set -euo pipefail
EVO2=$1
N=${2:-24}
ROUNDS=${3:-3}
WINDOW=${4:-8192}
shift $(($# < 4 ? $# : 4))
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

python3 - "$WORK" "$N" <<'EOF'
import random, sys
work, n = sys.argv[1], int(sys.argv[2])
rng = random.Random(20261206)
seq = "".join(rng.choice("ACGT") for _ in range(200_000))
with open(f"{work}/ref.fa", "w") as f:
    f.write(">chrB\n")
    for i in range(0, len(seq), 60):
        f.write(seq[i:i + 60] + "\n")
with open(f"{work}/in.vcf", "w") as f:
    f.write("##fileformat=VCFv4.2\n##contig=<ID=chrB,length=200000>\n")
    f.write("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
    for k, pos in enumerate(sorted(rng.sample(range(10_000, 190_000), n))):
        ref = seq[pos - 1]
        kind = k % 4
        if kind == 0:    # SNV
            alts = [rng.choice([b for b in "ACGT" if b != ref])]
        elif kind == 1:  # multi-allelic SNV
            alts = [b for b in "ACGT" if b != ref]
        elif kind == 2:  # insertion
            alts = [ref + "".join(rng.choice("ACGT") for _ in range(rng.randint(1, 4)))]
        else:            # deletion
            ref = seq[pos - 1:pos + rng.randint(1, 4)]
            alts = [ref[0]]
        f.write(f"chrB\t{pos}\tv{k}\t{ref}\t{','.join(alts)}\t.\t.\t.\n")
EOF

run() {  # run NAME [args...]: wall and CPU seconds (user + sys; steadier on a shared machine)
  local name=$1
  shift
  /usr/bin/time -o "$WORK/time" -f "%e %U %S" "$EVO2" score-variants --vcf "$WORK/in.vcf" \
    --reference "$WORK/ref.fa" --output "$WORK/$name.tsv" --window "$WINDOW" --quiet "$@"
  read -r wall user sys <"$WORK/time"
  python3 -c "import sys; w, c = float(sys.argv[2]), float(sys.argv[3]) + float(sys.argv[4]); \
n = int(sys.argv[5]); print(f'{sys.argv[1]:>18}: {w:8.2f} s wall {n / w:7.3f} variants/s, \
{c:8.2f} CPU s {n / c:7.3f} variants per CPU s')" "$name" "$wall" "$user" "$sys" "$N"
}

for r in $(seq 1 "$ROUNDS"); do
  echo "round $r"
  run shared "$@"
  run no-shared-prefix "$@" --no-shared-prefix
done
python3 - "$WORK/shared.tsv" "$WORK/no-shared-prefix.tsv" <<'EOF'
import sys
def deltas(p):
    rows = [l.rstrip("\n").split("\t") for l in open(p) if not l.startswith("#")]
    return [float(r[6]) for r in rows[1:] if r[5] == "ok"]
a, b = deltas(sys.argv[1]), deltas(sys.argv[2])
assert len(a) == len(b) and a, (len(a), len(b))
worst = max(abs(x - y) for x, y in zip(a, b))
print(f"{len(a)} alleles, max |delta(shared) - delta(full)| = {worst:.2e}")
assert worst <= 1e-3
EOF
