#include <cuda_bf16.h>

#include "absl/strings/str_cat.h"
#include "kernels/cuda_status.cuh"
#include "kernels/element.cuh"
#include "kernels/mamba_step.cuh"

namespace evo2::kernels {
namespace {

constexpr int kMaxTaps = 8;
constexpr int kMaxStatePerLane = 8;  // N ≤ 32·8 = 256
constexpr int kWarps = 4;
constexpr int kStateRowsPerWarp = 2;  // LaunchSsmState: p rows per warp, kWarps·2 per block
constexpr int kStateTile = 32;        // LaunchSsmState: positions staged per round

// As kernels/ssd_scan.cu.
__device__ __forceinline__ float Softplus(float v) { return v > 20.f ? v : log1pf(expf(v)); }

template <typename T, int taps>
__global__ void MambaConvStepKernel(const T* __restrict__ in, int64_t ld_in,
                                    const float* __restrict__ w, const float* __restrict__ bias,
                                    const int32_t* __restrict__ positions, T* __restrict__ ring,
                                    T* __restrict__ out, int channels) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= channels) return;
  const int64_t b = blockIdx.y;
  constexpr int n = taps - 1;
  const int t = positions[b];
  T* rb = ring + b * n * channels;
  float acc = bias != nullptr ? bias[c] : 0.f;
  // Tap k < K−1 multiplies the input at t − K + 1 + k, in ring slot (t − K + 1 + k) mod (K−1).
#pragma unroll
  for (int k = 0; k < n; ++k) {
    const int slot = ((t - n + k) % n + n) % n;
    acc = fmaf(w[c * taps + k], ToFloat(rb[static_cast<int64_t>(slot) * channels + c]), acc);
  }
  const T now = in[b * ld_in + c];
  acc = fmaf(w[c * taps + n], ToFloat(now), acc);
  out[b * channels + c] = FromFloat<T>(acc / (1.f + expf(-acc)));
  rb[static_cast<int64_t>(t % n) * channels + c] = now;  // the oldest slot, read above
}

// Block = (sequence b, head h); warp w takes p = w, w + kWarps, …; lane takes n = lane + 32j.
template <typename T>
__global__ void __launch_bounds__(32 * kWarps) SsmStepKernel(SsmStepArgs<T> a) {
  const int64_t b = blockIdx.x / a.heads;
  const int h = static_cast<int>(blockIdx.x - b * a.heads);
  const int P = static_cast<int>(a.head_dim), N = static_cast<int>(a.state_size);
  const int g = h / static_cast<int>(a.heads / a.groups);
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const float dt = Softplus(ToFloat(a.dt_raw[b * a.ld_dt + h]) + a.dt_bias[h]);
  const float decay = expf(dt * a.A[h]);
  float bn[kMaxStatePerLane], cn[kMaxStatePerLane];
#pragma unroll
  for (int j = 0; j < kMaxStatePerLane; ++j) {
    const int nn = lane + 32 * j;
    bn[j] = nn < N ? ToFloat(a.B[b * a.ld_bc + g * N + nn]) : 0.f;
    cn[j] = nn < N ? ToFloat(a.C[b * a.ld_bc + g * N + nn]) : 0.f;
  }
  float* sh = a.state + (b * a.heads + h) * P * N;
  for (int p = warp; p < P; p += kWarps) {
    const float xp = ToFloat(a.x[b * a.ld_x + h * P + p]);
    const float dx = dt * xp;
    float acc = 0.f;
#pragma unroll
    for (int j = 0; j < kMaxStatePerLane; ++j) {
      const int nn = lane + 32 * j;
      if (nn < N) {
        float& s_ref = sh[p * N + nn];
        const float s = fmaf(decay, s_ref, dx * bn[j]);
        s_ref = s;
        acc = fmaf(s, cn[j], acc);
      }
    }
#pragma unroll
    for (int off = 16; off > 0; off /= 2) acc += __shfl_xor_sync(0xffffffffu, acc, off);
    if (lane == 0) a.y[b * a.ld_y + h * P + p] = acc + a.D[h] * xp;
  }
}

// Block = (head h, tile of kWarps·kStateRowsPerWarp rows p); thread keeps σ[p, n] of its warp's
// rows and its lane's n in registers and runs the recurrence over all positions, kStateTile
// positions at a time staged in shared memory.
template <typename T>
__global__ void __launch_bounds__(32 * kWarps) SsmStateKernel(SsmStepArgs<T> a) {
  __shared__ float sm_dt[kStateTile], sm_decay[kStateTile];
  __shared__ float sm_x[kStateTile][kWarps * kStateRowsPerWarp];
  __shared__ float sm_b[kStateTile][32 * kMaxStatePerLane];
  const int h = blockIdx.x;
  const int P = static_cast<int>(a.head_dim), N = static_cast<int>(a.state_size);
  const int g = h / static_cast<int>(a.heads / a.groups);
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  constexpr int kRows = kWarps * kStateRowsPerWarp;
  const int p0 = blockIdx.y * kRows;
  float s[kStateRowsPerWarp][kMaxStatePerLane] = {};
  for (int64_t t0 = 0; t0 < a.rows; t0 += kStateTile) {
    const int len = static_cast<int>(a.rows - t0 < kStateTile ? a.rows - t0 : kStateTile);
    __syncthreads();  // the previous round's reads are done
    for (int i = threadIdx.x; i < len; i += blockDim.x) {
      const float dt = Softplus(ToFloat(a.dt_raw[(t0 + i) * a.ld_dt + h]) + a.dt_bias[h]);
      sm_dt[i] = dt;
      sm_decay[i] = expf(dt * a.A[h]);
    }
    for (int i = threadIdx.x; i < len * kRows; i += blockDim.x) {
      const int tt = i / kRows, r = i - tt * kRows;
      sm_x[tt][r] = p0 + r < P ? ToFloat(a.x[(t0 + tt) * a.ld_x + h * P + p0 + r]) : 0.f;
    }
    for (int i = threadIdx.x; i < len * N; i += blockDim.x) {
      const int tt = i / N, nn = i - tt * N;
      sm_b[tt][nn] = ToFloat(a.B[(t0 + tt) * a.ld_bc + g * N + nn]);
    }
    __syncthreads();
    for (int tt = 0; tt < len; ++tt) {
      const float decay = sm_decay[tt], dt = sm_dt[tt];
#pragma unroll
      for (int r = 0; r < kStateRowsPerWarp; ++r) {
        const float dx = dt * sm_x[tt][warp * kStateRowsPerWarp + r];
#pragma unroll
        for (int j = 0; j < kMaxStatePerLane; ++j) {
          const int nn = lane + 32 * j;
          if (nn < N) s[r][j] = fmaf(decay, s[r][j], dx * sm_b[tt][nn]);
        }
      }
    }
  }
#pragma unroll
  for (int r = 0; r < kStateRowsPerWarp; ++r) {
    const int p = p0 + warp * kStateRowsPerWarp + r;
    if (p >= P) continue;
#pragma unroll
    for (int j = 0; j < kMaxStatePerLane; ++j) {
      const int nn = lane + 32 * j;
      if (nn < N) a.state[(static_cast<int64_t>(h) * P + p) * N + nn] = s[r][j];
    }
  }
}

template <typename T>
absl::Status CheckSsmArgs(const char* op, const SsmStepArgs<T>& a, bool step) {
  if (a.x == nullptr || a.B == nullptr || a.dt_raw == nullptr || a.dt_bias == nullptr ||
      a.A == nullptr || a.state == nullptr ||
      (step && (a.C == nullptr || a.D == nullptr || a.y == nullptr)))
    return absl::InvalidArgumentError(absl::StrCat(op, ": null pointer"));
  if (a.rows < 0 || a.heads <= 0 || a.head_dim <= 0 || a.groups <= 0 || a.heads % a.groups != 0 ||
      a.state_size <= 0 || a.state_size > 32 * kMaxStatePerLane ||
      (step ? a.rows > 65535 : a.rows > (int64_t{1} << 31) - 1) || a.heads * a.head_dim > a.ld_x ||
      a.groups * a.state_size > a.ld_bc || a.heads > a.ld_dt ||
      (step && a.heads * a.head_dim > a.ld_y))
    return absl::InvalidArgumentError(
        absl::StrCat(op, ": bad shape rows=", a.rows, " heads=", a.heads, " P=", a.head_dim,
                     " groups=", a.groups, " N=", a.state_size, " (N ≤ 256)"));
  return absl::OkStatus();
}

}  // namespace

template <typename T>
absl::Status LaunchMambaConvStep(const T* in, int64_t ld_in, const float* w, const float* bias,
                                 const int32_t* positions, T* ring, T* out, int64_t batch,
                                 int64_t channels, int64_t kernel_size, cudaStream_t stream) {
  if (in == nullptr || w == nullptr || positions == nullptr || ring == nullptr || out == nullptr)
    return absl::InvalidArgumentError("mamba_conv_step: null pointer");
  if (batch < 0 || batch > 65535 || channels <= 0 || channels > ld_in || kernel_size < 2 ||
      kernel_size > kMaxTaps)
    return absl::InvalidArgumentError(absl::StrCat("mamba_conv_step: bad shape B=", batch, " C=",
                                                   channels, " K=", kernel_size, " (2 ≤ K ≤ 8)"));
  if (batch == 0) return absl::OkStatus();
  const dim3 grid(static_cast<unsigned>((channels + 127) / 128), static_cast<unsigned>(batch));
  const int C = static_cast<int>(channels);
  switch (kernel_size) {
#define EVO2_CONV_CASE(K)                                                        \
  case K:                                                                        \
    MambaConvStepKernel<T, K>                                                    \
        <<<grid, 128, 0, stream>>>(in, ld_in, w, bias, positions, ring, out, C); \
    break;
    EVO2_CONV_CASE(2)
    EVO2_CONV_CASE(3)
    EVO2_CONV_CASE(4)
    EVO2_CONV_CASE(5)
    EVO2_CONV_CASE(6)
    EVO2_CONV_CASE(7)
    EVO2_CONV_CASE(8)
#undef EVO2_CONV_CASE
  }
  RETURN_IF_LAUNCH_FAILED("mamba_conv_step");
  return absl::OkStatus();
}

template <typename T>
absl::Status LaunchSsmStep(const SsmStepArgs<T>& args, cudaStream_t stream) {
  RETURN_IF_ERROR(CheckSsmArgs("ssm_step", args, /*step=*/true));
  if (args.rows == 0) return absl::OkStatus();
  SsmStepKernel<T><<<static_cast<unsigned>(args.rows * args.heads), 32 * kWarps, 0, stream>>>(args);
  RETURN_IF_LAUNCH_FAILED("ssm_step");
  return absl::OkStatus();
}

template <typename T>
absl::Status LaunchSsmState(const SsmStepArgs<T>& args, cudaStream_t stream) {
  RETURN_IF_ERROR(CheckSsmArgs("ssm_state", args, /*step=*/false));
  if (args.rows < 1) return absl::InvalidArgumentError("ssm_state: no positions");
  constexpr int kRows = kWarps * kStateRowsPerWarp;
  const dim3 grid(static_cast<unsigned>(args.heads),
                  static_cast<unsigned>((args.head_dim + kRows - 1) / kRows));
  SsmStateKernel<T><<<grid, 32 * kWarps, 0, stream>>>(args);
  RETURN_IF_LAUNCH_FAILED("ssm_state");
  return absl::OkStatus();
}

#define EVO2_INSTANTIATE(T)                                                                       \
  template absl::Status LaunchMambaConvStep<T>(const T*, int64_t, const float*, const float*,     \
                                               const int32_t*, T*, T*, int64_t, int64_t, int64_t, \
                                               cudaStream_t);                                     \
  template absl::Status LaunchSsmStep<T>(const SsmStepArgs<T>&, cudaStream_t);                    \
  template absl::Status LaunchSsmState<T>(const SsmStepArgs<T>&, cudaStream_t);
EVO2_INSTANTIATE(float)
EVO2_INSTANTIATE(__nv_bfloat16)
#undef EVO2_INSTANTIATE

}  // namespace evo2::kernels
