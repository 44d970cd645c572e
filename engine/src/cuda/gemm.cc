#include "cuda/gemm.h"

#include <algorithm>
#include <climits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "evo2/status_macros.h"
#include "kernels/cuda_status.cuh"

namespace evo2::cuda {

absl::Status CublasStatus(cublasStatus_t st, const char* expr, const char* file, int line) {
  const std::string message =
      absl::StrCat(file, ":", line, ": ", expr, ": ", cublasGetStatusName(st), " (",
                   cublasGetStatusString(st), ")");
  if (st == CUBLAS_STATUS_ALLOC_FAILED) return absl::ResourceExhaustedError(message);
  return absl::InternalError(message);
}

namespace {

constexpr int kLtCandidates = 8;
// Below this many rows a GEMM costs microseconds: not worth a tuning pass.
constexpr int64_t kMinTunedRows = 1024;

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

absl::Status CheckArgs(const GemmArgs& a) {
  if (a.x == nullptr || a.w == nullptr || a.y == nullptr)
    return absl::InvalidArgumentError("gemm: null pointer");
  if (a.rows < 0 || a.in <= 0 || a.out <= 0 || a.ldx < a.in || a.ldy < a.out ||
      a.rows > INT_MAX || a.in > INT_MAX || a.out > INT_MAX || a.ldx > INT_MAX || a.ldy > INT_MAX)
    return absl::InvalidArgumentError(absl::StrCat("gemm: bad shape rows=", a.rows, " in=", a.in,
                                                   " out=", a.out, " ldx=", a.ldx,
                                                   " ldy=", a.ldy));
  return absl::OkStatus();
}

}  // namespace

struct GemmRunner::Choice {
  bool use_lt = false;
  int64_t rows = 0;  // the rows it was tuned at (the layouts below are for these)
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t w = nullptr, x = nullptr, y = nullptr;
  cublasLtMatmulAlgo_t algo{};
  ~Choice() {
    if (w != nullptr) cublasLtMatrixLayoutDestroy(w);
    if (x != nullptr) cublasLtMatrixLayoutDestroy(x);
    if (y != nullptr) cublasLtMatrixLayoutDestroy(y);
    if (desc != nullptr) cublasLtMatmulDescDestroy(desc);
  }
};

GemmRunner::~GemmRunner() {
  choices_.clear();
  if (lt_ != nullptr) cublasLtDestroy(lt_);
  if (blas_ != nullptr) cublasDestroy(blas_);
}

absl::StatusOr<std::unique_ptr<GemmRunner>> GemmRunner::Create(cudaStream_t stream) {
  std::unique_ptr<GemmRunner> r(new GemmRunner());
  r->stream_ = stream;
  CUBLAS_RETURN_IF_ERROR(cublasCreate(&r->blas_));
  CUBLAS_RETURN_IF_ERROR(cublasSetStream(r->blas_, stream));
  // fp32 mode must be true fp32 (no TF32); the bf16 mode uses the tensor cores anyway.
  CUBLAS_RETURN_IF_ERROR(cublasSetMathMode(r->blas_, CUBLAS_DEFAULT_MATH));
  CUBLAS_RETURN_IF_ERROR(cublasLtCreate(&r->lt_));
  ASSIGN_OR_RETURN(auto ws, kernels::DeviceBuffer::Allocate(kLtWorkspaceBytes));
  r->workspace_ = std::move(ws);
  // An explicit cuBLAS workspace (the cuBLASLt one: both run in stream order) so that GEMMs
  // captured into a CUDA graph (the decoder's step, cuda/cuda_decoder.h) allocate nothing.
  CUBLAS_RETURN_IF_ERROR(cublasSetWorkspace(r->blas_, r->workspace_.get(), r->workspace_.bytes()));
  return r;
}

// Rows enter the key as a power-of-two bucket: scoring sees many record lengths, and one tuning
// pass per bucket (not per length) keeps its cost to a few per process.
GemmRunner::ShapeKey GemmRunner::Key(DType operand, DType result, const GemmArgs& a) {
  int64_t bucket = 1;
  while (bucket < a.rows) bucket *= 2;
  return {static_cast<int>(operand), static_cast<int>(result), bucket, a.in, a.out, a.ldx, a.ldy,
          a.beta != 0.f};
}

absl::Status GemmRunner::RunGemmEx(DType operand, DType result, const GemmArgs& a) {
  ASSIGN_OR_RETURN(auto op_type, CudaType(operand));
  ASSIGN_OR_RETURN(auto res_type, CudaType(result));
  const float alpha = 1.f;
  // Column-major view: Yᵀ[out, rows] = W[in, out]ᵀ · Xᵀ[in, rows].
  CUBLAS_RETURN_IF_ERROR(cublasGemmEx(
      blas_, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(a.out), static_cast<int>(a.rows),
      static_cast<int>(a.in), &alpha, a.w, op_type, static_cast<int>(a.in), a.x, op_type,
      static_cast<int>(a.ldx), &a.beta, a.y, res_type, static_cast<int>(a.ldy),
      CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  return absl::OkStatus();
}

absl::Status GemmRunner::Run(DType operand, DType result, const GemmArgs& a) {
  RETURN_IF_ERROR(CheckArgs(a));
  if (a.rows == 0) return absl::OkStatus();
  auto it = choices_.find(Key(operand, result, a));
  if (it == choices_.end() || !it->second->use_lt) return RunGemmEx(operand, result, a);
  const Choice& c = *it->second;
  const float alpha = 1.f;
  if (a.rows == c.rows) {
    CUBLAS_RETURN_IF_ERROR(cublasLtMatmul(lt_, c.desc, &alpha, a.w, c.w, a.x, c.x, &a.beta, a.y,
                                          c.y, a.y, c.y, &c.algo, workspace_.get(),
                                          workspace_.bytes(), stream_));
    return absl::OkStatus();
  }
  // Another length in the tuned bucket: same algorithm, layouts for these rows (host-side
  // descriptors, microseconds). If the algorithm refuses this size, cublasGemmEx does it.
  cublasLtMatrixLayout_t x = nullptr, y = nullptr;
  ASSIGN_OR_RETURN(auto res_type, CudaType(result));
  cublasStatus_t st = cublasLtMatrixLayoutCreate(&x, CUDA_R_16BF, a.in, a.rows, a.ldx);
  if (st == CUBLAS_STATUS_SUCCESS)
    st = cublasLtMatrixLayoutCreate(&y, res_type, a.out, a.rows, a.ldy);
  if (st == CUBLAS_STATUS_SUCCESS)
    st = cublasLtMatmul(lt_, c.desc, &alpha, a.w, c.w, a.x, x, &a.beta, a.y, y, a.y, y, &c.algo,
                        workspace_.get(), workspace_.bytes(), stream_);
  if (x != nullptr) cublasLtMatrixLayoutDestroy(x);
  if (y != nullptr) cublasLtMatrixLayoutDestroy(y);
  if (st == CUBLAS_STATUS_SUCCESS) return absl::OkStatus();
  return RunGemmEx(operand, result, a);
}

absl::Status GemmRunner::Tune(DType operand, DType result, const GemmArgs& a) {
  RETURN_IF_ERROR(CheckArgs(a));
  if (operand != DType::kBFloat16 || a.rows < kMinTunedRows) return absl::OkStatus();
  const ShapeKey key = Key(operand, result, a);
  if (choices_.count(key) != 0) return absl::OkStatus();
  ASSIGN_OR_RETURN(auto res_type, CudaType(result));

  auto c = std::make_unique<Choice>();
  c->rows = a.rows;
  const int m = static_cast<int>(a.out), n = static_cast<int>(a.rows), k = static_cast<int>(a.in);
  CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescCreate(&c->desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t trans_w = CUBLAS_OP_T, trans_x = CUBLAS_OP_N;
  CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescSetAttribute(c->desc, CUBLASLT_MATMUL_DESC_TRANSA,
                                                        &trans_w, sizeof(trans_w)));
  CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescSetAttribute(c->desc, CUBLASLT_MATMUL_DESC_TRANSB,
                                                        &trans_x, sizeof(trans_x)));
  CUBLAS_RETURN_IF_ERROR(cublasLtMatrixLayoutCreate(&c->w, CUDA_R_16BF, k, m, k));
  CUBLAS_RETURN_IF_ERROR(cublasLtMatrixLayoutCreate(&c->x, CUDA_R_16BF, k, n, a.ldx));
  CUBLAS_RETURN_IF_ERROR(cublasLtMatrixLayoutCreate(&c->y, res_type, m, n, a.ldy));
  cublasLtMatmulPreference_t pref = nullptr;
  CUBLAS_RETURN_IF_ERROR(cublasLtMatmulPreferenceCreate(&pref));
  const size_t ws_bytes = workspace_.bytes();
  cublasLtMatmulHeuristicResult_t found[kLtCandidates];
  int n_found = 0;
  cublasStatus_t st = cublasLtMatmulPreferenceSetAttribute(
      pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws_bytes, sizeof(ws_bytes));
  if (st == CUBLAS_STATUS_SUCCESS)
    st = cublasLtMatmulAlgoGetHeuristic(lt_, c->desc, c->w, c->x, c->y, c->y, pref, kLtCandidates,
                                        found, &n_found);
  cublasLtMatmulPreferenceDestroy(pref);
  if (st != CUBLAS_STATUS_SUCCESS) n_found = 0;  // no Lt candidates: cublasGemmEx stays

  cudaEvent_t start = nullptr, stop = nullptr;
  CUDA_RETURN_IF_ERROR(cudaEventCreate(&start));
  CUDA_RETURN_IF_ERROR(cudaEventCreate(&stop));
  // Median of 5 timed runs after 2 warm-ups (kernels/NOTES.md: run-to-run spread ~1 %).
  auto time_ms = [&](auto&& launch) -> absl::StatusOr<float> {
    std::vector<float> ms;
    for (int i = 0; i < 7; ++i) {
      CUDA_RETURN_IF_ERROR(cudaEventRecord(start, stream_));
      RETURN_IF_ERROR(launch());
      CUDA_RETURN_IF_ERROR(cudaEventRecord(stop, stream_));
      CUDA_RETURN_IF_ERROR(cudaEventSynchronize(stop));
      float t = 0;
      CUDA_RETURN_IF_ERROR(cudaEventElapsedTime(&t, start, stop));
      if (i >= 2) ms.push_back(t);
    }
    std::sort(ms.begin(), ms.end());
    return ms[ms.size() / 2];
  };
  absl::Status status = absl::OkStatus();
  auto best = time_ms([&] { return RunGemmEx(operand, result, a); });
  if (!best.ok()) status = best.status();
  for (int i = 0; status.ok() && i < n_found; ++i) {
    if (found[i].state != CUBLAS_STATUS_SUCCESS) continue;
    const float alpha = 1.f;
    auto t = time_ms([&]() -> absl::Status {
      CUBLAS_RETURN_IF_ERROR(cublasLtMatmul(lt_, c->desc, &alpha, a.w, c->w, a.x, c->x, &a.beta,
                                            a.y, c->y, a.y, c->y, &found[i].algo,
                                            workspace_.get(), ws_bytes, stream_));
      return absl::OkStatus();
    });
    if (!t.ok()) continue;  // an algorithm the heuristic offered but this call refused
    if (*t < *best) {
      best = *t;
      c->use_lt = true;
      c->algo = found[i].algo;
    }
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  RETURN_IF_ERROR(status);
  choices_[key] = std::move(c);
  return absl::OkStatus();
}

}  // namespace evo2::cuda
