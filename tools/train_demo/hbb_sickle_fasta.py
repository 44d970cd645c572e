"""Writes the HBB sickle-cell example as FASTA: the 8 192-bp reference window of U01317 centred
on position 62 206 (4 096 bases before it), and the same window with the A>T sickle change.

  python3 tools/train_demo/hbb_sickle_fasta.py [--data .demo-data/demo_data.npz] OUT.fa
  evo2 predict --fasta OUT.fa --ckpt-dir models/evo2-demo --output-dir out \
      --output-log-prob-seqs --log-prob-collapse-option sum --output-format npy
"""
import argparse

import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("out")
ap.add_argument("--data", default=".demo-data/demo_data.npz")
args = ap.parse_args()
locus = np.load(args.data)["heldout_hbb_locus"]
p = 62205  # 0-based; "a in normal hbb; t in sickle cell anemia" (EMBL U01317 feature table)
ref = locus[p - 4096:p + 4096].tobytes().decode()
assert ref[4096] == "A" and ref[4095:4098] == "GAG", ref[4090:4100]
alt = ref[:4096] + "T" + ref[4097:]
with open(args.out, "w") as f:
    for name, s in ((f"HBB_ref U01317:{p - 4096 + 1}-{p + 4096}", ref), ("HBB_sickle_A62206T", alt)):
        f.write(">" + name + "\n")
        f.writelines(s[i:i + 80] + "\n" for i in range(0, len(s), 80))
