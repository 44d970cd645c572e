#include "kernels/fp8_quantize.cuh"

#include <cuda_bf16.h>
#include <cuda_fp8.h>

#include <algorithm>

#include "kernels/cuda_status.cuh"
#include "kernels/e4m3.cuh"
#include "kernels/element.cuh"

namespace evo2::kernels {
namespace {

constexpr int kThreads = 256;
// One block per row: amax, scale, then the codes.
template <typename T>
__global__ void QuantizeRowsKernel(const T* __restrict__ x, int64_t cols, int64_t ldx,
                                   uint8_t* __restrict__ q, int64_t ldq,
                                   float* __restrict__ inv_scale, float fixed_scale) {
  const int64_t t = blockIdx.x;
  const T* xr = x + t * ldx;
  float s = fixed_scale;
  if (!(s > 0.0f)) {  // uniform over the block, so the max reduction's barriers are reached by all
                      // threads
    float amax = 0.0f;
    for (int64_t k = threadIdx.x; k < cols; k += kThreads) amax = AbsMax(amax, ToFloat(xr[k]));
    s = E4M3ScaleForAmax(BlockMaxNonNegative<kThreads>(amax));
  }
  if (threadIdx.x == 0) inv_scale[t] = 1.0f / s;
  uint8_t* qr = q + t * ldq;
  for (int64_t k = threadIdx.x; k < ldq; k += kThreads) qr[k] = k < cols ? ToE4M3(ToFloat(xr[k]) * s) : 0;
}

template <typename T>
__global__ void AmaxKernel(const T* __restrict__ w, int64_t n, float* __restrict__ amax) {
  float m = 0.0f;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(kThreads) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * kThreads) {
    m = AbsMax(m, ToFloat(w[i]));
  }
  m = BlockMaxNonNegative<kThreads>(m);
  // Non-negative floats order like their bit patterns as ints.
  if (threadIdx.x == 0) atomicMax(reinterpret_cast<int*>(amax), __float_as_int(m));
}

template <typename T>
__global__ void QuantizeTensorKernel(const T* __restrict__ w, int64_t rows, int64_t cols,
                                     uint8_t* __restrict__ q, int64_t ldq,
                                     float* __restrict__ inv_scale, const float* __restrict__ amax,
                                     float fixed_scale) {
  const float s = fixed_scale > 0.0f ? fixed_scale : E4M3ScaleForAmax(*amax);
  const int64_t n = rows * ldq;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(kThreads) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * kThreads) {
    const int64_t r = i / ldq, k = i % ldq;
    q[i] = k < cols ? ToE4M3(ToFloat(w[r * cols + k]) * s) : 0;
    if (k == 0) inv_scale[r] = 1.0f / s;
  }
}

__global__ void DecodeKernel(const uint8_t* __restrict__ q, int64_t n, float* __restrict__ out) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(kThreads) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * kThreads) {
    __nv_fp8_e4m3 v;
    v.__x = q[i];
    out[i] = static_cast<float>(v);
  }
}

unsigned GridFor(int64_t n) { return static_cast<unsigned>(std::clamp<int64_t>((n + kThreads - 1) / kThreads, 1, 132 * 16)); }

}  // namespace

template <typename T>
absl::Status LaunchQuantizeRowsE4M3(const T* x, int64_t rows, int64_t cols, int64_t ldx, uint8_t* q,
                                    int64_t ldq, float* inv_scale, cudaStream_t stream,
                                    float fixed_scale) {
  if (rows < 0 || cols < 0 || ldx < cols || ldq < cols) {
    return absl::InvalidArgumentError("quantize_rows_e4m3: bad sizes (need rows, cols >= 0, ldx, ldq >= cols)");
  }
  if (rows == 0) return absl::OkStatus();
  if (rows > 0x7fffffff) return absl::InvalidArgumentError("quantize_rows_e4m3: more than 2^31 rows");
  if (x == nullptr || q == nullptr || inv_scale == nullptr) return absl::InvalidArgumentError("quantize_rows_e4m3: null pointer");
  QuantizeRowsKernel<T><<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(
      x, cols, ldx, q, ldq, inv_scale, fixed_scale);
  RETURN_IF_LAUNCH_FAILED("quantize_rows_e4m3");
  return absl::OkStatus();
}

template <typename T>
absl::Status LaunchQuantizeTensorE4M3(const T* w, int64_t rows, int64_t cols, uint8_t* q,
                                      int64_t ldq, float* inv_scale, float* amax_scratch,
                                      cudaStream_t stream, float fixed_scale) {
  if (rows < 0 || cols < 0 || ldq < cols) return absl::InvalidArgumentError("quantize_tensor_e4m3: bad sizes");
  if (rows == 0) return absl::OkStatus();
  if (w == nullptr || q == nullptr || inv_scale == nullptr || amax_scratch == nullptr) {
    return absl::InvalidArgumentError("quantize_tensor_e4m3: null pointer");
  }
  if (!(fixed_scale > 0.0f)) {
    CUDA_RETURN_IF_ERROR(cudaMemsetAsync(amax_scratch, 0, sizeof(float), stream));
    AmaxKernel<T><<<GridFor(rows * cols), kThreads, 0, stream>>>(w, rows * cols, amax_scratch);
    RETURN_IF_LAUNCH_FAILED("amax");
  }
  QuantizeTensorKernel<T><<<GridFor(rows * ldq), kThreads, 0, stream>>>(
      w, rows, cols, q, ldq, inv_scale, amax_scratch, fixed_scale);
  RETURN_IF_LAUNCH_FAILED("quantize_tensor_e4m3");
  return absl::OkStatus();
}

absl::Status LaunchDecodeE4M3(const uint8_t* q, int64_t n, float* out, cudaStream_t stream) {
  if (n < 0) return absl::InvalidArgumentError("decode_e4m3: negative size");
  if (n == 0) return absl::OkStatus();
  DecodeKernel<<<GridFor(n), kThreads, 0, stream>>>(q, n, out);
  RETURN_IF_LAUNCH_FAILED("decode_e4m3");
  return absl::OkStatus();
}

#define EVO2_INSTANTIATE(T)                                                                        \
  template absl::Status LaunchQuantizeRowsE4M3<T>(const T*, int64_t, int64_t, int64_t, uint8_t*,   \
                                                  int64_t, float*, cudaStream_t, float);           \
  template absl::Status LaunchQuantizeTensorE4M3<T>(const T*, int64_t, int64_t, uint8_t*, int64_t, \
                                                    float*, float*, cudaStream_t, float);
EVO2_INSTANTIATE(float)
EVO2_INSTANTIATE(__nv_bfloat16)
#undef EVO2_INSTANTIATE

}  // namespace evo2::kernels
