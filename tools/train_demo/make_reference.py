"""Writes the golden vectors of the C++ demo-model test (tests/data/demo_model/).

  python3 tools/train_demo/make_reference.py [--data .demo-data/demo_data.npz]

For each record: <rec>.tokens.npy (int32 [S]) and <rec>.logprobs.npy (float32 [S-1]),
lp[t] = log_softmax(logits[t])[tokens[t+1]], from evo2_torch.forward in fp32 (exact softmax
attention, CPU) on the shipped models/evo2-demo/model.pt (its bf16 weights widened to fp32).
Also prints the max |fp32 - fp64| of the log-probs, the rounding noise of the reference itself.
Records are held-out DNA the model never saw in training (see DATA.md).
"""
import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import evo2_torch as E  # noqa: E402
import score  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
RECORDS = {  # name: (held-out sequence, start, length)
    "ecoli536_1M_2048": ("ecoli536", 1_000_000, 2048),
    "hbb_sickle_1000": ("hbb_locus", 61_706, 1000),  # HBB exon 1 incl. the sickle site 62205
    "lambda_17": ("lambda", 100, 17),
    "chr20_57M_8192": ("chr20_56M_58M", 1_000_000, 8192),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.path.join(REPO, ".demo-data/demo_data.npz"))
    ap.add_argument("--model-dir", default=os.path.join(REPO, "models/evo2-demo"))
    ap.add_argument("--out", default=os.path.join(REPO, "tests/data/demo_model"))
    args = ap.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    os.makedirs(args.out, exist_ok=True)
    data = np.load(args.data)
    cfg, w32 = score.load_model(args.model_dir, "cpu")
    w64 = {k: v.double() for k, v in w32.items()}
    for rec, (src, start, n) in RECORDS.items():
        seq = data["heldout_" + src][start:start + n]
        assert seq.size == n and set(seq.tobytes()) <= set(b"ACGT"), rec
        toks = torch.from_numpy(seq.astype(np.int64))[None]
        with torch.no_grad():
            lp32 = E.next_token_logprobs(E.forward(cfg, w32, toks, exact=True), toks)[0].numpy()
            lp64 = E.next_token_logprobs(
                E.forward(cfg, w64, toks, exact=True, return_logits_dtype=torch.float64).double(),
                toks)[0].numpy()
        np.save(os.path.join(args.out, f"{rec}.tokens.npy"), seq.astype(np.int32))
        np.save(os.path.join(args.out, f"{rec}.logprobs.npy"), lp32.astype(np.float32))
        print(f"{rec}: S={n} mean lp {lp32.astype(np.float64).mean():.6f}  "
              f"max|fp32-fp64| {np.abs(lp32 - lp64).max():.2e}", flush=True)


if __name__ == "__main__":
    main()
