#include "cuda/fp8_gemm.h"

#include <climits>
#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "cuda/gemm.h"
#include "evo2/status_macros.h"

namespace evo2::cuda {
namespace {

constexpr size_t kWorkspaceBytes = size_t{32} << 20;
// Distinct (shape, rows) plans kept; scoring sees many record lengths.
constexpr size_t kMaxPlans = 512;

}  // namespace

struct Fp8Gemm::Plan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t w = nullptr, x = nullptr, y = nullptr;
  cublasLtMatmulAlgo_t algo{};
  ~Plan() {
    if (w != nullptr) cublasLtMatrixLayoutDestroy(w);
    if (x != nullptr) cublasLtMatrixLayoutDestroy(x);
    if (y != nullptr) cublasLtMatrixLayoutDestroy(y);
    if (desc != nullptr) cublasLtMatmulDescDestroy(desc);
  }
};

Fp8Gemm::~Fp8Gemm() {
  plans_.clear();
  if (lt_ != nullptr) cublasLtDestroy(lt_);
}

absl::StatusOr<std::unique_ptr<Fp8Gemm>> Fp8Gemm::Create(cudaStream_t stream) {
  std::unique_ptr<Fp8Gemm> g(new Fp8Gemm());
  g->stream_ = stream;
  CUBLAS_RETURN_IF_ERROR(cublasLtCreate(&g->lt_));
  ASSIGN_OR_RETURN(auto ws, kernels::DeviceBuffer::Allocate(kWorkspaceBytes));
  g->workspace_ = std::move(ws);
  const char* fast = std::getenv("EVO2_FP8_FAST_ACCUM");
  g->fast_accumulation_ = fast != nullptr && std::string(fast) == "1";
  return g;
}

absl::StatusOr<Fp8Gemm::Plan*> Fp8Gemm::PlanFor(DType result, const Fp8GemmArgs& a) {
  const Key key{static_cast<int>(result), a.rows, a.k, a.out, a.ldx, a.ldy, a.beta != 0.f};
  if (auto it = plans_.find(key); it != plans_.end()) return it->second.get();
  if (plans_.size() >= kMaxPlans) plans_.clear();
  auto plan = std::make_unique<Plan>();
  const cudaDataType_t out_type = result == DType::kFloat32 ? CUDA_R_32F : CUDA_R_16BF;
  CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescCreate(&plan->desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t op_t = CUBLAS_OP_T, op_n = CUBLAS_OP_N;
  CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_TRANSA, &op_t, sizeof(op_t)));
  CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_TRANSB, &op_n, sizeof(op_n)));
  const int32_t outer = CUBLASLT_MATMUL_MATRIX_SCALE_OUTER_VEC_32F;
  CUBLAS_RETURN_IF_ERROR(
      cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_A_SCALE_MODE, &outer, sizeof(outer)));
  CUBLAS_RETURN_IF_ERROR(
      cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_B_SCALE_MODE, &outer, sizeof(outer)));
  // Scale pointers must be set for the heuristic to consider scaled kernels; Run() resets them.
  CUBLAS_RETURN_IF_ERROR(
      cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &a.w_inv, sizeof(a.w_inv)));
  CUBLAS_RETURN_IF_ERROR(
      cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &a.x_inv, sizeof(a.x_inv)));
  const int8_t fast = fast_accumulation_ ? 1 : 0;
  CUBLAS_RETURN_IF_ERROR(
      cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_FAST_ACCUM, &fast, sizeof(fast)));
  // Column-major: A = W as [k, out] (op T), B = X as [k, rows], C = D = Y as [out, rows].
  CUBLAS_RETURN_IF_ERROR(cublasLtMatrixLayoutCreate(&plan->w, CUDA_R_8F_E4M3, a.k, a.out, a.k));
  CUBLAS_RETURN_IF_ERROR(cublasLtMatrixLayoutCreate(&plan->x, CUDA_R_8F_E4M3, a.k, a.rows, a.ldx));
  CUBLAS_RETURN_IF_ERROR(cublasLtMatrixLayoutCreate(&plan->y, out_type, a.out, a.rows, a.ldy));
  cublasLtMatmulPreference_t pref = nullptr;
  CUBLAS_RETURN_IF_ERROR(cublasLtMatmulPreferenceCreate(&pref));
  const size_t ws = workspace_.bytes();
  cublasStatus_t st = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws));
  cublasLtMatmulHeuristicResult_t result_heur{};
  int found = 0;
  if (st == CUBLAS_STATUS_SUCCESS) {
    st = cublasLtMatmulAlgoGetHeuristic(lt_, plan->desc, plan->w, plan->x, plan->y, plan->y, pref, 1, &result_heur,
                                        &found);
  }
  cublasLtMatmulPreferenceDestroy(pref);
  if (st != CUBLAS_STATUS_SUCCESS || found == 0) {
    return absl::UnimplementedError(absl::StrCat(
        "fp8 gemm: cuBLASLt has no E4M3 kernel with per-row/per-column scales for rows=", a.rows, " k=", a.k,
        " out=", a.out, " result=", std::string(DTypeName(result)), " beta=", a.beta, " (", cublasGetStatusName(st),
        "); FP8 needs an sm_90 GPU and cuBLAS >= 12.9"));
  }
  plan->algo = result_heur.algo;
  Plan* raw = plan.get();
  plans_[key] = std::move(plan);
  return raw;
}

absl::Status Fp8Gemm::Run(DType result, const Fp8GemmArgs& a) {
  if (result != DType::kBFloat16 && result != DType::kFloat32) {
    return absl::InvalidArgumentError("fp8 gemm: the result must be bf16 or fp32");
  }
  if (a.x == nullptr || a.w == nullptr || a.y == nullptr || a.x_inv == nullptr || a.w_inv == nullptr) {
    return absl::InvalidArgumentError("fp8 gemm: null pointer");
  }
  // Measured on an H100 with cuBLAS 13.0: with outer-vector scales there is no kernel for an
  // output width that is not a multiple of 8 (5, 17, 129 refused; 16, 40, 48, 384 run).
  if (a.rows < 0 || a.k <= 0 || a.out <= 0 || a.k % 16 != 0 || a.ldx % 16 != 0 || a.out % 8 != 0 ||
      a.ldy % 8 != 0 || a.ldx < a.k || a.ldy < a.out || a.rows > INT_MAX || a.ldx > INT_MAX || a.ldy > INT_MAX ||
      a.out > INT_MAX) {
    return absl::InvalidArgumentError(absl::StrCat("fp8 gemm: bad shape rows=", a.rows, " k=", a.k, " out=", a.out,
                                                   " ldx=", a.ldx, " ldy=", a.ldy,
                                                   " (k and ldx must be multiples of 16, out and ldy of 8)"));
  }
  if (a.rows == 0) return absl::OkStatus();
  ASSIGN_OR_RETURN(Plan * p, PlanFor(result, a));
  CUBLAS_RETURN_IF_ERROR(
      cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &a.w_inv, sizeof(a.w_inv)));
  CUBLAS_RETURN_IF_ERROR(
      cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &a.x_inv, sizeof(a.x_inv)));
  const float alpha = 1.f;
  CUBLAS_RETURN_IF_ERROR(cublasLtMatmul(lt_, p->desc, &alpha, a.w, p->w, a.x, p->x, &a.beta, a.y, p->y, a.y, p->y,
                                        &p->algo, workspace_.get(), workspace_.bytes(), stream_));
  return absl::OkStatus();
}

}  // namespace evo2::cuda
