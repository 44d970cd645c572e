#include <cuda_bf16.h>

#include "absl/strings/str_cat.h"
#include "kernels/causal_conv_silu.cuh"
#include "kernels/cuda_status.cuh"
#include "kernels/element.cuh"

namespace evo2::kernels {
namespace {

constexpr int kMaxTaps = 8;
constexpr int kStepsPerThread = 8;  // consecutive positions per thread: each input row is read
                                    // once per thread instead of K times

// Thread = (channel, run of kStepsPerThread positions); threads of a warp take consecutive
// channels, so every load and store is coalesced along the row. The tap count is a template
// parameter so that the window stays in registers (with a runtime count it lived in local memory).
template <typename T, int taps>
__global__ void CausalConvSiluKernel(const T* __restrict__ in, int64_t ld_in,
                                     const float* __restrict__ w, const float* __restrict__ bias,
                                     T* __restrict__ out, int64_t seq, int channels) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= channels) return;
  const int64_t b = blockIdx.z;
  float wc[taps];
#pragma unroll
  for (int k = 0; k < taps; ++k) wc[k] = w[c * taps + k];
  const float bc = bias != nullptr ? bias[c] : 0.f;
  const int64_t runs = (seq + kStepsPerThread - 1) / kStepsPerThread;
  for (int64_t run = blockIdx.y; run < runs; run += gridDim.y) {
    const int64_t t_begin = run * kStepsPerThread;
    const int64_t t_end = t_begin + kStepsPerThread < seq ? t_begin + kStepsPerThread : seq;
    // window[k] holds in[t − K + 1 + k]; filled with the K−1 positions before t_begin.
    float window[taps];
#pragma unroll
    for (int k = 0; k < taps - 1; ++k) {
      const int64_t t = t_begin - (taps - 1) + k;
      window[k] = t >= 0 ? ToFloat(in[(b * seq + t) * ld_in + c]) : 0.f;
    }
    for (int64_t t = t_begin; t < t_end; ++t) {
      window[taps - 1] = ToFloat(in[(b * seq + t) * ld_in + c]);
      float acc = bc;
#pragma unroll
      for (int k = 0; k < taps; ++k) acc = fmaf(wc[k], window[k], acc);
      out[(b * seq + t) * channels + c] = FromFloat<T>(acc / (1.f + expf(-acc)));
#pragma unroll
      for (int k = 0; k + 1 < taps; ++k) window[k] = window[k + 1];
    }
  }
}

}  // namespace

template <typename T>
absl::Status LaunchCausalConvSilu(const T* in, int64_t ld_in, const float* w, const float* bias,
                                  T* out, int64_t batch, int64_t seq, int64_t channels,
                                  int64_t kernel_size, cudaStream_t stream) {
  if (in == nullptr || w == nullptr || out == nullptr)
    return absl::InvalidArgumentError("causal_conv_silu: null pointer");
  if (batch < 0 || seq < 0 || channels <= 0 || kernel_size < 1 || kernel_size > kMaxTaps ||
      ld_in < channels || channels > INT32_MAX)
    return absl::InvalidArgumentError(absl::StrCat(
        "causal_conv_silu: bad shape batch=", batch, " seq=", seq, " channels=", channels,
        " K=", kernel_size, " (1..", kMaxTaps, ") ld_in=", ld_in));
  if (static_cast<const void*>(in) == static_cast<const void*>(out))
    return absl::InvalidArgumentError("causal_conv_silu: out must not alias in");
  if (batch == 0 || seq == 0) return absl::OkStatus();
  const int64_t runs = (seq + kStepsPerThread - 1) / kStepsPerThread;
  if (batch > 65535)
    return absl::InvalidArgumentError(
        absl::StrCat("causal_conv_silu: batch=", batch, " exceeds the grid (65535)"));
  // Blocks loop over runs beyond the grid's y limit.
  const dim3 grid(static_cast<unsigned>((channels + 127) / 128),
                  static_cast<unsigned>(runs < 65535 ? runs : 65535), static_cast<unsigned>(batch));
  const int C = static_cast<int>(channels);
  switch (kernel_size) {
#define EVO2_CONV_TAPS(K)                                                                  \
  case K:                                                                                  \
    CausalConvSiluKernel<T, K><<<grid, 128, 0, stream>>>(in, ld_in, w, bias, out, seq, C); \
    break;
    EVO2_CONV_TAPS(1)
    EVO2_CONV_TAPS(2)
    EVO2_CONV_TAPS(3)
    EVO2_CONV_TAPS(4)
    EVO2_CONV_TAPS(5)
    EVO2_CONV_TAPS(6)
    EVO2_CONV_TAPS(7)
    EVO2_CONV_TAPS(8)
#undef EVO2_CONV_TAPS
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("causal_conv_silu: K=", kernel_size, " (1..", kMaxTaps, ")"));
  }
  RETURN_IF_LAUNCH_FAILED("causal_conv_silu");
  return absl::OkStatus();
}

template absl::Status LaunchCausalConvSilu<float>(const float*, int64_t, const float*, const float*,
                                                  float*, int64_t, int64_t, int64_t, int64_t,
                                                  cudaStream_t);
template absl::Status LaunchCausalConvSilu<__nv_bfloat16>(const __nv_bfloat16*, int64_t,
                                                          const float*, const float*,
                                                          __nv_bfloat16*, int64_t, int64_t, int64_t,
                                                          int64_t, cudaStream_t);

}  // namespace evo2::kernels
