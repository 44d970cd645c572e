// Matrix product for a few rows (the decoder's [B, ·] GEMMs at small B), weight-streaming:
//   y[r, o] = Σ_k x[r, k] · w[o, k]  (+ bias[o])  (+ y[r, o] when accumulate)   fp32 sums
// x [rows, K] T, w [O, K] T contiguous (a PyTorch Linear weight), bias [O] T, y [rows, O] Out
// (T, or fp32 for the residual stream and the logits). The RMSNorm before a product runs as its
// own kernel (rms_norm.cuh): the two ways of forming it inside the product measured slower on an
// H100 and were removed (kernels/NOTES.md, docs/adr/0006-cuda-decode-step.md).
// With output kGatedMlp the product also applies the MLP gate (mlp_gate.cuh) in its epilogue:
//   y[r, o] = round_T(φ(round_T(x·w[o])) · round_T(x·w[out + o]))   w [2·out, K] = [l1; l2]
// the value LaunchMlpGate leaves in y[:, :out] after the plain product of all 2·out rows into y,
// bit for bit (each row's sum is the same), one launch fewer per block of the decoder.
// At a handful of rows a GEMM is a pass over the weights (2·O·K bytes against 2·rows·O·K
// FLOPs), so the kernel is written for bandwidth: one warp per output row o, 16-byte loads of w
// kept in flight `unroll` deep per lane (4, 8 or 16; by default 16, the fastest on every measured
// shape), a warp reduction per row.
// Every lane sums its chunks in the same order whatever the unroll, so results do not depend
// on it.
// With w_inv_scale the weights are an FP8 copy (docs/spec/fp8.md, cuda_weights.h's
// DeviceFp8Linear): w [O, K] E4M3 codes, and every output row's sum is scaled once,
//   y[r, o] = w_inv_scale[o] · Σ_k x[r, k] · e4m3(w[o, k])  (+ bias[o]) (+ y[r, o])
// — weight-only FP8: half the bytes of a bf16 pass, x stays T (not quantised as the FP8
// forward's inputs are); K a multiple of 16. Needs K and ldx multiples of 16 bytes of T, 16-byte
// aligned x and w and rows ≤ 8; other shapes are refused with UNIMPLEMENTED (the caller runs
// cuBLAS).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "absl/status/status.h"

namespace evo2::kernels {

inline constexpr int64_t kSkinnyGemmMaxRows = 8;

enum class SkinnyOutput { kPlain, kGatedMlp };

struct SkinnyGemmArgs {
  const void* x = nullptr;  // [rows, K] T, leading dimension ldx (elements)
  int64_t ldx = 0;
  bool gelu = false;                 // kGatedMlp: φ = exact erf GELU, else identity
  const void* w = nullptr;           // [O, K] T, or E4M3 codes with w_inv_scale
  const float* w_inv_scale = nullptr;  // [O] 1/s_W of E4M3 weights (the gated output: [2·out])
  const void* bias = nullptr;        // [O] T or nullptr
  void* y = nullptr;                 // [rows, O] Out, leading dimension ldy
  int64_t ldy = 0;
  int64_t rows = 0, in = 0, out = 0;
  bool accumulate = false;
  // kGatedMlp: w holds 2·out rows, y gets the gated products; needs Out = T, no bias, no
  // accumulate (`gelu` picks φ).
  SkinnyOutput output = SkinnyOutput::kPlain;
  // 16-byte loads of w in flight per lane: 4, 8 or 16, or 0 for the default (16).
  int unroll = 0;
  // Launch as a programmatic dependent of the kernel before it on the stream
  // (kernels/dependent_launch.cuh): each warp prefetches its first weight row into L2, then
  // waits for that kernel before touching x or y. Falls back to a plain launch if refused.
  bool programmatic = false;
};

template <typename T, typename Out>
absl::Status LaunchSkinnyGemm(const SkinnyGemmArgs& args, cudaStream_t stream);

}  // namespace evo2::kernels
