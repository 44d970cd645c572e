#!/usr/bin/python3
"""Plots the deltas of an `evo2 score-variants` TSV (docs/variant-scoring.md §7).

    plot_deltas.py RESULTS.tsv OUT.png

Left: delta log-likelihood against the indel's length change (insertions > 0, deletions < 0).
Right: delta along the chromosome. Needs python3-matplotlib (Debian).
"""
import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(tsv_path, png_path):
    rows = []
    with open(tsv_path, newline="") as f:
        for r in csv.DictReader(f, delimiter="\t"):
            if r["status"] != "ok":
                continue
            rows.append((int(r["pos"]), len(r["alt"]) - len(r["ref"]), float(r["delta"])))
    if not rows:
        sys.exit(f"{tsv_path}: no scored alleles")
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2))
    colour = ["tab:blue" if d > 0 else "tab:red" if d < 0 else "tab:grey" for _, d, _ in rows]
    a.scatter([d for _, d, _ in rows], [x for _, _, x in rows], c=colour, s=14)
    a.axhline(0, color="black", lw=0.6)
    a.set_xlabel("length change (bases): insertion > 0, deletion < 0")
    a.set_ylabel("delta log-likelihood S(alt) - S(ref)")
    a.set_title(f"{len(rows)} indels: delta by length")
    b.scatter([p / 1e6 for p, _, _ in rows], [x for _, _, x in rows], c=colour, s=14)
    b.axhline(0, color="black", lw=0.6)
    b.axvline(55, color="grey", ls="--", lw=0.8)
    b.text(55.3, b.get_ylim()[0], "demo model trained left of 55 Mb", fontsize=8, va="bottom")
    b.set_xlabel("position on chr20 (Mb, GRCh37)")
    for label, c in (("insertion", "tab:blue"), ("deletion", "tab:red")):
        a.scatter([], [], c=c, s=14, label=label)
    a.legend(loc="upper right")
    b.set_title("delta along the chromosome")
    fig.suptitle("evo2 score-variants, demo model, 2 048-base windows: vt-examples chr20 indels")
    fig.tight_layout()
    fig.savefig(png_path, dpi=110)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
