"""Trains the evo2-demo model (Evo 2 architecture, 11 layers, H=256) on real DNA.

  python3 tools/train_demo/train.py --data .gpu/data/demo_data.npz --out OUT_DIR \
      [--minutes 6] [--max-steps N] [--seed 1234]

Training stops at whichever comes first: --max-steps or the --minutes wall-clock budget. The
cosine learning-rate schedule runs on the larger of the two fractions (time used / budget,
steps done / --max-steps), so the shipped time-limited run (1 542 steps in 6 minutes) is redone
step for step with `--max-steps 1542 --minutes 1000` on any GPU (up to GPU non-determinism).
Writes OUT_DIR/{model.pt, config.yml, train_log.txt, train_summary.json}; model.pt is the vortex
state dict (docs/spec/model.md §9): bf16 except filter.log_poles, filter.residues, inv_freq (fp32).

Parametrisation (what is trained vs what is saved; docs/spec/model.md §11):
  hcl: log_poles = -exp(p) (p trained, so the poles stay real and decaying), residues trained;
  hcm: h = h_raw * exp(-r * t / 127), r log-spaced over [1, 100] across the groups (fixed);
  everything else is trained in the saved form. The forward is evo2_torch.forward on the
  materialised vortex dict, i.e. exactly the inference math.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import evo2_torch as E  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def demo_config() -> E.Evo2Config:
    # The published layer order (1B / 7B prefix): S D H * S D H S D H *  (S=hcs D=hcm H=hcl).
    return E.Evo2Config(
        hidden_size=256, num_layers=11, inner_mlp_size=768, num_attention_heads=8,
        hcs_layer_idxs=[0, 4, 7], hcm_layer_idxs=[1, 5, 8], hcl_layer_idxs=[2, 6, 9],
        attn_layer_idxs=[3, 10], hcs_filter_groups=16, hcm_filter_groups=16,
        rotary_emb_base=10000.0, max_seqlen=8192, model_name="evo2-demo-256x11")


class DemoModel(nn.Module):
    """Trainable parameters; materialize() gives the vortex-format weights (differentiable)."""

    def __init__(self, cfg: E.Evo2Config, seed: int):
        super().__init__()
        self.cfg = cfg
        g = torch.Generator().manual_seed(seed)
        H, I, N = cfg.hidden_size, cfg.inner_mlp_size, cfg.num_layers
        resid = 1.0 / math.sqrt(2 * N)  # residual-branch output scale at init
        self.params = nn.ParameterDict()
        self.names = {}  # vortex name -> (param key, transform)

        def randn(*shape, std=1.0):
            return torch.randn(*shape, generator=g) * std

        def add(name, value, transform=None):
            key = name.replace(".", "__")
            self.params[key] = nn.Parameter(value.float())
            self.names[name] = (key, transform)

        add("embedding_layer.weight", randn(E.VOCAB, H, std=0.02))
        add("norm.scale", torch.ones(H))
        for i in range(N):
            p = f"blocks.{i}."
            kind = cfg.kind(i)
            add(p + "pre_norm.scale", torch.ones(H))
            add(p + "post_norm.scale", torch.ones(H))
            add(p + "mlp.l1.weight", randn(I, H, std=H ** -0.5))
            add(p + "mlp.l2.weight", randn(I, H, std=H ** -0.5))
            add(p + "mlp.l3.weight", randn(H, I, std=I ** -0.5 * resid))
            if kind == "attn":
                add(p + "inner_mha_cls.Wqkv.weight", randn(3 * H, H, std=H ** -0.5))
                add(p + "inner_mha_cls.out_proj.weight", randn(H, H, std=H ** -0.5 * resid))
                add(p + "inner_mha_cls.out_proj.bias", torch.zeros(H))
                d = cfg.head_dim
                inv_freq = 1.0 / (cfg.rotary_emb_base ** (torch.arange(0, d, 2).float() / d))
                self.register_buffer(f"inv_freq_{i}", inv_freq)
                continue
            add(p + "projections.weight", randn(3 * H, H, std=H ** -0.5))
            feat = torch.zeros(3 * H, 1, 3)
            feat[:, 0, 2] = 1.0  # near-identity featurizer (conv order: last tap = current)
            add(p + "filter.short_filter_weight", feat + randn(3 * H, 1, 3, std=0.1))
            add(p + "out_filter_dense.weight", randn(H, H, std=H ** -0.5 * resid))
            add(p + "out_filter_dense.bias", torch.zeros(H))
            if kind == "hcs":
                G, K = cfg.hcs_filter_groups, cfg.hcs_filter_length
                taps = randn(G, 1, K, std=0.3)
                taps[:, 0, K - 1] += 1.0
                add(p + "filter.h", taps)
            elif kind == "hcm":
                G, K = cfg.hcm_filter_groups, cfg.hcm_filter_length
                rates = torch.logspace(0, 2, G)  # r in [1, 100] (docs/spec/model.md §11)
                window = torch.exp(-rates[:, None, None] * torch.arange(K)[None, None, :] / (K - 1))
                self.register_buffer(f"hcm_window_{i}", window)
                taps = randn(G, 1, K, std=0.3)
                taps[:, 0, 0] += 1.0
                add(p + "filter.h", taps, ("hcm", i))
                add(p + "filter.D", torch.ones(H))
            else:
                # decay rates log-uniform in [1e-4, 0.3] per token: some modes span > 8k tokens
                u = torch.rand(H, E.MODES, 1, generator=g)
                rate = torch.exp(math.log(1e-4) + u * (math.log(0.3) - math.log(1e-4)))
                add(p + "filter.log_poles", torch.log(rate), ("hcl_poles", i))
                add(p + "filter.residues", randn(H, E.MODES) * torch.sqrt(2 * rate[..., 0]) / 4)
                add(p + "filter.D", torch.ones(H))

    def materialize(self) -> dict:
        w = {}
        for name, (key, tr) in self.names.items():
            v = self.params[key]
            if tr is None:
                w[name] = v
            elif tr[0] == "hcm":
                w[name] = v * getattr(self, f"hcm_window_{tr[1]}")
            else:  # hcl: lambda = -exp(p) < 0, a real decaying pole
                w[name] = -torch.exp(v)
        for i in self.cfg.attn_layer_idxs:
            w[f"blocks.{i}.inner_mha_cls.rotary_emb.inv_freq"] = getattr(self, f"inv_freq_{i}")
        return w

    def param_groups(self, weight_decay: float, lr: float):
        decay, no_decay, filt = [], [], []
        for name, (key, _) in self.names.items():
            p = self.params[key]
            if name.endswith(("log_poles", "residues")):
                filt.append(p)
            elif p.ndim == 2 and not name.endswith("residues"):
                decay.append(p)
            else:
                no_decay.append(p)
        return [{"params": decay, "weight_decay": weight_decay, "lr": lr, "base_lr": lr},
                {"params": no_decay, "weight_decay": 0.0, "lr": lr, "base_lr": lr},
                {"params": filt, "weight_decay": 0.0, "lr": lr * 0.5, "base_lr": lr * 0.5}]


COMP = np.zeros(256, dtype=np.uint8)
for a, b in zip(b"ACGTN", b"TGCAN"):
    COMP[a] = b


class WindowSampler:
    """Uniform random windows from a set of contigs, on the device; reverse complement w.p. 1/2."""

    def __init__(self, seq: np.ndarray, lens: np.ndarray, seq_len: int, device, gen):
        self.seq = torch.from_numpy(seq).to(device)
        starts = np.concatenate([[0], np.cumsum(lens)[:-1]])
        valid = lens - seq_len + 1  # window starts per contig
        keep = valid > 0
        self.starts = torch.from_numpy(starts[keep]).to(device)
        self.cum = torch.from_numpy(np.cumsum(valid[keep])).to(device)
        self.total = int(self.cum[-1])
        self.seq_len = seq_len
        self.comp = torch.from_numpy(COMP).to(device)
        self.gen = gen
        self.device = device
        self.ar = torch.arange(seq_len, device=device)

    def sample(self, n: int) -> torch.Tensor:
        u = torch.randint(0, self.total, (n,), device=self.device, generator=self.gen)
        c = torch.searchsorted(self.cum, u, right=True)
        prev = torch.where(c > 0, self.cum[c - 1], torch.zeros_like(u))
        pos = self.starts[c] + (u - prev)
        win = self.seq[pos[:, None] + self.ar[None, :]]
        rc = torch.rand(n, device=self.device, generator=self.gen) < 0.5
        win = torch.where(rc[:, None], self.comp[win.long()].flip(1), win)
        return win.long()


def lr_factor(step: int, frac: float, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0)))


def export(model: DemoModel, out_dir: str):
    w = E.to_vortex_dtypes(model.materialize())
    E.check_shapes(model.cfg, w)
    torch.save(w, os.path.join(out_dir, "model.pt"))
    template = open(os.path.join(HERE, "config_template.yml")).read()
    with open(os.path.join(out_dir, "config.yml"), "w") as f:
        f.write(E.vortex_yaml(model.cfg, template))
    return w


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--minutes", type=float, default=6.0)
    ap.add_argument("--max-steps", type=int, default=10 ** 9)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq-len", type=int, default=8192)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--small", action="store_true", help="tiny model for a CPU smoke test")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    log_f = open(os.path.join(args.out, "train_log.txt"), "w")

    def log(msg):
        print(msg, flush=True)
        log_f.write(msg + "\n")
        log_f.flush()

    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    dev = torch.device(args.device)
    cfg = demo_config()
    if args.small:
        cfg.hidden_size, cfg.inner_mlp_size, cfg.num_attention_heads = 32, 64, 2
        cfg.hcs_filter_groups = cfg.hcm_filter_groups = 4
    log(f"torch {torch.__version__} device {dev} "
        f"{torch.cuda.get_device_name(0) if dev.type == 'cuda' else ''}")
    log(f"args {vars(args)}")
    log(f"config {cfg}")
    data = np.load(args.data)
    gen = torch.Generator(device=dev).manual_seed(args.seed)
    samplers = [WindowSampler(data["train_bact"], data["train_bact_lens"], args.seq_len, dev, gen),
                WindowSampler(data["train_human"], data["train_human_lens"], args.seq_len, dev, gen)]
    log(f"train windows: bacteria {samplers[0].total:,} starts, human {samplers[1].total:,} starts")
    vgen = torch.Generator(device=dev).manual_seed(args.seed + 1)
    val = {}
    for name in ("ecoli536", "chr20_56M_58M"):
        s = data["heldout_" + name]
        vs = WindowSampler(s, np.array([s.size]), args.seq_len, dev, vgen)
        val[name] = vs.sample(4)

    model = DemoModel(cfg, args.seed).to(dev)
    n_params = sum(p.numel() for p in model.params.values())
    log(f"parameters {n_params:,}")
    groups = model.param_groups(args.weight_decay, args.lr)
    try:
        opt = torch.optim.AdamW(groups, betas=(0.9, 0.95), eps=1e-8, fused=dev.type == "cuda")
    except TypeError:
        opt = torch.optim.AdamW(groups, betas=(0.9, 0.95), eps=1e-8)
    use_bf16 = dev.type == "cuda"

    def loss_fn(tokens):
        with torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=use_bf16):
            logits = E.forward(cfg, model.materialize(), tokens, exact=not use_bf16,
                               return_logits_dtype=torch.float32)
        return nn.functional.cross_entropy(logits[:, :-1].reshape(-1, E.VOCAB),
                                           tokens[:, 1:].reshape(-1))

    def validate():
        out = {}
        with torch.no_grad():
            for name, toks in val.items():
                out[name] = float(sum(loss_fn(toks[j:j + 1]) for j in range(toks.shape[0])) / toks.shape[0])
        return out

    budget_s = args.minutes * 60
    micro = args.batch
    accum = 1
    t0 = time.time()
    last_val = t0
    step = 0
    tokens_seen = 0
    history = []
    while step < args.max_steps:
        # schedule position: fraction of the time budget or of --max-steps, whichever is further
        frac = max((time.time() - t0) / budget_s, step / args.max_steps)
        if frac >= 1.0:
            break
        f = lr_factor(step, frac, args.warmup)
        for gr in opt.param_groups:
            gr["lr"] = gr["base_lr"] * f
        try:
            opt.zero_grad(set_to_none=True)
            tot = 0.0
            for _ in range(accum):
                half = micro // 2
                toks = torch.cat([samplers[0].sample(micro - half), samplers[1].sample(half)])
                loss = loss_fn(toks) / accum
                loss.backward()
                tot += float(loss.detach())
        except torch.cuda.OutOfMemoryError:
            if micro == 1:
                raise
            micro //= 2
            accum *= 2
            opt.zero_grad(set_to_none=True)
            torch.cuda.empty_cache()
            log(f"OOM: micro-batch now {micro} x {accum} accumulation")
            continue
        gnorm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0))
        opt.step()
        step += 1
        tokens_seen += args.batch * args.seq_len
        if step % 10 == 0 or step == 1:
            el = time.time() - t0
            log(f"step {step:5d}  t {el:6.1f}s  loss {tot:.4f} nats/base  lr {args.lr * f:.2e}  "
                f"gnorm {gnorm:.2f}  tok/s {tokens_seen / el:,.0f}")
            history.append({"step": step, "t": el, "loss": tot})
        if time.time() - last_val > 60:
            v = validate()
            last_val = time.time()
            log(f"val step {step}: " + "  ".join(f"{k} {x:.4f}" for k, x in v.items()))
    el = time.time() - t0
    v = validate()
    log(f"final step {step}  time {el:.1f}s  tokens {tokens_seen:,}  val: "
        + "  ".join(f"{k} {x:.4f}" for k, x in v.items()))
    export(model, args.out)
    summary = {"steps": step, "seconds": el, "tokens": tokens_seen, "params": n_params,
               "final_val": v, "micro_batch": micro, "accum": accum, "args": vars(args),
               "torch": torch.__version__, "history": history}
    json.dump(summary, open(os.path.join(args.out, "train_summary.json"), "w"), indent=1)
    log(f"wrote {args.out}/model.pt ({os.path.getsize(os.path.join(args.out, 'model.pt')):,} bytes)")


if __name__ == "__main__":
    main()
