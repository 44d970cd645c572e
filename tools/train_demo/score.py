"""Scores held-out DNA with a shipped evo2-demo model (fp32, the exact inference math).

  python3 tools/train_demo/score.py --model-dir OUT_DIR --data .gpu/data/demo_data.npz --out OUT_DIR

Writes OUT_DIR/scores.npz:
  ll_<name>      float16 [L]  per-position log-likelihood (natural log) of each held-out sequence,
                              ll[i] = log p(x_i | x_<i); ll[0] = NaN. Sliding 8192-token windows
                              with stride 4096: every position i >= 4096 is scored with at least
                              4096 tokens of context (positions < 4096 with what precedes them).
  shuf_<name>    float32 [n, 2]  mean LL per base of n random 2048-bp windows: real, and the same
                              window dinucleotide-shuffled (Altschul-Erickson), seed 7
  shuf_<name>_windows int64 [n]  window starts; shuf_<name>_seqs uint8 [n, 2, 2048] the sequences
  hbb_scan       float64 [P, 4]  sum of LL over the 8192-token window centred on each HBB CDS
                              position (variant at window index 4096) with A/C/G/T at that position
  hbb_scan_pos   int64 [P]    0-based positions in the U01317 locus
and scores.json with the per-sequence means.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import evo2_torch as E  # noqa: E402

BASES = b"ACGT"


def load_model(model_dir, device):
    cfg = E.Evo2Config.from_vortex_yaml(yaml.safe_load(open(os.path.join(model_dir, "config.yml"))))
    w = E.load_vortex(os.path.join(model_dir, "model.pt"), device=device, dtype=torch.float32)
    E.check_shapes(cfg, w)
    return cfg, w


@torch.no_grad()
def window_ll(cfg, w, windows: torch.Tensor, exact: bool) -> torch.Tensor:
    """[B, S] int64 -> [B, S-1] fp32 next-token log-probs (fp32 forward)."""
    logits = E.forward(cfg, w, windows, exact=exact)
    return E.next_token_logprobs(logits, windows)


def score_sequence(cfg, w, seq: np.ndarray, device, win=8192, stride=4096, batch=16, exact=False):
    L = seq.size
    out = np.full(L, np.nan, dtype=np.float32)
    if L <= win:
        t = torch.from_numpy(seq.astype(np.int64))[None].to(device)
        out[1:] = window_ll(cfg, w, t, exact)[0].cpu().numpy()
        return out
    starts = list(range(0, L - win + 1, stride))
    if starts[-1] != L - win:
        starts.append(L - win)
    for b in range(0, len(starts), batch):
        st = starts[b:b + batch]
        t = torch.from_numpy(np.stack([seq[s:s + win] for s in st]).astype(np.int64)).to(device)
        lp = window_ll(cfg, w, t, exact).cpu().numpy()  # [n, win-1], lp[:, j] scores s + j + 1
        for s, row in zip(st, lp):
            # window s>0 scores positions [s + win - stride, s + win): >= win - stride context;
            # consecutive windows tile the sequence (the unaligned last one overlaps harmlessly)
            keep_from = 0 if s == 0 else (win - stride) - 1
            out[s + 1 + keep_from: s + win] = row[keep_from:]
    return out


def dinuc_shuffle(seq: bytes, rng: np.random.Generator) -> bytes:
    """Altschul-Erickson shuffle preserving the exact dinucleotide counts of `seq`."""
    s = seq
    last = s[-1]
    edges = {}
    for a, b in zip(s[:-1], s[1:]):
        edges.setdefault(a, []).append(b)
    while True:
        # a random last-exit edge for every vertex but `last`; they must form a tree into `last`
        last_edge = {v: rng.integers(len(e)) for v, e in edges.items() if v != last}
        ok = True
        for v in last_edge:
            seen, u = set(), v
            while u != last:
                if u in seen:
                    ok = False
                    break
                seen.add(u)
                u = edges[u][last_edge[u]]
            if not ok:
                break
        if ok:
            break
    order = {}
    for v, e in edges.items():
        e = list(e)
        if v in last_edge:
            fixed = e.pop(last_edge[v])
            rng.shuffle(e)
            e.append(fixed)
        else:
            rng.shuffle(e)
        order[v] = e
    pos = {v: 0 for v in order}
    out = [s[0]]
    u = s[0]
    for _ in range(len(s) - 1):
        nxt = order[u][pos[u]]
        pos[u] += 1
        out.append(nxt)
        u = nxt
    return bytes(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--only", default="", help="comma list of held-out names (default all)")
    ap.add_argument("--n-shuffle", type=int, default=256)
    ap.add_argument("--hbb-max-pos", type=int, default=10 ** 9, help="limit the HBB scan (tests)")
    args = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False  # fp32 means fp32 (as the C++ CPU engine)
    torch.backends.cudnn.allow_tf32 = False
    dev = torch.device(args.device)
    cfg, w = load_model(args.model_dir, dev)
    data = np.load(args.data)
    names = [k[len("heldout_"):] for k in data.files if k.startswith("heldout_")]
    if args.only:
        names = [n for n in names if n in args.only.split(",")]
    res, summary = {}, {}

    def save():  # after every stage, so that a run cut short still leaves its results
        np.savez_compressed(os.path.join(args.out, "scores.npz"), **res)
        json.dump(summary, open(os.path.join(args.out, "scores.json"), "w"), indent=1)
    for name in names:
        t0 = time.time()
        seq = data["heldout_" + name]
        ll = score_sequence(cfg, w, seq, dev)
        acgt = np.isin(seq, np.frombuffer(BASES, np.uint8))
        m = np.isfinite(ll) & acgt
        summary[name] = {"bases": int(seq.size), "scored": int(m.sum()),
                         "mean_ll": float(ll[m].astype(np.float64).mean())}
        res["ll_" + name] = ll.astype(np.float16)
        print(f"{name}: {seq.size:,} bases, mean LL {summary[name]['mean_ll']:.4f} nats "
              f"({time.time() - t0:.1f}s)", flush=True)
        save()
    rng = np.random.default_rng(7)
    for name in ("ecoli536", "chr20_56M_58M"):
        if name not in names:
            continue
        seq = data["heldout_" + name]
        n, L = args.n_shuffle, 2048
        starts, seqs = [], []
        while len(starts) < n:
            s = int(rng.integers(0, seq.size - L))
            win = seq[s:s + L]
            if not np.isin(win, np.frombuffer(BASES, np.uint8)).all():
                continue
            starts.append(s)
            seqs.append([win, np.frombuffer(dinuc_shuffle(win.tobytes(), rng), np.uint8)])
        arr = np.array(seqs, dtype=np.uint8)  # [n, 2, L]
        t = torch.from_numpy(arr.reshape(-1, L).astype(np.int64)).to(dev)
        lls = torch.cat([window_ll(cfg, w, t[i:i + 32], False) for i in range(0, t.shape[0], 32)])
        mean = lls.mean(dim=1).view(n, 2).cpu().numpy()
        res[f"shuf_{name}"] = mean
        res[f"shuf_{name}_windows"] = np.array(starts)
        res[f"shuf_{name}_seqs"] = arr
        summary[f"shuffle_{name}"] = {"real": float(mean[:, 0].mean()), "shuffled": float(mean[:, 1].mean()),
                                      "frac_real_higher": float((mean[:, 0] > mean[:, 1]).mean())}
        print(f"shuffle {name}: {summary[f'shuffle_{name}']}", flush=True)
        save()
    if "hbb_locus" in names:
        locus = data["heldout_hbb_locus"]
        pos = np.concatenate([np.arange(a, b) for a, b in data["hbb_cds"]
                              if 62000 <= a < 64000])[:args.hbb_max_pos]  # HBB's 3 coding exons
        scan = np.zeros((pos.size, 4))
        for j0 in range(0, pos.size, 8):
            wins = []
            for p in pos[j0:j0 + 8]:
                for b in BASES:
                    win = locus[p - 4096:p + 4096].copy()
                    win[4096] = b
                    wins.append(win)
            t = torch.from_numpy(np.stack(wins).astype(np.int64)).to(dev)
            ll = window_ll(cfg, w, t, False).double().sum(dim=1).cpu().numpy()
            scan[j0:j0 + len(wins) // 4] = ll.reshape(-1, 4)
        res["hbb_scan"] = scan
        res["hbb_scan_pos"] = pos
        print(f"hbb scan: {pos.size} positions", flush=True)
    save()


if __name__ == "__main__":
    main()
