// GEMM algorithm survey (a program, not a test): for the forward pass's GEMM shapes, times
// cublasGemmEx (what the engine called until now) against every algorithm cuBLASLt's heuristic
// offers, on random bf16 data, with CUDA events (median of repeated runs after warm-up). Says
// whether per-shape autotuning pays before the engine does it.
//
//   evo2_gemm_algos [--rows 8192] [--reps 20]
#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/random_fill.cuh"

namespace {

#define CHECK_CUDA(x)                                                                    \
  do {                                                                                   \
    cudaError_t e_ = (x);                                                                \
    if (e_ != cudaSuccess) {                                                             \
      std::fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e_)); \
      std::exit(1);                                                                      \
    }                                                                                    \
  } while (0)
#define CHECK_BLAS(x)                                                                    \
  do {                                                                                   \
    cublasStatus_t s_ = (x);                                                             \
    if (s_ != CUBLAS_STATUS_SUCCESS) {                                                   \
      std::fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #x, cublasGetStatusString(s_)); \
      std::exit(1);                                                                      \
    }                                                                                    \
  } while (0)

struct Shape {
  const char* name;
  int64_t rows, in, out;
  bool fp32_out;  // fp32 C/D with beta = 1 (the residual stream)
};

template <typename F>
double MedianMs(F&& f, int reps, cudaStream_t st) {
  for (int i = 0; i < 3; ++i) f();
  std::vector<float> ms;
  cudaEvent_t a, b;
  CHECK_CUDA(cudaEventCreate(&a));
  CHECK_CUDA(cudaEventCreate(&b));
  for (int i = 0; i < reps; ++i) {
    CHECK_CUDA(cudaEventRecord(a, st));
    f();
    CHECK_CUDA(cudaEventRecord(b, st));
    CHECK_CUDA(cudaEventSynchronize(b));
    float t = 0;
    CHECK_CUDA(cudaEventElapsedTime(&t, a, b));
    ms.push_back(t);
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int64_t rows = 8192;
  int reps = 20;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--rows")) rows = std::atoll(argv[i + 1]);
    if (!std::strcmp(argv[i], "--reps")) reps = std::atoi(argv[i + 1]);
  }
  const int64_t H7 = 4096, I7 = 11264, H1 = 1920, I1 = 5120;
  const std::vector<Shape> shapes = {
      {"7b in_proj", rows, H7, 3 * H7, false}, {"7b out", rows, H7, H7, true},
      {"7b mlp_l12", rows, H7, 2 * I7, false}, {"7b mlp_l3", rows, I7, H7, true},
      {"1b in_proj", rows, H1, 3 * H1, false}, {"1b out", rows, H1, H1, true},
      {"1b mlp_l12", rows, H1, 2 * I1, false}, {"1b mlp_l3", rows, I1, H1, true},
  };
  cudaStream_t st;
  CHECK_CUDA(cudaStreamCreate(&st));
  cublasHandle_t blas;
  CHECK_BLAS(cublasCreate(&blas));
  CHECK_BLAS(cublasSetStream(blas, st));
  cublasLtHandle_t lt;
  CHECK_BLAS(cublasLtCreate(&lt));
  const size_t ws_bytes = 64u << 20;
  void* ws = nullptr;
  CHECK_CUDA(cudaMalloc(&ws, ws_bytes));

  std::printf("| shape | M×N×K | cublasGemmEx TF/s | Lt heuristic #0 TF/s | best Lt TF/s (algo #) | algos |\n");
  std::printf("| --- | --- | --- | --- | --- | --- |\n");
  for (const Shape& s : shapes) {
    const size_t nx = s.rows * s.in, nw = s.out * s.in, ny = s.rows * s.out;
    void *x, *w, *y;
    CHECK_CUDA(cudaMalloc(&x, nx * 2));
    CHECK_CUDA(cudaMalloc(&w, nw * 2));
    CHECK_CUDA(cudaMalloc(&y, ny * (s.fp32_out ? 4 : 2)));
    if (!evo2::kernels::LaunchFillUniform(static_cast<__nv_bfloat16*>(x), nx, -1.f, 1.f, 1, st).ok() ||
        !evo2::kernels::LaunchFillUniform(static_cast<__nv_bfloat16*>(w), nw, -0.05f, 0.05f, 2, st).ok())
      return 1;
    if (s.fp32_out) {
      if (!evo2::kernels::LaunchFillUniform(static_cast<float*>(y), ny, -1.f, 1.f, 3, st).ok()) return 1;
    } else {
      CHECK_CUDA(cudaMemsetAsync(y, 0, ny * 2, st));
    }
    const float alpha = 1.f, beta = s.fp32_out ? 1.f : 0.f;
    const cudaDataType_t yt = s.fp32_out ? CUDA_R_32F : CUDA_R_16BF;
    const int m = static_cast<int>(s.out), n = static_cast<int>(s.rows), k = static_cast<int>(s.in);
    const double flop = 2.0 * s.rows * s.in * s.out;
    const double ex_ms = MedianMs([&] {
      CHECK_BLAS(cublasGemmEx(blas, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, &alpha, w, CUDA_R_16BF, k, x,
                              CUDA_R_16BF, k, &beta, y, yt, m, CUBLAS_COMPUTE_32F,
                              CUBLAS_GEMM_DEFAULT));
    }, reps, st);

    cublasLtMatmulDesc_t desc;
    CHECK_BLAS(cublasLtMatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    CHECK_BLAS(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta)));
    CHECK_BLAS(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb)));
    cublasLtMatrixLayout_t la, lb, lc;
    CHECK_BLAS(cublasLtMatrixLayoutCreate(&la, CUDA_R_16BF, k, m, k));
    CHECK_BLAS(cublasLtMatrixLayoutCreate(&lb, CUDA_R_16BF, k, n, k));
    CHECK_BLAS(cublasLtMatrixLayoutCreate(&lc, yt, m, n, m));
    cublasLtMatmulPreference_t pref;
    CHECK_BLAS(cublasLtMatmulPreferenceCreate(&pref));
    CHECK_BLAS(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                    &ws_bytes, sizeof(ws_bytes)));
    cublasLtMatmulHeuristicResult_t res[16];
    int found = 0;
    CHECK_BLAS(cublasLtMatmulAlgoGetHeuristic(lt, desc, la, lb, lc, lc, pref, 16, res, &found));
    double first = 0, best = 0;
    int best_i = -1;
    for (int i = 0; i < found; ++i) {
      if (res[i].state != CUBLAS_STATUS_SUCCESS) continue;
      const double ms = MedianMs([&] {
        CHECK_BLAS(cublasLtMatmul(lt, desc, &alpha, w, la, x, lb, &beta, y, lc, y, lc,
                                  &res[i].algo, ws, ws_bytes, st));
      }, reps, st);
      const double tf = flop / ms / 1e9;
      if (i == 0) first = tf;
      if (tf > best) { best = tf; best_i = i; }
    }
    std::printf("| %s | %lld×%lld×%lld | %.0f | %.0f | %.0f (#%d) | %d |\n", s.name,
                static_cast<long long>(s.rows), static_cast<long long>(s.out),
                static_cast<long long>(s.in), flop / ex_ms / 1e9, first, best, best_i, found);
    std::fflush(stdout);
    cublasLtMatmulPreferenceDestroy(pref);
    cublasLtMatrixLayoutDestroy(la);
    cublasLtMatrixLayoutDestroy(lb);
    cublasLtMatrixLayoutDestroy(lc);
    cublasLtMatmulDescDestroy(desc);
    CHECK_CUDA(cudaFree(x));
    CHECK_CUDA(cudaFree(w));
    CHECK_CUDA(cudaFree(y));
  }
  return 0;
}
