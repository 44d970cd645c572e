#include <cuda_bf16.h>

#include "absl/strings/str_cat.h"
#include "kernels/cuda_status.cuh"
#include "kernels/dependent_launch.cuh"
#include "kernels/element.cuh"
#include "kernels/hyena_featurize_step.cuh"
#include "kernels/hyena_long.cuh"
#include "kernels/hyena_step.cuh"

namespace evo2::kernels {
namespace {

constexpr int kThreads = 128;  // channels per block
constexpr int kModes = kHyenaLongModes;

template <typename T>
__global__ void __launch_bounds__(kThreads)
    HyenaFirStepKernel(HyenaStepArgs args, int hidden, int channels_per_group, int K) {
  AllowDependents();  // dependent_launch.cuh: the decoder's next GEMM may start early
  const int c = blockIdx.x * kThreads + threadIdx.x;
  const int64_t b = blockIdx.y;
  if (c >= hidden) return;
  const int t = args.positions[b];
  float q, a;
  const T* __restrict__ proj =
      static_cast<const T*>(args.proj) + b * (3 * static_cast<int64_t>(hidden)) + 3 * c;
  FeaturizeStep<T>([&](int r) { return proj[r]; }, args.short_taps, static_cast<T*>(args.proj_tail),
                   b, c, hidden, t, q, a);
  const int n = K - 1;
  T* tail = static_cast<T*>(args.fir_tail) + b * n * hidden + c;
  const float* h = args.fir_taps + static_cast<int64_t>(c / channels_per_group) * K;
  // Tap order k = 0..K−1 with one fmaf each, as the parallel FIR accumulates. The taps and
  // tail values are loaded kTapBatch at a time before their FMAs: one load then its dependent
  // FMA per tap left a whole memory latency per tap (a 128-tap step took 42 µs on an H100 under
  // ncu); batching keeps the same FMAs in the same order, so the same result bits.
  constexpr int kTapBatch = 16;
  float acc = fmaf(h[0], a, 0.f);
  for (int k0 = 1; k0 < K; k0 += kTapBatch) {
    float hk[kTapBatch], xk[kTapBatch];
#pragma unroll
    for (int j = 0; j < kTapBatch; ++j) {
      const int k = k0 + j, tau = t - k;
      const bool live = k < K && tau >= 0;
      hk[j] = k < K ? h[k] : 0.f;
      xk[j] = live ? ToFloat(tail[static_cast<int64_t>(tau % n) * hidden]) : 0.f;
    }
#pragma unroll
    for (int j = 0; j < kTapBatch; ++j) {
      if (k0 + j < K) acc = fmaf(hk[j], xk[j], acc);
    }
  }
  tail[static_cast<int64_t>(t % n) * hidden] = FromFloat<T>(a);  // slot of a[t−n], now read
  const float d = args.skip_d != nullptr ? args.skip_d[c] : 0.f;
  const float y = Round<T>(acc + d * a);
  static_cast<T*>(args.out)[b * hidden + c] = FromFloat<T>(q * y);
}

template <typename T>
__global__ void __launch_bounds__(kThreads) HyenaModalStepKernel(HyenaStepArgs args, int hidden) {
  AllowDependents();  // dependent_launch.cuh: the decoder's next GEMM may start early
  const int c = blockIdx.x * kThreads + threadIdx.x;
  const int64_t b = blockIdx.y;
  if (c >= hidden) return;
  const int t = args.positions[b];
  float q, x;
  const T* __restrict__ proj =
      static_cast<const T*>(args.proj) + b * (3 * static_cast<int64_t>(hidden)) + 3 * c;
  FeaturizeStep<T>([&](int r) { return proj[r]; }, args.short_taps, static_cast<T*>(args.proj_tail),
                   b, c, hidden, t, q, x);
  float* s = args.modal + b * kModes * hidden + c;
  // All 16 modes' poles, residues and states are loaded before the first state is stored: with
  // the loads between the stores (which may alias them as far as the compiler knows), each mode
  // waited a memory latency (11 µs per call at a 7B step under ncu). Same arithmetic, same order.
  float lp[kModes], rs[kModes], st[kModes];
#pragma unroll
  for (int n = 0; n < kModes; ++n) {
    lp[n] = args.log_poles[c * kModes + n];
    rs[n] = args.residues[c * kModes + n];
    st[n] = s[static_cast<int64_t>(n) * hidden];
  }
  float y = 0.f;
#pragma unroll
  for (int n = 0; n < kModes; ++n) {
    const float p = expf(lp[n]);
    const float sn = fmaf(p, st[n], x);
    s[static_cast<int64_t>(n) * hidden] = sn;
    y = fmaf(rs[n], sn, y);
  }
  const float gated = Round<T>(Round<T>(y) + Round<T>(args.skip_d[c] * x)) * q;
  static_cast<T*>(args.out)[b * hidden + c] = FromFloat<T>(gated);
}

}  // namespace

template <typename T>
absl::Status LaunchHyenaStep(const HyenaStepArgs& a, cudaStream_t stream) {
  if (a.proj == nullptr || a.short_taps == nullptr || a.proj_tail == nullptr ||
      a.positions == nullptr || a.out == nullptr)
    return absl::InvalidArgumentError("hyena_step: null pointer");
  if (a.batch < 0 || a.batch > 65535 || a.hidden <= 0 || a.hidden > (1 << 20))
    return absl::InvalidArgumentError(
        absl::StrCat("hyena_step: bad shape B=", a.batch, " H=", a.hidden));
  const bool fir = a.fir_taps != nullptr;
  if (fir == (a.log_poles != nullptr))
    return absl::InvalidArgumentError("hyena_step: give exactly one of fir_taps and log_poles");
  if (fir) {
    if (a.fir_tail == nullptr) return absl::InvalidArgumentError("hyena_step: null fir_tail");
    if (a.taps < 2 || a.taps > 128 || a.groups <= 0 || a.hidden % a.groups != 0)
      return absl::InvalidArgumentError(
          absl::StrCat("hyena_step: unsupported FIR K=", a.taps, " G=", a.groups, " H=", a.hidden));
  } else if (a.residues == nullptr || a.modal == nullptr || a.skip_d == nullptr) {
    return absl::InvalidArgumentError("hyena_step: modal step needs residues, state and D");
  }
  if (a.batch == 0) return absl::OkStatus();
  const dim3 grid(static_cast<unsigned>((a.hidden + kThreads - 1) / kThreads),
                  static_cast<unsigned>(a.batch));
  if (fir) {
    HyenaFirStepKernel<T><<<grid, kThreads, 0, stream>>>(a, static_cast<int>(a.hidden),
                                                         static_cast<int>(a.hidden / a.groups),
                                                         static_cast<int>(a.taps));
  } else {
    HyenaModalStepKernel<T><<<grid, kThreads, 0, stream>>>(a, static_cast<int>(a.hidden));
  }
  RETURN_IF_LAUNCH_FAILED("hyena_step");
  return absl::OkStatus();
}

template absl::Status LaunchHyenaStep<float>(const HyenaStepArgs&, cudaStream_t);
template absl::Status LaunchHyenaStep<__nv_bfloat16>(const HyenaStepArgs&, cudaStream_t);

}  // namespace evo2::kernels
