// FP8 E4M3 GEMMs through cuBLASLt (docs/spec/fp8.md): Y[t, o] = inv_x[t]·inv_w[o]·Σ_k x[t,k]·w[o,k]
// (+ beta·Y), operands as E4M3 codes (kernels/fp8_quantize.cuh), fp32 accumulation, bf16 or fp32
// result. The per-row and per-output inverse scales are cuBLASLt's "outer vector" scale modes
// (CUBLASLT_MATMUL_MATRIX_SCALE_OUTER_VEC_32F, sm_90, cuBLAS >= 12.9), so no pass over the
// product is needed to apply them.
//
// Layout: the engine's row-major X [rows, k] and W [out, k] are cuBLASLt's column-major
// Xᵀ [k, rows] and Wᵀ [k, out]; with op(A) = T on W this is the "TN" form Hopper's FP8 tensor
// cores require. k and ldx must be multiples of 16, out and ldy multiples of 8.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <map>
#include <memory>
#include <tuple>

#include "absl/status/statusor.h"
#include "evo2/tensor.h"
#include "kernels/device_buffer.h"

namespace evo2::cuda {

struct Fp8GemmArgs {
  const uint8_t* x = nullptr;  // [rows, ldx] E4M3 codes
  int64_t ldx = 0;
  const float* x_inv = nullptr;  // [rows] 1/s_t
  const uint8_t* w = nullptr;    // [out, k] E4M3 codes
  const float* w_inv = nullptr;  // [out] 1/s_W (the same value for a per-tensor scale)
  void* y = nullptr;             // [rows, ldy] bf16 or fp32
  int64_t ldy = 0;
  int64_t rows = 0, k = 0, out = 0;
  float beta = 0.f;
};

class Fp8Gemm {
 public:
  ~Fp8Gemm();
  static absl::StatusOr<std::unique_ptr<Fp8Gemm>> Create(cudaStream_t stream);

  // `result`: kBFloat16 or kFloat32 (with beta = 1 the fp32 residual stream is the C operand).
  absl::Status Run(DType result, const Fp8GemmArgs& args);

  // cuBLASLt's FP8 "fast accumulation" (partial sums kept in the tensor cores' reduced
  // precision instead of being promoted to fp32): off by default; EVO2_FP8_FAST_ACCUM=1 turns it
  // on (bench/RESULTS.md measures both).
  bool fast_accumulation() const { return fast_accumulation_; }

 private:
  struct Plan;
  using Key = std::tuple<int, int64_t, int64_t, int64_t, int64_t, int64_t, bool>;
  Fp8Gemm() = default;
  absl::StatusOr<Plan*> PlanFor(DType result, const Fp8GemmArgs& args);

  cudaStream_t stream_ = nullptr;
  cublasLtHandle_t lt_ = nullptr;
  kernels::DeviceBuffer workspace_;
  bool fast_accumulation_ = false;
  std::map<Key, std::unique_ptr<Plan>> plans_;
};

}  // namespace evo2::cuda
