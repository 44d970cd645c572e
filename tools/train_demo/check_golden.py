"""Checks evo2_torch.forward against the vortex golden vectors (../shared/golden/*).

Usage: python3 tools/train_demo/check_golden.py [GOLDEN_DIR ...]
Prints, per case and record, the max abs error of logits / log-probs / hidden states against
the fp32 golden. Exit status 1 if any logit error exceeds 1e-4 (the golden README's fp32 bound).
"""
import glob
import os
import sys

import numpy as np
import torch
import yaml

sys.path.insert(0, os.path.dirname(__file__))
import evo2_torch as E  # noqa: E402


def main(dirs):
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    worst = 0.0
    for d in dirs:
        cfg = E.Evo2Config.from_vortex_yaml(yaml.safe_load(open(os.path.join(d, "config.yml"))))
        w = E.load_vortex(os.path.join(d, "model.pt"), dtype=torch.float64)
        E.check_shapes(cfg, w)
        for tok_path in sorted(glob.glob(os.path.join(d, "len*.tokens.npy"))):
            rec = os.path.basename(tok_path).split(".")[0]
            toks = torch.from_numpy(np.load(tok_path).astype(np.int64))[None]
            if toks.shape[1] > 2048:
                continue  # keep the CPU check quick; 2048 covers every block kind
            hid_blocks = [int(f.split("block")[-1].split(".")[0]) for f in
                          glob.glob(os.path.join(d, f"{rec}.hidden_after_block*.npy"))]
            with torch.no_grad():
                logits, hid = E.forward(cfg, w, toks, exact=True, return_hidden=tuple(hid_blocks),
                                        return_logits_dtype=torch.float64, with_hidden=True)
            ref = np.load(os.path.join(d, f"{rec}.logits.npy"))
            err = float(np.abs(logits[0].numpy() - ref).max())
            lp = E.next_token_logprobs(logits, toks)[0].numpy()
            lerr = float(np.abs(lp - np.load(os.path.join(d, f"{rec}.logprobs.npy"))).max()) if lp.size else 0.0
            herr = max([float(np.abs(hid[b][0].numpy() - np.load(os.path.join(
                d, f"{rec}.hidden_after_block{b}.npy"))).max()) for b in hid_blocks] or [0.0])
            worst = max(worst, err)
            print(f"{os.path.basename(d)} {rec}: logits max|d| {err:.2e}  logprobs {lerr:.2e}  hidden {herr:.2e}")
    print(f"worst logits error {worst:.2e}")
    return 0 if worst <= 1e-4 else 1


if __name__ == "__main__":
    # Default: the full golden set beside the checkout (../shared/golden), else the repo's subset.
    repo = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    golden = os.path.join(repo, "..", "shared", "golden")
    if not os.path.isdir(golden):
        golden = os.path.join(repo, "tests", "data", "golden")
    dirs = sys.argv[1:] or [d for d in (os.path.join(golden, c) for c in ("a_tiny6", "b_small10", "c_7blike32"))
                            if os.path.isdir(d)]
    sys.exit(main(dirs))
