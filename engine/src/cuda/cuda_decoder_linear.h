// The decode step's linear layers, y = x·wᵀ (+ y when beta = 1), for B rows (docs/adr/0006): up
// to kSkinnyGemmMaxRows rows on the weight-streaming kernel of kernels/skinny_gemm.cuh (at a few
// rows a GEMM is one pass over the weights), above, or for a shape it refuses, on cuBLAS.
// EVO2_CUDA_DECODE_GEMV=0 uses cuBLAS for every B and EVO2_CUDA_DECODE_PDL=0 launches the kernel
// plainly instead of as a programmatic dependent (A/B); every CUDA decoder reads them here.
// EVO2_CUDA_DECODE_UNROLL=4|8|16 fixes the kernel's loads in flight per lane (default: by K),
// EVO2_CUDA_DECODE_GATE_EPILOGUE=0 runs the MLP gate as its own kernel after the l1/l2 product
// instead of in that product's epilogue (A/B; the results are the same bit for bit).
#pragma once

#include <cuda_runtime.h>

#include "absl/status/status.h"
#include "cuda/gemm.h"
#include "evo2/tensor.h"

namespace evo2::cuda {

class DecodeLinear {
 public:
  DecodeLinear(GemmRunner& gemm, DType act, cudaStream_t stream);

  // x, w in the activation dtype `act`; y in `result` (act, or fp32 for the residual stream and
  // the logits).
  template <typename T>
  absl::Status Run(DType result, const GemmArgs& g) const;

  // mlp [B, 2I] act: its first I columns = gate(x·[l1; l2]ᵀ) (kernels/mlp_gate.cuh) for
  // g = {x, w = [l1; l2] [2I, H], y = mlp, ldy = 2I, in = H, out = 2I}; the second half is
  // scratch (left unwritten when the few-row kernel applies the gate in its epilogue).
  template <typename T>
  absl::Status RunGatedMlp(const GemmArgs& g, bool gelu) const;

  bool skinny() const { return skinny_; }
  // Whether the skinny kernel launches as a programmatic dependent; DecodeStepGraphs clears it
  // when a capture refuses such launches.
  bool* programmatic() { return &programmatic_; }
  bool programmatic_on() const { return programmatic_; }

 private:
  GemmRunner& gemm_;
  DType act_;
  cudaStream_t stream_;
  bool skinny_ = true;
  bool programmatic_ = true;
  bool gate_epilogue_ = true;
  int unroll_ = 0;  // kernels::SkinnyGemmArgs::unroll
};

}  // namespace evo2::cuda
