// Dense products of the forward pass through cuBLAS, bf16 (or fp32) operands with fp32
// accumulation (spec evo2-architecture.md §10: "GEMMs: bf16 inputs, fp32 accumulation").
//
// Row-major convention of the engine: activations X [rows, in] (leading dimension ldx), a
// PyTorch Linear weight W [out, in]; computes  Y[rows, out] = X·Wᵀ + beta·Y.
// beta = 1 accumulates into Y, which is how the residual additions are fused into the output
// projections (the residual stream is the C operand).
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "absl/status/status.h"
#include "evo2/tensor.h"

namespace evo2::cuda {

absl::Status CublasStatus(cublasStatus_t st, const char* expr, const char* file, int line);

#define CUBLAS_RETURN_IF_ERROR(expr)                                                    \
  do {                                                                                  \
    const cublasStatus_t evo2_cublas_st_ = (expr);                                      \
    if (evo2_cublas_st_ != CUBLAS_STATUS_SUCCESS)                                       \
      return ::evo2::cuda::CublasStatus(evo2_cublas_st_, #expr, __FILE__, __LINE__);    \
  } while (0)

struct GemmArgs {
  const void* x = nullptr;  // [rows, in], leading dimension ldx (>= in)
  int64_t ldx = 0;
  const void* w = nullptr;  // [out, in] contiguous
  void* y = nullptr;        // [rows, out], leading dimension ldy (>= out)
  int64_t ldy = 0;
  int64_t rows = 0, in = 0, out = 0;
  float beta = 0.f;
};

// `operand` is the dtype of x and w (kBFloat16 or kFloat32); `result` the dtype of y
// (the operand dtype, or kFloat32 for the logits).
absl::Status Gemm(cublasHandle_t handle, DType operand, DType result, const GemmArgs& args);

}  // namespace evo2::cuda
