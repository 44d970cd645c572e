#!/usr/bin/env python3
"""Times HuggingFace transformers' own forward of a random-weight model at a real shape, on the
GPU, for the comparison rows in bench/RESULTS.md (the engine's figures come from
evo2_llama_bench / evo2_nemotron_h_bench with the same shapes).

  hf_transformers_forward.py {eden7b,llama8b,hybrid8b} --tokens 8192 [--runs 3]

Prints one line: shape, tokens, median seconds per forward, tokens/s, peak GiB. Needs torch and
transformers (not installed by this project; absent -> says so and exits 0).
"""
import argparse
import statistics
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("shape", choices=["eden7b", "llama8b", "hybrid8b"])
    ap.add_argument("--tokens", type=int, default=8192)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    try:
        import torch
        import transformers
    except ImportError as e:
        print(f"hf_transformers_forward: skipped ({e})")
        return 0
    torch.manual_seed(0)
    torch.set_default_dtype(torch.bfloat16)
    if a.shape in ("eden7b", "llama8b"):
        # Llama-3.1-8B layout; Eden 7B = the same with the 512-token DNA vocabulary.
        cfg = transformers.LlamaConfig(
            vocab_size=512 if a.shape == "eden7b" else 128256, hidden_size=4096,
            intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
            num_key_value_heads=8, max_position_embeddings=max(131072, a.tokens),
            rope_theta=500000.0, rms_norm_eps=1e-5,
            rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                          "high_freq_factor": 4.0, "original_max_position_embeddings": 8192})
        cfg._attn_implementation = "sdpa"
        with torch.device("cuda"):
            model = transformers.LlamaForCausalLM(cfg)
    else:
        # NemotronH-8B hybrid layout as BioNeMo's hybrid_mamba_8b (52 layers, H 4096).
        pattern = "M-M-M-M*-M-M-M-M-M*-M-M-M-M-M*-M-M-M-M-M*-M-M-M-M-M-"
        cfg = transformers.NemotronHConfig(
            vocab_size=512, hidden_size=4096, intermediate_size=21504, num_hidden_layers=len(pattern),
            hybrid_override_pattern=pattern, num_attention_heads=32, num_key_value_heads=8,
            head_dim=128, mamba_num_heads=128, mamba_head_dim=64, n_groups=8, ssm_state_size=128,
            conv_kernel=4, chunk_size=128, max_position_embeddings=max(131072, a.tokens))
        with torch.device("cuda"):
            model = transformers.NemotronHForCausalLM(cfg)
    model.eval()
    ids = torch.randint(0, 4, (1, a.tokens), device="cuda") + 65
    times = []
    with torch.inference_mode():
        model(ids, use_cache=False, logits_to_keep=1)  # warm-up
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        for _ in range(a.runs):
            t = time.perf_counter()
            model(ids, use_cache=False, logits_to_keep=1)
            torch.cuda.synchronize()
            times.append(time.perf_counter() - t)
    med = statistics.median(times)
    print(f"hf transformers {transformers.__version__} {a.shape} 1x{a.tokens}: median {med:.3f} s of "
          f"{a.runs}, {a.tokens / med:.0f} tokens/s, peak {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
