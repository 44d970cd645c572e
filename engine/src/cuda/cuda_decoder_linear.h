// The decode step's linear layers, y = x·wᵀ (+ y when beta = 1), for B rows (docs/adr/0006): up
// to kSkinnyGemmMaxRows rows on the weight-streaming kernel of kernels/skinny_gemm.cuh (at a few
// rows a GEMM is one pass over the weights), above, or for a shape it refuses, on cuBLAS.
// EVO2_CUDA_DECODE_GEMV=0 uses cuBLAS for every B and EVO2_CUDA_DECODE_PDL=0 launches the kernel
// plainly instead of as a programmatic dependent (A/B); every CUDA decoder reads them here.
// EVO2_CUDA_DECODE_UNROLL=4|8|16 fixes the kernel's loads in flight per lane (default 16),
// EVO2_CUDA_DECODE_GATE_EPILOGUE=0 runs the MLP gate as its own kernel after the l1/l2 product
// instead of in that product's epilogue (A/B; the results are the same bit for bit).
// A layer given its FP8 copy (an --fp8 / --full-fp8 model, cuda_weights.h) streams the E4M3
// codes instead of the bf16 weights on the few-row kernel (weight-only FP8: half the bytes, the
// input stays bf16); EVO2_CUDA_DECODE_FP8=0 keeps the bf16 copies. cuBLAS rows (B > 8) always
// use the bf16 weights.
// An RMSNorm input (DecodeNorm) runs as its own kernel into the scratch rows z, which the product
// then reads: folding it into the product measured slower on an H100 (docs/adr/0006).
#pragma once

#include <cuda_runtime.h>

#include "absl/status/status.h"
#include "cuda/cuda_weights.h"
#include "cuda/gemm.h"
#include "evo2/tensor.h"
#include "kernels/skinny_gemm.cuh"

namespace evo2::cuda {

// A linear layer's input as RMSNorm(x (+ bias)) (docs/spec/model.md §5).
struct DecodeNorm {
  float* x = nullptr;           // [rows, in] fp32 residual stream
  const void* scale = nullptr;  // [in] act
  const void* bias = nullptr;   // [in] act added into x first by the norm kernel, or null
  float eps = 0.f;
  void* z = nullptr;  // [rows, in] act scratch: the normalised rows
};

class DecodeLinear {
 public:
  DecodeLinear(GemmRunner& gemm, DType act, cudaStream_t stream);

  // x, w in the activation dtype `act`; y in `result` (act, or fp32 for the residual stream and
  // the logits). `w8`: the layer's FP8 copy of g.w, or null.
  template <typename T>
  absl::Status Run(DType result, const GemmArgs& g, const DeviceFp8Linear* w8 = nullptr) const;

  // Run / RunGatedMlp of RMSNorm(norm.x): g.x is ignored (ldx = in).
  template <typename T>
  absl::Status RunNormed(DType result, GemmArgs g, const DecodeNorm& norm,
                         const DeviceFp8Linear* w8 = nullptr) const;
  template <typename T>
  absl::Status RunNormedGatedMlp(GemmArgs g, bool gelu, const DecodeNorm& norm,
                                 const DeviceFp8Linear* w8 = nullptr) const;

  // mlp [B, 2I] act: its first I columns = gate(x·[l1; l2]ᵀ) (kernels/mlp_gate.cuh) for
  // g = {x, w = [l1; l2] [2I, H], y = mlp, ldy = 2I, in = H, out = 2I}; the second half is
  // scratch (left unwritten when the few-row kernel applies the gate in its epilogue).
  template <typename T>
  absl::Status RunGatedMlp(const GemmArgs& g, bool gelu, const DeviceFp8Linear* w8 = nullptr) const;

  // The FP8 copy a few-row product of `in` columns streams instead of the bf16 weights: `w8`
  // where it applies (present, its rows exactly `in` wide, FP8 steps on), else null.
  const DeviceFp8Linear* StreamedFp8Copy(const DeviceFp8Linear* w8, int64_t in) const;
  // Whether the skinny kernel launches as a programmatic dependent; DecodeStepGraphs clears it
  // when a capture refuses such launches.
  bool* programmatic() { return &programmatic_; }

 private:
  // Points `a` at the E4M3 copy when one applies to this few-row product.
  void UseFp8Copy(const DeviceFp8Linear* w8, kernels::SkinnyGemmArgs& a) const;

  GemmRunner& gemm_;
  DType act_;
  cudaStream_t stream_;
  bool skinny_ = true;
  bool programmatic_ = true;
  bool gate_epilogue_ = true;
  bool fp8_weights_ = true;
  int unroll_ = 0;  // kernels::SkinnyGemmArgs::unroll
};

}  // namespace evo2::cuda
