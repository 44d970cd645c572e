// Dense products of the forward pass, bf16 (or fp32) operands with fp32 accumulation (spec
// docs/spec/model.md §10: "GEMMs: bf16 inputs, fp32 accumulation").
//
// Row-major convention of the engine: activations X [rows, in] (leading dimension ldx), a
// PyTorch Linear weight W [out, in]; computes  Y[rows, out] = X·Wᵀ + beta·Y.
// beta = 1 accumulates into Y, which is how the residual additions are fused into the output
// projections (the residual stream is the C operand).
//
// Why a runner with tuning: cuBLAS's default choice is 5–30 % off the best of its own algorithms
// on several of the forward's shapes (bench/cuda/gemm_algos.cc on an H200: 1B out-projection 424
// vs 555 TFLOP/s, 7B mlp_l3 at 16k rows 610 vs 718), and no single choice wins everywhere
// (cublasGemmEx's own pick is the best for the 7B mlp_l12). Tune() times cublasGemmEx and every
// algorithm cuBLASLt's heuristic offers for one shape and remembers the fastest; Run() uses it.
// Shapes never tuned run through cublasGemmEx (the untuned default).
#pragma once

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <map>
#include <memory>
#include <tuple>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "evo2/tensor.h"
#include "kernels/device_buffer.h"

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

// cuBLASLt scratch of each GemmRunner: what its fastest sm_90 kernels ask for on these shapes
// (split-K / stream-K reductions); the heuristic is told this limit.
inline constexpr size_t kLtWorkspaceBytes = size_t{32} << 20;

class GemmRunner {
 public:
  ~GemmRunner();
  // One cuBLAS and one cuBLASLt handle on `stream`, and the cuBLASLt workspace.
  static absl::StatusOr<std::unique_ptr<GemmRunner>> Create(cudaStream_t stream);

  // `operand` is the dtype of x and w (kBFloat16 or kFloat32); `result` the dtype of y
  // (the operand dtype, or kFloat32 for the residual stream and the logits).
  absl::Status Run(DType operand, DType result, const GemmArgs& args);

  // Times the candidates for this shape on these buffers and keeps the fastest for Run. The
  // buffers' contents are used as data and y is overwritten (accumulated into when beta ≠ 0):
  // call it on scratch, before the forward fills them. bf16 operands only (fp32 mode must stay
  // plain fp32, no choice to make); a no-op for shapes already tuned.
  absl::Status Tune(DType operand, DType result, const GemmArgs& args);

  bool Tuned(DType operand, DType result, const GemmArgs& args) const {
    return choices_.count(Key(operand, result, args)) != 0;
  }
  size_t workspace_bytes() const { return workspace_.bytes(); }
  int tuned_shapes() const { return static_cast<int>(choices_.size()); }

 private:
  using ShapeKey = std::tuple<int, int, int64_t, int64_t, int64_t, int64_t, int64_t, bool>;
  struct Choice;  // cublasGemmEx, or one cuBLASLt algorithm with its descriptors

  GemmRunner() = default;
  absl::Status RunGemmEx(DType operand, DType result, const GemmArgs& args);
  static ShapeKey Key(DType operand, DType result, const GemmArgs& args);

  cudaStream_t stream_ = nullptr;
  cublasHandle_t blas_ = nullptr;
  cublasLtHandle_t lt_ = nullptr;
  kernels::DeviceBuffer workspace_;
  std::map<ShapeKey, std::unique_ptr<Choice>> choices_;
};

}  // namespace evo2::cuda
