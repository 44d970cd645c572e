"""Turns score.py's per-position log-likelihoods into the numbers and the figure of
docs/demo-model.md (CPU only, numpy + matplotlib).

  python3 tools/train_demo/analyze.py --data .demo-data/demo_data.npz --scores RUN/scores.npz \
      --png docs/demo-model-ll.png --json tools/train_demo/results.json

Baselines:
  * 2-bit: -ln 4 = -1.3863 nats per base.
  * k-mer: order-k Markov models (k previous bases) with Dirichlet back-off smoothing
    P_k(x|c) = (n(c,x) + a * P_{k-1}(x|c')) / (n(c) + a), a = 4 (c' = c without its oldest base),
    counted on both strands of (i) all the training data the network saw ("same data") and
    (ii) only its bacterial or only its human part, whichever matches the held-out set
    ("matched", the stronger baseline). Every k in 0..10 is scored on every held-out set; the
    table reports the best k per set, chosen on the held-out set itself (optimistic for the
    baselines).
Coding vs non-coding:
  * human beta-globin locus (EMBL U01317): the CDS exons of the EMBL feature table vs the rest;
  * E. coli 536 (no annotation ships in the package): an open-reading-frame proxy — "coding" =
    inside a stop-free stretch of >= 900 nt in any of the six frames (genes), "non-coding" = not
    inside any stop-free stretch of >= 240 nt in any frame (mostly intergenic DNA).
"""
import argparse
import json

import numpy as np

LN4 = np.log(4.0)
CODE = np.full(256, 255, dtype=np.uint8)
for i, b in enumerate(b"ACGT"):
    CODE[b] = i
COMP = np.zeros(256, dtype=np.uint8)
for a, b in zip(b"ACGTN", b"TGCAN"):
    COMP[a] = b
STOPS = {b"TAA", b"TAG", b"TGA"}
CODON_TABLE = dict(zip(
    [a + b + c for a in "TCAG" for b in "TCAG" for c in "TCAG"],
    "FFLLSSSSYY**CC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG"))


# ---------------------------------------------------------------------------------------
# k-mer baseline

def kmer_count_tables(seqs, kmax):
    """[counts_k for k in 0..kmax]; counts_k[(context code) * 4 + next] over all (k+1)-mers."""
    tables = [np.zeros(4 ** (k + 1), dtype=np.int64) for k in range(kmax + 1)]
    for s in seqs:
        s = s.astype(np.int64)
        code = s.copy()  # code of s[i .. i+k]
        for k in range(kmax + 1):
            if k > 0:
                code = code[:-1] * 4 + s[k:]
            tables[k] += np.bincount(code, minlength=4 ** (k + 1))
    return [t.reshape(-1, 4).astype(np.float32) for t in tables]


def kmer_logprobs(tables, test, kmax, alpha=4.0, ks=None):
    """{k: per-position log p(x_i | x_{i-k..i-1})} for positions i >= kmax of `test` (codes)."""
    L = test.size
    out = {}
    prev = np.full((L - kmax, 4), 0.25, dtype=np.float32)  # order -1: uniform
    rows = np.arange(L - kmax)
    for k in range(0, kmax + 1):
        ctx = np.zeros(L - kmax, dtype=np.int64)
        for j in range(k):
            ctx = ctx * 4 + test[kmax - k + j:L - k + j]
        n = tables[k][ctx]  # [L-kmax, 4]
        p = (n + alpha * prev) / (n.sum(1, keepdims=True) + alpha)
        if ks is None or k in ks:
            out[k] = np.log(p[rows, test[kmax:]])
        prev = p
    return out


# ---------------------------------------------------------------------------------------
# annotation helpers

def open_frame_mask(seq: bytes, min_len: int) -> np.ndarray:
    """True where a base lies in a stop-codon-free stretch >= min_len nt in any of 6 frames."""
    L = len(seq)
    mask = np.zeros(L, dtype=bool)
    rc = bytes(COMP[np.frombuffer(seq, np.uint8)][::-1])
    for strand, s in ((0, seq), (1, rc)):
        for f in range(3):
            stops = [i for i in range(f, L - 2, 3) if s[i:i + 3] in STOPS]
            bounds = [f - 3] + stops + [L]
            for a, b in zip(bounds[:-1], bounds[1:]):
                lo, hi = a + 3, b  # open stretch [lo, hi)
                if hi - lo >= min_len:
                    if strand == 0:
                        mask[lo:hi] = True
                    else:
                        mask[L - hi:L - lo] = True
    return mask


def classify_snvs(locus: bytes, exons, positions):
    """For each CDS position: {alt base: 'syn'|'missense'|'nonsense'} on the + strand CDS."""
    cds_pos = np.concatenate([np.arange(a, b) for a, b in exons])
    cds = bytes(locus[p] for p in cds_pos)
    index = {int(p): i for i, p in enumerate(cds_pos)}
    out = []
    for p in positions:
        i = index[int(p)]
        c0 = i - i % 3
        codon = cds[c0:c0 + 3].decode()
        ref_aa = CODON_TABLE[codon]
        kinds = {}
        for alt in "ACGT":
            if alt == codon[i % 3]:
                continue
            mut = codon[:i % 3] + alt + codon[i % 3 + 1:]
            aa = CODON_TABLE[mut]
            kinds[alt] = "syn" if aa == ref_aa else ("nonsense" if aa == "*" else "missense")
        out.append((c0 // 3, codon, ref_aa, kinds))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--scores", required=True)
    ap.add_argument("--png", required=True)
    ap.add_argument("--json", required=True)
    ap.add_argument("--kmax", type=int, default=10)
    args = ap.parse_args()
    data = np.load(args.data)
    sc = np.load(args.scores)
    res = {}

    # k-mer count tables: bacterial and human training parts separately (both strands); the
    # "same data" baseline uses their sum, the "matched" one the part of the held-out set's kind
    tabs = {}
    for name in ("train_bact", "train_human"):
        s, lens = data[name], data[name + "_lens"]
        seqs, off = [], 0
        for n in lens:
            c = s[off:off + n]
            seqs += [CODE[c], CODE[COMP[c][::-1]]]
            off += n
        tabs[name] = kmer_count_tables(seqs, args.kmax)
        print(f"k-mer counts {name}: {sum(x.size for x in seqs):,} bases (both strands)", flush=True)
    tabs["all"] = [a + b for a, b in zip(tabs["train_bact"], tabs["train_human"])]
    human_sets = ("chr20_56M_58M", "hbb_locus")

    kmer_ll = {}
    table = {}
    for name in ("ecoli536", "kpn1084", "mleprae", "lambda", "chr20_56M_58M", "hbb_locus"):
        seq = data["heldout_" + name]
        ll = sc["ll_" + name].astype(np.float64)
        code = CODE[seq]
        # score positions >= kmax whose k-mer window is pure A/C/G/T (same positions for all)
        ok = np.ones(seq.size, dtype=bool)
        ok[:args.kmax] = False
        for b in np.flatnonzero(code == 255):
            ok[b:b + args.kmax + 1] = False
        code_clean = np.where(code == 255, 0, code).astype(np.int64)
        pos = np.flatnonzero(ok)
        row = {"bases_scored": int(pos.size), "model": float(ll[pos].mean()), "two_bit": -LN4,
               "model_bits_per_base": float(-ll[pos].mean() / np.log(2))}
        for tag, tb in (("kmer_same_data", tabs["all"]),
                        ("kmer_matched", tabs["train_human" if name in human_sets else "train_bact"])):
            klp = kmer_logprobs(tb, code_clean, args.kmax)
            per_k = {k: float(v[pos - args.kmax].astype(np.float64).mean()) for k, v in klp.items()}
            best_k = max(per_k, key=per_k.get)
            row[tag] = per_k[best_k]
            row[tag + "_k"] = best_k
            row[tag + "_by_k"] = per_k
            if tag == "kmer_matched":
                kmer_ll[name] = np.full(seq.size, np.nan)
                kmer_ll[name][args.kmax:] = klp[best_k]
            del klp
        table[name] = row
        print(name, {k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()
                     if not k.endswith("_by_k")}, flush=True)
    res["heldout"] = table

    # real vs dinucleotide-shuffled windows (model from score.py; k-mer recomputed here)
    res["shuffle"] = {}
    for name in ("ecoli536", "chr20_56M_58M"):
        m = sc[f"shuf_{name}"]  # [n, 2] mean LL real, shuffled
        seqs = sc[f"shuf_{name}_seqs"]  # [n, 2, L]
        k = table[name]["kmer_matched_k"]
        tb = tabs["train_human" if name in human_sets else "train_bact"]
        km = np.zeros(m.shape)
        for i in range(seqs.shape[0]):
            for j in range(2):
                klp = kmer_logprobs(tb, CODE[seqs[i, j]].astype(np.int64), k, ks={k})[k]
                km[i, j] = klp.mean()
        res["shuffle"][name] = {
            "windows": int(m.shape[0]), "window_bp": int(seqs.shape[2]),
            "model_real": float(m[:, 0].mean()), "model_shuffled": float(m[:, 1].mean()),
            "model_frac_real_higher": float((m[:, 0] > m[:, 1]).mean()),
            "kmer_k": k, "kmer_real": float(km[:, 0].mean()), "kmer_shuffled": float(km[:, 1].mean()),
            "kmer_frac_real_higher": float((km[:, 0] > km[:, 1]).mean())}
        print("shuffle", name, res["shuffle"][name], flush=True)

    # coding vs non-coding
    res["coding"] = {}
    locus = data["heldout_hbb_locus"]
    ll = sc["ll_hbb_locus"].astype(np.float64)
    exons = [tuple(x) for x in data["hbb_cds"]]
    cds_mask = np.zeros(locus.size, dtype=bool)
    for a, b in exons:
        cds_mask[a:b] = True
    valid = np.isfinite(ll) & (CODE[locus] != 255) & np.isfinite(kmer_ll["hbb_locus"])
    res["coding"]["hbb_locus_embl"] = {
        "coding_bases": int((cds_mask & valid).sum()), "noncoding_bases": int((~cds_mask & valid).sum()),
        "model_coding": float(ll[cds_mask & valid].mean()), "model_noncoding": float(ll[~cds_mask & valid].mean()),
        "kmer_coding": float(kmer_ll["hbb_locus"][cds_mask & valid].mean()),
        "kmer_noncoding": float(kmer_ll["hbb_locus"][~cds_mask & valid].mean())}
    eco = data["heldout_ecoli536"]
    ll = sc["ll_ecoli536"].astype(np.float64)
    coding = open_frame_mask(eco.tobytes(), 900)
    nonc = ~open_frame_mask(eco.tobytes(), 240)
    valid = np.isfinite(ll) & (CODE[eco] != 255) & np.isfinite(kmer_ll["ecoli536"])
    res["coding"]["ecoli536_orf_proxy"] = {
        "coding_fraction": float(coding.mean()), "noncoding_fraction": float(nonc.mean()),
        "model_coding": float(ll[coding & valid].mean()), "model_noncoding": float(ll[nonc & valid].mean()),
        "kmer_coding": float(kmer_ll["ecoli536"][coding & valid].mean()),
        "kmer_noncoding": float(kmer_ll["ecoli536"][nonc & valid].mean())}
    print("coding", res["coding"], flush=True)

    # HBB variant scan: delta = LL(alt window) - LL(ref window), windows of 8192 centred on the site
    scan, spos = sc["hbb_scan"], sc["hbb_scan_pos"]
    hbb_exons = [(a, b) for a, b in exons if 62000 <= a < 64000]
    kinds = classify_snvs(locus.tobytes(), hbb_exons, spos)
    deltas = {"syn": [], "missense": [], "nonsense": []}
    sickle = None
    for row, p, (codon_i, codon, ref_aa, kd) in zip(scan, spos, kinds):
        ref = chr(locus[p])
        for alt, kind in kd.items():
            d = row["ACGT".index(alt)] - row["ACGT".index(ref)]
            deltas[kind].append(d)
            if p == 62205 and alt == "T":
                sickle = {"position_U01317": int(p) + 1, "ref": ref, "alt": alt, "codon_index": codon_i,
                          "codon": codon, "ref_aa": ref_aa, "kind": kind, "delta_ll": float(d)}
    alld = np.concatenate([np.array(v) for v in deltas.values()])
    mis = np.array(deltas["missense"])
    sickle["percentile_among_all_cds_snvs"] = float((alld < sickle["delta_ll"]).mean() * 100)
    sickle["percentile_among_missense"] = float((mis < sickle["delta_ll"]).mean() * 100)
    res["hbb_variants"] = {
        "sickle": sickle,
        "n": {k: len(v) for k, v in deltas.items()},
        "mean_delta": {k: float(np.mean(v)) for k, v in deltas.items()},
        "median_delta": {k: float(np.median(v)) for k, v in deltas.items()},
        "frac_negative": {k: float((np.array(v) < 0).mean()) for k, v in deltas.items()}}
    print("hbb", res["hbb_variants"], flush=True)

    # figure: per-position LL along HBB (and an E. coli stretch) with annotation
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def smooth(x, n=25):
        x = np.where(np.isfinite(x), x, np.nan)
        k = np.ones(n) / n
        return np.convolve(np.nan_to_num(x, nan=-LN4), k, mode="same")

    fig, axes = plt.subplots(2, 1, figsize=(10, 6.2), dpi=90)
    lo, hi = 61700, 64000
    x = np.arange(lo, hi)
    ax = axes[0]
    llh = sc["ll_hbb_locus"].astype(np.float64)
    ax.plot(x + 1, llh[lo:hi], ".", ms=1.5, color="0.75", label="model, per base")
    ax.plot(x + 1, smooth(llh)[lo:hi], color="C0", lw=1.4, label="model, 25-bp mean")
    ax.plot(x + 1, smooth(kmer_ll["hbb_locus"])[lo:hi], color="C1", lw=1.0,
            label=f"order-{table['hbb_locus']['kmer_matched_k']} Markov (human part), 25-bp mean")
    ax.axhline(-LN4, color="k", ls="--", lw=0.8, label="2-bit baseline (-ln 4)")
    for a, b in hbb_exons:
        ax.axvspan(a + 1, b, color="C2", alpha=0.15)
    ax.axvline(62206, color="C3", lw=0.8)
    ax.text(62210, -0.25, "sickle site (A>T, codon 6)", color="C3", fontsize=7)
    ax.set_xlim(lo + 1, hi)
    ax.set_ylim(-4, 0)
    ax.set_title("Held-out human HBB gene (EMBL U01317, chr11): green = coding exons", fontsize=9)
    ax.set_ylabel("log p(base | prefix), nats")
    ax.legend(fontsize=7, loc="lower left", ncol=2)
    ax = axes[1]
    lo, hi = 1_000_000, 1_006_000
    x = np.arange(lo, hi)
    lle = sc["ll_ecoli536"].astype(np.float64)
    ax.plot(x, smooth(lle, 51)[lo:hi], color="C0", lw=1.2, label="model, 51-bp mean")
    ax.plot(x, smooth(kmer_ll["ecoli536"], 51)[lo:hi], color="C1", lw=1.0,
            label=f"order-{table['ecoli536']['kmer_matched_k']} Markov (bacterial part), 51-bp mean")
    ax.axhline(-LN4, color="k", ls="--", lw=0.8)
    m = coding[lo:hi]
    ax.fill_between(x, -1.9, -1.85, where=m, color="C2", alpha=0.6, step="mid",
                    label="open frame >= 900 nt (gene proxy)")
    ax.set_xlim(lo, hi)
    ax.set_ylim(-1.9, -0.9)
    ax.set_title("Held-out E. coli 536 genome, positions 1,000,000-1,006,000", fontsize=9)
    ax.set_xlabel("position (bp)")
    ax.set_ylabel("nats")
    ax.legend(fontsize=7, loc="upper right", ncol=3)
    fig.tight_layout()
    fig.savefig(args.png)
    json.dump(res, open(args.json, "w"), indent=1)


if __name__ == "__main__":
    main()
