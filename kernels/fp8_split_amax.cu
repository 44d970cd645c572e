#include <cuda_bf16.h>

#include <algorithm>

#include "kernels/cuda_status.cuh"
#include "kernels/e4m3.cuh"
#include "kernels/element.cuh"
#include "kernels/fp8_split_amax.cuh"

namespace evo2::kernels {
namespace {

constexpr int kThreads = 256;

// One block per row.
template <typename T>
__global__ void RowAmaxKernel(const T* __restrict__ x, int64_t cols, int64_t ldx,
                              float* __restrict__ amax) {
  const T* xr = x + static_cast<int64_t>(blockIdx.x) * ldx;
  float m = 0.0f;
  for (int64_t k = threadIdx.x; k < cols; k += kThreads) m = AbsMax(m, ToFloat(xr[k]));
  m = BlockMaxNonNegative<kThreads>(m);
  if (threadIdx.x == 0) amax[blockIdx.x] = m;
}

// One block per row: the parts' max, the scale, the codes.
template <typename T>
__global__ void QuantizeRowsWithAmaxKernel(const T* __restrict__ x, int64_t rows, int64_t cols,
                                           int64_t ldx, const float* __restrict__ amax_parts,
                                           int parts, uint8_t* __restrict__ q, int64_t ldq,
                                           float* __restrict__ inv_scale) {
  const int64_t t = blockIdx.x;
  float amax = 0.0f;
  for (int p = 0; p < parts; ++p) amax = fmaxf(amax, amax_parts[p * rows + t]);
  const float s = E4M3ScaleForAmax(amax);
  if (threadIdx.x == 0) inv_scale[t] = 1.0f / s;
  const T* xr = x + t * ldx;
  uint8_t* qr = q + t * ldq;
  for (int64_t k = threadIdx.x; k < ldq; k += kThreads)
    qr[k] = k < cols ? ToE4M3(ToFloat(xr[k]) * s) : 0;
}

template <typename T>
__global__ void TensorAmaxKernel(const T* __restrict__ w, int64_t n, float* __restrict__ amax) {
  float m = 0.0f;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(kThreads) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * kThreads)
    m = AbsMax(m, ToFloat(w[i]));
  m = BlockMaxNonNegative<kThreads>(m);
  // Non-negative floats order like their bit patterns as ints.
  if (threadIdx.x == 0) atomicMax(reinterpret_cast<int*>(amax), __float_as_int(m));
}

absl::Status CheckRows(const char* what, int64_t rows, int64_t cols, int64_t ldx) {
  if (rows < 0 || cols < 0 || ldx < cols)
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": bad sizes (rows ", rows, ", cols ", cols, ", ldx ", ldx, ")"));
  if (rows > 0x7fffffff) return absl::InvalidArgumentError(absl::StrCat(what, ": over 2^31 rows"));
  return absl::OkStatus();
}

}  // namespace

template <typename T>
absl::Status LaunchRowAmax(const T* x, int64_t rows, int64_t cols, int64_t ldx, float* amax,
                           cudaStream_t stream) {
  RETURN_IF_ERROR(CheckRows("row_amax", rows, cols, ldx));
  if (rows == 0) return absl::OkStatus();
  if (x == nullptr || amax == nullptr) return absl::InvalidArgumentError("row_amax: null pointer");
  RowAmaxKernel<T><<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(x, cols, ldx, amax);
  RETURN_IF_LAUNCH_FAILED("row_amax");
  return absl::OkStatus();
}

template <typename T>
absl::Status LaunchQuantizeRowsE4M3WithAmax(const T* x, int64_t rows, int64_t cols, int64_t ldx,
                                            const float* amax_parts, int parts, uint8_t* q,
                                            int64_t ldq, float* inv_scale, cudaStream_t stream) {
  RETURN_IF_ERROR(CheckRows("quantize_rows_e4m3_with_amax", rows, cols, ldx));
  if (ldq < cols || parts < 1)
    return absl::InvalidArgumentError("quantize_rows_e4m3_with_amax: ldq < cols or no parts");
  if (rows == 0) return absl::OkStatus();
  if (x == nullptr || amax_parts == nullptr || q == nullptr || inv_scale == nullptr)
    return absl::InvalidArgumentError("quantize_rows_e4m3_with_amax: null pointer");
  QuantizeRowsWithAmaxKernel<T><<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(
      x, rows, cols, ldx, amax_parts, parts, q, ldq, inv_scale);
  RETURN_IF_LAUNCH_FAILED("quantize_rows_e4m3_with_amax");
  return absl::OkStatus();
}

template <typename T>
absl::Status LaunchTensorAmax(const T* w, int64_t n, float* amax, cudaStream_t stream) {
  if (n < 0) return absl::InvalidArgumentError("tensor_amax: negative size");
  if (amax == nullptr || (n > 0 && w == nullptr))
    return absl::InvalidArgumentError("tensor_amax: null pointer");
  CUDA_RETURN_IF_ERROR(cudaMemsetAsync(amax, 0, sizeof(float), stream));
  if (n == 0) return absl::OkStatus();
  const auto grid =
      static_cast<unsigned>(std::clamp<int64_t>((n + kThreads - 1) / kThreads, 1, 132 * 16));
  TensorAmaxKernel<T><<<grid, kThreads, 0, stream>>>(w, n, amax);
  RETURN_IF_LAUNCH_FAILED("tensor_amax");
  return absl::OkStatus();
}

#define EVO2_INSTANTIATE(T)                                                                     \
  template absl::Status LaunchRowAmax<T>(const T*, int64_t, int64_t, int64_t, float*,           \
                                         cudaStream_t);                                         \
  template absl::Status LaunchQuantizeRowsE4M3WithAmax<T>(const T*, int64_t, int64_t, int64_t,  \
                                                          const float*, int, uint8_t*, int64_t, \
                                                          float*, cudaStream_t);                \
  template absl::Status LaunchTensorAmax<T>(const T*, int64_t, float*, cudaStream_t);
EVO2_INSTANTIATE(float)
EVO2_INSTANTIATE(__nv_bfloat16)
#undef EVO2_INSTANTIATE

}  // namespace evo2::kernels
