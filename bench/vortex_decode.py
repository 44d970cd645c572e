#!/usr/bin/env python3
"""Batch-1 cached decoding of the reference implementation (Arc's vortex StripedHyena), for the
figure beside `evo2_decode_bench` on the same GPU (bench/RESULTS.md).

Builds vortex's StripedHyena from its own config files (configs/evo2-1b-8k.yml for `1b`,
configs/evo2-7b-1m.yml for `7b`: the evo2_1b_base and evo2_7b shapes, docs/spec/model.md) with
random weights in bf16 (poles and residues fp32, as vortex's to_bfloat16_except_pr_lc keeps
them), prefills a prompt of 64 random bases through its inference params (its own caches: FIR
tails, modal state, KV cache), then times cached generation steps exactly as vortex's
Generator.generate runs them: the last token through model(x, inference_params_dict), then
every cache's seqlen_offset + 1; the next token is the logits' argmax, kept on the GPU (no host
round trip per step, vortex's best case). Protocol as evo2_decode_bench: 3 warm-up steps, 3 runs
of 48 steps, the median run; tokens/s = 48 / that run's wall time.

Runs on the machine's PyTorch with no extra installs:
  * no Transformer Engine: vortex falls back to its plain-PyTorch TELinear; the FP8 input
    projections the configs ask for (use_fp8_input_projections) need TE and are turned off;
  * no FlashAttention: vortex/ops/__init__.py imports the flash_attn_2_cuda extension, so the
    script registers `vortex.ops` as a bare package (its Triton rotary kernel still loads) and
    runs attention with use_flash_attn=False, vortex's PyTorch attention path. The script says
    so in its output when it does this.

  python3 bench/vortex_decode.py [--vortex .ref/vortex] [--shapes tiny,1b,7b]
(--vortex: a checkout of github.com/Zymrael/vortex; `tiny` is a 4-block model to check the
script runs.)
"""
import argparse
import importlib
import os
import statistics
import sys
import time
import traceback
import types

PROMPT = 64
WARMUP_STEPS, RUNS, STEPS_PER_RUN = 3, 3, 48


def import_vortex(root):
    """Imports vortex from `root`; returns (StripedHyena, dotdict, notes on shims)."""
    sys.path.insert(0, root)
    notes = []
    try:
        importlib.import_module("flash_attn_2_cuda")
    except ImportError:
        ops = types.ModuleType("vortex.ops")
        ops.__path__ = [os.path.join(root, "vortex", "ops")]
        sys.modules["vortex.ops"] = ops
        notes.append("no flash_attn_2_cuda: vortex.ops loaded as a bare package, "
                     "attention on vortex's PyTorch path (use_flash_attn=False)")
    from vortex.model.layers import HAS_TE
    from vortex.model.model import StripedHyena
    from vortex.model.utils import dotdict
    if not HAS_TE:
        notes.append("no Transformer Engine: plain-PyTorch linears, FP8 input projections off")
    return StripedHyena, dotdict, notes


def model_config(root, shape, dotdict):
    import yaml
    name = {"tiny": "evo2-1b-8k.yml", "1b": "evo2-1b-8k.yml", "7b": "evo2-7b-1m.yml"}[shape]
    with open(os.path.join(root, "configs", name)) as f:
        cfg = yaml.safe_load(f)
    if shape == "tiny":
        cfg.update(hidden_size=256, num_filters=256, num_attention_heads=2, num_layers=4,
                   hcs_layer_idxs=[0], hcm_layer_idxs=[1], hcl_layer_idxs=[2],
                   attn_layer_idxs=[3], hcl_filter_groups=256, hcm_filter_groups=16,
                   hcs_filter_groups=16, inner_mlp_size=512)
    cfg.update(use_fp8_input_projections=False, use_flash_attn=False, use_flashfft=False,
               use_flash_depthwise=False, use_flash_rmsnorm=False, print_activations=False,
               max_seqlen=1024)  # the KV cache vortex allocates: prompt + steps fit
    return dotdict(cfg)


def random_model(StripedHyena, cfg, torch):
    torch.manual_seed(1234)
    model = StripedHyena(cfg)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "log_poles" in name:  # decaying modes, as trained models have
                p.copy_(-(torch.rand_like(p) * 3 + 0.05))
            elif p.dim() >= 2 and "short_filter" not in name:
                p.normal_(0, 0.02)  # linear weights (the configs' MLP init is zeros)
    model.to_bfloat16_except_pr_lc()
    model.eval()
    return model


def decode_rate(model, torch, device):
    gen = torch.Generator(device="cpu").manual_seed(11)
    bases = torch.tensor([ord(c) for c in "ACGT"], dtype=torch.long)
    prompt = bases[torch.randint(0, 4, (1, PROMPT), generator=gen)].to(device)
    ipd = model.initialize_inference_params(max_seqlen=PROMPT + WARMUP_STEPS + RUNS * STEPS_PER_RUN)
    with torch.inference_mode():
        logits, ipd = model(prompt, inference_params_dict=ipd)  # prefill
        for key in ("mha", "hcl", "hcm", "hcs"):
            ipd[key].seqlen_offset = PROMPT
        tok = logits[:, -1].argmax(-1, keepdim=True)

        def step(tok, ipd):
            logits, ipd = model(tok, inference_params_dict=ipd)
            for key in ("mha", "hcl", "hcm", "hcs"):
                ipd[key].seqlen_offset += 1
            return logits[:, -1].argmax(-1, keepdim=True), ipd

        for _ in range(WARMUP_STEPS):
            tok, ipd = step(tok, ipd)
        torch.cuda.synchronize()
        runs = []
        for _ in range(RUNS):
            t0 = time.perf_counter()
            for _ in range(STEPS_PER_RUN):
                tok, ipd = step(tok, ipd)
            torch.cuda.synchronize()
            runs.append(time.perf_counter() - t0)
        if not torch.isfinite(logits).all():
            raise RuntimeError("non-finite logits")
    return statistics.median(runs)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vortex", default=os.environ.get("VORTEX_DIR",
                                                       os.path.join(here, "..", ".ref", "vortex")))
    ap.add_argument("--shapes", default="tiny,1b,7b")
    args = ap.parse_args()
    import torch
    StripedHyena, dotdict, notes = import_vortex(os.path.abspath(args.vortex))
    device = "cuda:0"
    print(f"device: {torch.cuda.get_device_name(0)}; torch {torch.__version__}")
    for n in notes:
        print("note:", n)
    print("| model | batch | step ms | tokens/s | parameters |")
    print("| --- | --- | --- | --- | --- |")
    failures = 0
    for shape in args.shapes.split(","):
        try:
            cfg = model_config(args.vortex, shape, dotdict)
            model = random_model(StripedHyena, cfg, torch)
            params = sum(p.numel() for p in model.parameters())
            t = decode_rate(model, torch, device)
            print(f"| vortex {shape} | 1 | {1e3 * t / STEPS_PER_RUN:.3f} | "
                  f"{STEPS_PER_RUN / t:.1f} tokens/s | {params / 1e9:.2f} B |", flush=True)
            del model
            torch.cuda.empty_cache()
        except Exception as e:  # report and go on to the next shape
            failures += 1
            print(f"| vortex {shape} | 1 | error: {type(e).__name__}: {e} | | |", flush=True)
            print("".join(traceback.format_exc().splitlines(keepends=True)[-12:]), flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
