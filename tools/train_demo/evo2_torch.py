"""Evo 2 / StripedHyena 2 forward pass in PyTorch, over a vortex-format state dict.

This is the second, independent implementation of docs/spec/model.md
(the C++ engine is the first). It is written from the spec only and is checked against the
vortex golden vectors by check_golden.py. The same function serves three purposes:

  * training (train.py): the trainable parameters are turned into a vortex-format dict by
    DemoModel.materialize() and fed through forward(); autocast may run the GEMMs in bf16,
    the filters (FFT convolutions, poles) always run in fp32;
  * the reference log-probs that the C++ golden test compares against
    (make_reference.py: fp32, exact attention, from the shipped bf16 model.pt);
  * evaluation (evaluate.py).

Weight names, shapes and orientations are those of the vortex checkpoint (docs/spec/model.md §9):
  hcs taps are conv order, hcm taps impulse order (§7); the featurizer is conv order;
  q/k/v of the Hyena projections are interleaved per channel (rows 3c, 3c+1, 3c+2 = q, k, v);
  attention Wqkv rows are per head [q_h | k_h | v_h] (§8); rotary is half-split (NeoX).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

VOCAB = 512
MODES = 16  # hcl poles per channel (config key state_size)


@dataclass
class Evo2Config:
    hidden_size: int
    num_layers: int
    inner_mlp_size: int
    num_attention_heads: int
    hcs_layer_idxs: list
    hcm_layer_idxs: list
    hcl_layer_idxs: list
    attn_layer_idxs: list
    hcs_filter_groups: int
    hcm_filter_groups: int
    hcs_filter_length: int = 7
    hcm_filter_length: int = 128
    short_filter_length: int = 3
    eps: float = 1e-6
    rotary_emb_base: float = 10000.0
    rotary_scale: float = 1.0  # positions are divided by this (use_interpolated_rotary_pos_emb)
    max_seqlen: int = 8192
    model_name: str = "evo2-demo"

    @staticmethod
    def from_vortex_yaml(d: dict) -> "Evo2Config":
        scale = 1.0
        if d.get("use_interpolated_rotary_pos_emb", False):
            scale = float(d["rotary_emb_scaling_factor"])
        return Evo2Config(
            hidden_size=d["hidden_size"], num_layers=d["num_layers"],
            inner_mlp_size=d["inner_mlp_size"], num_attention_heads=d["num_attention_heads"],
            hcs_layer_idxs=list(d["hcs_layer_idxs"]), hcm_layer_idxs=list(d["hcm_layer_idxs"]),
            hcl_layer_idxs=list(d["hcl_layer_idxs"]), attn_layer_idxs=list(d["attn_layer_idxs"]),
            hcs_filter_groups=d["hcs_filter_groups"], hcm_filter_groups=d["hcm_filter_groups"],
            hcs_filter_length=d["hcs_filter_length"], hcm_filter_length=d["hcm_filter_length"],
            short_filter_length=d["short_filter_length"], eps=float(d["eps"]),
            rotary_emb_base=float(d["rotary_emb_base"]), rotary_scale=scale,
            max_seqlen=d["max_seqlen"], model_name=d.get("model_name", "evo2"))

    def kind(self, i: int) -> str:
        for name, idxs in (("hcs", self.hcs_layer_idxs), ("hcm", self.hcm_layer_idxs),
                           ("hcl", self.hcl_layer_idxs), ("attn", self.attn_layer_idxs)):
            if i in idxs:
                return name
        raise ValueError(f"layer {i} has no kind in the config")

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads


# ----------------------------------------------------------------------------------------
# Building blocks (docs/spec/model.md §5-§8). Tensors are [B, S, C] unless noted.


def rms_norm(x: torch.Tensor, scale: torch.Tensor, eps: float, ct=torch.float32) -> torch.Tensor:
    """§5: y = s * x / (||x||_2 / sqrt(H) + eps); eps OUTSIDE the root. Computed in `ct`."""
    xf = x.to(ct)
    rms = torch.linalg.vector_norm(xf, dim=-1, keepdim=True) / math.sqrt(x.shape[-1])
    return (xf / (rms + eps)) * scale.to(ct)


def shift_right(x: torch.Tensor, k: int) -> torch.Tensor:
    """x[:, t - k] along dim 1 with zero history (causal)."""
    if k == 0:
        return x
    if k >= x.shape[1]:
        return torch.zeros_like(x)
    return F.pad(x[:, :-k], (0, 0, k, 0))


def conv_order_fir(x: torch.Tensor, taps: torch.Tensor) -> torch.Tensor:
    """Causal FIR with conv-order taps [C, K]: y[t] = sum_k taps[:, k] * x[t - (K-1) + k].

    The last tap multiplies the current sample (§4). x: [B, S, C] fp32."""
    K = taps.shape[-1]
    y = x * taps[:, K - 1]
    for k in range(K - 1):
        y = y + shift_right(x, K - 1 - k) * taps[:, k]
    return y


def fft_causal_conv(u: torch.Tensor, h: torch.Tensor, ct=torch.float32) -> torch.Tensor:
    """y[c, t] = sum_{tau <= t} h[c, t - tau] u[c, tau]; u [B, C, S], h [C, L<=S] impulse order."""
    S = u.shape[-1]
    n = 2 * S
    U = torch.fft.rfft(u.to(ct), n=n)
    Hf = torch.fft.rfft(h[..., :S].to(ct), n=n)  # taps past S cannot reach; longer would wrap
    return torch.fft.irfft(U * Hf, n=n)[..., :S]


def hcl_filter(log_poles: torch.Tensor, residues: torch.Tensor, S: int, ct=torch.float32) -> torch.Tensor:
    """§7 hcl: h[c, t] = sum_n R[c, n] exp(lambda[c, n] t), t = 0..S-1, in `ct`. -> [H, S]."""
    t = torch.arange(S, device=log_poles.device, dtype=ct)
    lam = log_poles.to(ct).reshape(log_poles.shape[0], -1, 1)  # [H, 16, 1]
    # elementwise + sum, not einsum, so autocast cannot drop it to bf16 (docs/spec/model.md §10)
    return (residues.to(ct)[:, :, None] * torch.exp(lam * t)).sum(dim=1)


def group_expand(h: torch.Tensor, H: int) -> torch.Tensor:
    """[G, 1, K] grouped taps -> [H, K]; contiguous blocks of H/G channels share a row (§7)."""
    G = h.shape[0]
    return h.reshape(G, -1).repeat_interleave(H // G, dim=0)


def linear(x, w, b=None):
    return F.linear(x, w, b)


def hyena_mixer(cfg: Evo2Config, kind: str, w: dict, p: str, z: torch.Tensor,
                ct=torch.float32) -> torch.Tensor:
    H = cfg.hidden_size
    P = linear(z, w[p + "projections.weight"])  # [B, S, 3H]
    feat_taps = w[p + "filter.short_filter_weight"].reshape(3 * H, -1).to(ct)  # [3H, 3]
    Fm = conv_order_fir(P.to(ct), feat_taps)  # §7.2 on all 3H interleaved columns
    q, k, v = Fm[..., 0::3], Fm[..., 1::3], Fm[..., 2::3]  # §7.3
    a = k * v  # §7.4, [B, S, H] fp32
    if kind == "hcs":
        y = conv_order_fir(a, group_expand(w[p + "filter.h"], H).to(ct))
    else:
        if kind == "hcm":
            h = group_expand(w[p + "filter.h"], H)  # impulse order
        else:
            h = hcl_filter(w[p + "filter.log_poles"], w[p + "filter.residues"], a.shape[1], ct)
        y = fft_causal_conv(a.transpose(1, 2), h, ct).transpose(1, 2)
        y = y + w[p + "filter.D"].to(ct) * a
    o = q * y  # §7.6 post-gate with the first stream of each triple
    return linear(o, w[p + "out_filter_dense.weight"], w[p + "out_filter_dense.bias"])


def rotary(x: torch.Tensor, inv_freq: torch.Tensor, scale: float, ct=torch.float32) -> torch.Tensor:
    """§8 rotate-half on the full head dim; x [B, S, nh, d]; angle formed in fp32 like vortex."""
    S, d = x.shape[1], x.shape[-1]
    t = torch.arange(S, device=x.device, dtype=torch.float32)
    if scale != 1.0:
        t = t / scale
    ang = torch.outer(t, inv_freq.float())  # [S, d/2]
    cos, sin = ang.cos()[None, :, None, :], ang.sin()[None, :, None, :]
    xf = x.to(ct)
    a, b = xf[..., : d // 2], xf[..., d // 2:]
    return torch.cat([a * cos - b * sin, a * sin + b * cos], dim=-1)


def attention_mixer(cfg: Evo2Config, w: dict, p: str, z: torch.Tensor, exact: bool,
                    ct=torch.float32) -> torch.Tensor:
    B, S, H = z.shape
    nh, d = cfg.num_attention_heads, cfg.head_dim
    qkv = linear(z, w[p + "inner_mha_cls.Wqkv.weight"]).view(B, S, nh, 3, d)  # per-head rows
    inv_freq = w[p + "inner_mha_cls.rotary_emb.inv_freq"]
    q = rotary(qkv[:, :, :, 0], inv_freq, cfg.rotary_scale, ct)
    k = rotary(qkv[:, :, :, 1], inv_freq, cfg.rotary_scale, ct)
    v = qkv[:, :, :, 2]
    q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # [B, nh, S, d]
    if exact or not hasattr(F, "scaled_dot_product_attention"):
        scores = (q.to(ct) @ k.to(ct).transpose(-1, -2)) / math.sqrt(d)
        mask = torch.ones(S, S, dtype=torch.bool, device=z.device).tril()
        scores = scores.masked_fill(~mask, float("-inf"))
        o = torch.softmax(scores, dim=-1) @ v.to(ct)
    else:
        dt = torch.get_autocast_gpu_dtype() if torch.is_autocast_enabled() else z.dtype
        o = F.scaled_dot_product_attention(q.to(dt), k.to(dt), v.to(dt), is_causal=True)
    o = o.transpose(1, 2).reshape(B, S, H).to(z.dtype)  # heads concatenated head-major
    return linear(o, w[p + "inner_mha_cls.out_proj.weight"], w[p + "inner_mha_cls.out_proj.bias"])


def mlp(w: dict, p: str, z: torch.Tensor, gelu: bool) -> torch.Tensor:
    """§6: l3(phi(l1 z) * (l2 z)); phi = exact GELU in block 0 only, identity elsewhere."""
    g = linear(z, w[p + "mlp.l1.weight"])
    if gelu:
        g = F.gelu(g)
    return linear(g * linear(z, w[p + "mlp.l2.weight"]), w[p + "mlp.l3.weight"])


def forward(cfg: Evo2Config, w: dict, tokens: torch.Tensor, exact: bool = True,
            return_hidden=(), return_logits_dtype=torch.float32, with_hidden=False):
    """tokens [B, S] int64 -> logits [B, S, 512] (row t predicts token t+1).

    exact=True: plain fp32 softmax attention (the reference). exact=False allows SDPA (training).
    Under torch.autocast the GEMMs run in bf16; norms, filters and rotary stay in fp32."""
    # Compute dtype: fp64 when the weights are fp64 (cross-checks), else fp32 (+ autocast).
    ct = torch.float64 if w["embedding_layer.weight"].dtype == torch.float64 else torch.float32
    x = F.embedding(tokens, w["embedding_layer.weight"]).to(ct)
    hidden = {}
    for i in range(cfg.num_layers):
        p = f"blocks.{i}."
        kind = cfg.kind(i)
        z = rms_norm(x, w[p + "pre_norm.scale"], cfg.eps, ct)
        if kind == "attn":
            m = attention_mixer(cfg, w, p, z, exact, ct)
        else:
            m = hyena_mixer(cfg, kind, w, p, z, ct)
        x = x + m.to(ct)
        z = rms_norm(x, w[p + "post_norm.scale"], cfg.eps, ct)
        x = x + mlp(w, p, z, gelu=(i == 0)).to(ct)
        if i in return_hidden:
            hidden[i] = x
    z = rms_norm(x, w["norm.scale"], cfg.eps, ct)
    logits = linear(z, w["embedding_layer.weight"]).to(return_logits_dtype)  # tied head, §5
    if with_hidden:
        return logits, hidden
    return logits


def next_token_logprobs(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """lp[t] = log_softmax(logits[t])[tokens[t+1]], t < S-1 (docs/spec/model.md §3); [B,S-1] fp32"""
    lp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    return lp.gather(-1, tokens[:, 1:, None]).squeeze(-1)


# ----------------------------------------------------------------------------------------
# vortex checkpoint helpers (docs/spec/model.md §9)

FP32_KEYS = ("filter.log_poles", "filter.residues", "rotary_emb.inv_freq")


def expected_shapes(cfg: Evo2Config) -> dict:
    H, I = cfg.hidden_size, cfg.inner_mlp_size
    d = cfg.head_dim
    s = {"embedding_layer.weight": (VOCAB, H), "norm.scale": (H,)}
    for i in range(cfg.num_layers):
        p = f"blocks.{i}."
        kind = cfg.kind(i)
        s[p + "pre_norm.scale"] = (H,)
        s[p + "post_norm.scale"] = (H,)
        s[p + "mlp.l1.weight"] = (I, H)
        s[p + "mlp.l2.weight"] = (I, H)
        s[p + "mlp.l3.weight"] = (H, I)
        if kind == "attn":
            s[p + "inner_mha_cls.Wqkv.weight"] = (3 * H, H)
            s[p + "inner_mha_cls.out_proj.weight"] = (H, H)
            s[p + "inner_mha_cls.out_proj.bias"] = (H,)
            s[p + "inner_mha_cls.rotary_emb.inv_freq"] = (d // 2,)
            continue
        s[p + "projections.weight"] = (3 * H, H)
        s[p + "filter.short_filter_weight"] = (3 * H, 1, cfg.short_filter_length)
        s[p + "out_filter_dense.weight"] = (H, H)
        s[p + "out_filter_dense.bias"] = (H,)
        if kind == "hcs":
            s[p + "filter.h"] = (cfg.hcs_filter_groups, 1, cfg.hcs_filter_length)
        elif kind == "hcm":
            s[p + "filter.h"] = (cfg.hcm_filter_groups, 1, cfg.hcm_filter_length)
            s[p + "filter.D"] = (H,)
        else:
            s[p + "filter.D"] = (H,)
            s[p + "filter.log_poles"] = (H, MODES, 1)
            s[p + "filter.residues"] = (H, MODES)
    return s


def to_vortex_dtypes(w: dict) -> dict:
    """bf16 everywhere except log_poles / residues / inv_freq (fp32), CPU, contiguous."""
    out = {}
    for k, v in w.items():
        dt = torch.float32 if k.endswith(FP32_KEYS) else torch.bfloat16
        out[k] = v.detach().to("cpu", dt).contiguous().clone()
    return out


def load_vortex(path, device="cpu", dtype=torch.float32) -> dict:
    sd = torch.load(path, map_location="cpu")
    return {k: v.to(device=device, dtype=dtype) for k, v in sd.items()
            if not k.endswith("_extra_state")}


def check_shapes(cfg: Evo2Config, w: dict):
    exp = expected_shapes(cfg)
    missing = sorted(set(exp) - set(w))
    extra = sorted(set(w) - set(exp))
    if missing or extra:
        raise ValueError(f"checkpoint keys differ: missing {missing[:5]} extra {extra[:5]}")
    for k, s in exp.items():
        if tuple(w[k].shape) != s:
            raise ValueError(f"{k}: shape {tuple(w[k].shape)} != {s}")


def vortex_yaml(cfg: Evo2Config, template_text: str) -> str:
    """A golden config.yml with the architecture numbers replaced (same keys, same order)."""
    import yaml  # noqa: F401  (validated by the caller)
    lines = template_text.splitlines()
    lists = {"hcl_layer_idxs": cfg.hcl_layer_idxs, "hcm_layer_idxs": cfg.hcm_layer_idxs,
             "hcs_layer_idxs": cfg.hcs_layer_idxs, "attn_layer_idxs": cfg.attn_layer_idxs}
    scalars = {"model_name": cfg.model_name, "hidden_size": cfg.hidden_size,
               "num_filters": cfg.hidden_size, "hcl_filter_groups": cfg.hidden_size,
               "hcm_filter_groups": cfg.hcm_filter_groups, "hcs_filter_groups": cfg.hcs_filter_groups,
               "hcm_filter_length": cfg.hcm_filter_length, "hcs_filter_length": cfg.hcs_filter_length,
               "num_layers": cfg.num_layers, "short_filter_length": cfg.short_filter_length,
               "num_attention_heads": cfg.num_attention_heads,
               "rotary_emb_base": int(cfg.rotary_emb_base), "inner_mlp_size": cfg.inner_mlp_size,
               "max_seqlen": cfg.max_seqlen}
    out, skip_list = [], False
    for ln in lines:
        if skip_list:
            if ln.startswith("- "):
                continue
            skip_list = False
        key = ln.split(":", 1)[0]
        if key in lists:
            out.append(f"{key}:")
            out.extend(f"- {i}" for i in lists[key])
            skip_list = True
        elif key in scalars:
            out.append(f"{key}: {scalars[key]}")
        elif key in ("use_interpolated_rotary_pos_emb", "rotary_emb_scaling_factor"):
            continue  # the demo model uses no position interpolation
        else:
            out.append(ln)
    return "\n".join(out) + "\n"
