#include "cuda/gemm.h"

#include <climits>

#include "absl/strings/str_cat.h"

namespace evo2::cuda {

absl::Status CublasStatus(cublasStatus_t st, const char* expr, const char* file, int line) {
  const std::string message =
      absl::StrCat(file, ":", line, ": ", expr, ": ", cublasGetStatusName(st), " (",
                   cublasGetStatusString(st), ")");
  if (st == CUBLAS_STATUS_ALLOC_FAILED) return absl::ResourceExhaustedError(message);
  return absl::InternalError(message);
}

namespace {

absl::StatusOr<cudaDataType_t> CudaType(DType t) {
  switch (t) {
    case DType::kBFloat16:
      return CUDA_R_16BF;
    case DType::kFloat32:
      return CUDA_R_32F;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("gemm: unsupported dtype ", std::string(DTypeName(t))));
  }
}

}  // namespace

absl::Status Gemm(cublasHandle_t handle, DType operand, DType result, const GemmArgs& a) {
  if (a.x == nullptr || a.w == nullptr || a.y == nullptr)
    return absl::InvalidArgumentError("gemm: null pointer");
  if (a.rows < 0 || a.in <= 0 || a.out <= 0 || a.ldx < a.in || a.ldy < a.out ||
      a.rows > INT_MAX || a.in > INT_MAX || a.out > INT_MAX || a.ldx > INT_MAX || a.ldy > INT_MAX)
    return absl::InvalidArgumentError(absl::StrCat("gemm: bad shape rows=", a.rows, " in=", a.in,
                                                   " out=", a.out, " ldx=", a.ldx,
                                                   " ldy=", a.ldy));
  if (a.rows == 0) return absl::OkStatus();
  auto op_type = CudaType(operand);
  if (!op_type.ok()) return op_type.status();
  auto res_type = CudaType(result);
  if (!res_type.ok()) return res_type.status();
  const float alpha = 1.f;
  // Column-major view: Yᵀ[out, rows] = W[in, out]ᵀ · Xᵀ[in, rows].
  CUBLAS_RETURN_IF_ERROR(cublasGemmEx(
      handle, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(a.out), static_cast<int>(a.rows),
      static_cast<int>(a.in), &alpha, a.w, *op_type, static_cast<int>(a.in), a.x, *op_type,
      static_cast<int>(a.ldx), &a.beta, a.y, *res_type, static_cast<int>(a.ldy),
      CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  return absl::OkStatus();
}

}  // namespace evo2::cuda
