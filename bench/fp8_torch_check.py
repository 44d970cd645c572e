"""Checks the engine's FP8 E4M3 emulation (docs/spec/fp8.md) against PyTorch on the GPU machine.

Reads the .npy files `cuda_fp8_gemm_test --gtest_filter=*Dump*` writes (EVO2_FP8_DUMP_DIR):
the inputs x [rows, in] and w [out, in], the emulation's E4M3 values qx, qw, its inverse
scales inv_x [rows] and inv_w [1], and its output y [rows, out]. Checks
  1. qx == float(float8_e4m3fn(x / inv_x)) and qw likewise: PyTorch's own cast (round to nearest
     even; the scaled values never exceed 448, so its non-saturating cast agrees);
  2. y against torch._scaled_mm on the same codes with per-row / per-column scales.
Prints one line per check and exits non-zero on a mismatch.
"""
import sys

import numpy as np
import torch


def main(d):
    x, w = np.load(f"{d}/x.npy"), np.load(f"{d}/w.npy")
    qx, qw = np.load(f"{d}/qx.npy"), np.load(f"{d}/qw.npy")
    inv_x, inv_w = np.load(f"{d}/inv_x.npy"), np.load(f"{d}/inv_w.npy")
    y = np.load(f"{d}/y.npy")
    ok = True
    # The scales as the rule defines them, in fp32: 448 / amax per row, and per tensor for w.
    sx = np.float32(448.0) / np.abs(x).max(axis=1).astype(np.float32)
    sw = np.float32(448.0) / np.float32(np.abs(w).max())
    cast_x = torch.from_numpy((x * sx[:, None]).astype(np.float32)).to(torch.float8_e4m3fn).float().numpy()
    cast_w = torch.from_numpy((w * sw).astype(np.float32)).to(torch.float8_e4m3fn).float().numpy()
    print(f"scales: max |1/s_x - inv_x| {np.abs(np.float32(1.0) / sx - inv_x).max():.1e}")
    mx = int((cast_x != qx).sum())
    mw = int((cast_w != qw).sum())
    print(f"cast: {mx} of {qx.size} activation codes and {mw} of {qw.size} weight codes differ from torch.float8_e4m3fn")
    ok &= mx == 0 and mw == 0
    a = torch.from_numpy(qx).cuda().to(torch.float8_e4m3fn)
    b = torch.from_numpy(qw).cuda().to(torch.float8_e4m3fn)
    scale_a = torch.from_numpy(inv_x).cuda().reshape(-1, 1)
    scale_b = torch.full((1, qw.shape[0]), float(inv_w[0]), device="cuda")
    got = torch._scaled_mm(a, b.t(), scale_a=scale_a, scale_b=scale_b, out_dtype=torch.float32).cpu().numpy()
    rel = float(np.linalg.norm(got - y) / np.linalg.norm(y))
    print(f"torch._scaled_mm (row-wise scales) vs emulation: rel-L2 {rel:.2e}, max abs {np.abs(got - y).max():.2e}")
    # Hopper's FP8 tensor cores accumulate with less than fp32 precision: ~1e-4 (fp8_gemm_test.cc).
    ok &= rel <= 5e-4
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
