#include "kernels/hyena_long.cuh"

#include <cuda_bf16.h>

#include "absl/strings/str_cat.h"
#include "kernels/cuda_status.cuh"
#include "kernels/element.cuh"

namespace evo2::kernels {
namespace {

constexpr int kModes = kHyenaLongModes;
constexpr int kThreads = 128;  // channels per block
constexpr int kAhead = 4;      // time steps whose loads are in flight per thread

// state layout: [batch][chunk][mode][channel] fp32 (coalesced over channels).
template <typename T>
__global__ void __launch_bounds__(kThreads)
    ChunkEndStateKernel(const T* __restrict__ a, const float* __restrict__ log_poles,
                        float* __restrict__ state, int seq, int hidden, int chunk, int chunks) {
  const int c = blockIdx.y * kThreads + threadIdx.x;
  if (c >= hidden) return;
  const int b = blockIdx.x / chunks;
  const int j = blockIdx.x - b * chunks;
  float p[kModes], s[kModes];
#pragma unroll
  for (int n = 0; n < kModes; ++n) {
    p[n] = expf(log_poles[c * kModes + n]);
    s[n] = 0.f;
  }
  const T* ab = a + static_cast<int64_t>(b) * seq * hidden + c;
  const int t_begin = j * chunk, t_end = min(seq, (j + 1) * chunk);
  // Rolling prefetch (kernels/NOTES.md: v1 stalled on each step's load, 67 % of its cycles).
  T ahead[kAhead];
#pragma unroll
  for (int u = 0; u < kAhead; ++u)
    ahead[u] = t_begin + u < t_end ? ab[static_cast<int64_t>(t_begin + u) * hidden] : T(0.f);
  for (int t0 = t_begin; t0 < t_end; t0 += kAhead) {
#pragma unroll
    for (int u = 0; u < kAhead; ++u) {
      const int t = t0 + u;
      const float x = ToFloat(ahead[u]);
      if (t + kAhead < t_end) ahead[u] = ab[static_cast<int64_t>(t + kAhead) * hidden];
      if (t < t_end) {
#pragma unroll
        for (int n = 0; n < kModes; ++n) s[n] = fmaf(p[n], s[n], x);
      }
    }
  }
  float* out = state + (static_cast<int64_t>(b) * chunks + j) * kModes * hidden + c;
#pragma unroll
  for (int n = 0; n < kModes; ++n) out[static_cast<int64_t>(n) * hidden] = s[n];
}

// One thread per (batch, mode, channel): replaces each chunk's end state by its start state.
// initial: [batch, H, 16] fp32 state before position 0, or nullptr for zero.
__global__ void ChunkCarryKernel(float* __restrict__ state, const float* __restrict__ log_poles,
                                 const float* __restrict__ initial, int hidden, int chunk,
                                 int chunks, int64_t total) {
  const int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (idx >= total) return;
  const int64_t per_batch = static_cast<int64_t>(kModes) * hidden;
  const int64_t b = idx / per_batch;
  const int64_t nc = idx - b * per_batch;  // n * hidden + c
  const int n = static_cast<int>(nc / hidden);
  const int c = static_cast<int>(nc - static_cast<int64_t>(n) * hidden);
  const float p_chunk = expf(log_poles[c * kModes + n] * static_cast<float>(chunk));
  float carry = initial == nullptr ? 0.f : initial[(b * hidden + c) * kModes + n];
  float* s = state + b * chunks * per_batch + nc;
  // The chunks' end states are independent loads: issue 8 before walking them (one load in
  // flight per step made this scan latency-bound: 512 dependent round trips at 32k tokens).
  constexpr int kBatch = 8;
  for (int j0 = 0; j0 < chunks; j0 += kBatch) {
    float end[kBatch];
#pragma unroll
    for (int u = 0; u < kBatch; ++u)
      end[u] = j0 + u < chunks ? s[static_cast<int64_t>(j0 + u) * per_batch] : 0.f;
#pragma unroll
    for (int u = 0; u < kBatch; ++u) {
      if (j0 + u < chunks) {
        s[static_cast<int64_t>(j0 + u) * per_batch] = carry;
        carry = fmaf(p_chunk, carry, end[u]);
      }
    }
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    ChunkOutputKernel(const T* __restrict__ q, const T* __restrict__ a,
                      const float* __restrict__ log_poles, const float* __restrict__ residues,
                      const float* __restrict__ skip_d, const float* __restrict__ state,
                      T* __restrict__ o, int seq, int hidden, int chunk, int chunks) {
  const int c = blockIdx.y * kThreads + threadIdx.x;
  if (c >= hidden) return;
  const int b = blockIdx.x / chunks;
  const int j = blockIdx.x - b * chunks;
  float p[kModes], r[kModes], s[kModes];
  const float* s_in = state + (static_cast<int64_t>(b) * chunks + j) * kModes * hidden + c;
#pragma unroll
  for (int n = 0; n < kModes; ++n) {
    p[n] = expf(log_poles[c * kModes + n]);
    r[n] = residues[c * kModes + n];
    s[n] = s_in[static_cast<int64_t>(n) * hidden];
  }
  const float d = skip_d[c];
  const int64_t base = static_cast<int64_t>(b) * seq * hidden + c;
  const int t_begin = j * chunk, t_end = min(seq, (j + 1) * chunk);
  T a_ahead[kAhead], q_ahead[kAhead];  // rolling prefetch, as in ChunkEndStateKernel
#pragma unroll
  for (int u = 0; u < kAhead; ++u) {
    const int64_t idx = base + static_cast<int64_t>(t_begin + u) * hidden;
    a_ahead[u] = t_begin + u < t_end ? a[idx] : T(0.f);
    q_ahead[u] = t_begin + u < t_end ? q[idx] : T(0.f);
  }
  for (int t0 = t_begin; t0 < t_end; t0 += kAhead) {
#pragma unroll
    for (int u = 0; u < kAhead; ++u) {
      const int t = t0 + u;
      const float x = ToFloat(a_ahead[u]), qt = ToFloat(q_ahead[u]);
      if (t + kAhead < t_end) {
        const int64_t next = base + static_cast<int64_t>(t + kAhead) * hidden;
        a_ahead[u] = a[next];
        q_ahead[u] = q[next];
      }
      if (t < t_end) {
        float y = 0.f;
#pragma unroll
        for (int n = 0; n < kModes; ++n) {
          s[n] = fmaf(p[n], s[n], x);
          y = fmaf(r[n], s[n], y);
        }
        const float gated = Round<T>(Round<T>(y) + Round<T>(d * x)) * qt;
        o[base + static_cast<int64_t>(t) * hidden] = FromFloat<T>(gated);
      }
    }
  }
}

}  // namespace

int64_t HyenaLongChunk(int64_t seq) {
  if (seq <= 16384) return 64;
  if (seq <= 262144) return 128;
  return 256;
}

size_t HyenaLongWorkspaceBytes(int64_t batch, int64_t seq, int64_t hidden) {
  const int64_t chunk = HyenaLongChunk(seq);
  const int64_t chunks = (seq + chunk - 1) / chunk;
  return static_cast<size_t>(batch) * chunks * kModes * hidden * sizeof(float);
}

template <typename T>
absl::Status LaunchHyenaLongGate(const T* q, const T* a, const float* log_poles,
                                 const float* residues, const float* skip_d, T* o, void* workspace,
                                 size_t workspace_bytes, int64_t batch, int64_t seq, int64_t hidden,
                                 cudaStream_t stream, const float* initial_state) {
  if (q == nullptr || a == nullptr || log_poles == nullptr || residues == nullptr ||
      skip_d == nullptr || o == nullptr)
    return absl::InvalidArgumentError("hyena_long: null pointer");
  if (batch < 0 || seq < 0 || hidden <= 0 || seq > (1 << 30) || hidden > (1 << 20))
    return absl::InvalidArgumentError(
        absl::StrCat("hyena_long: bad shape B=", batch, " S=", seq, " H=", hidden));
  if (batch == 0 || seq == 0) return absl::OkStatus();
  const size_t need = HyenaLongWorkspaceBytes(batch, seq, hidden);
  if (workspace == nullptr || workspace_bytes < need)
    return absl::InvalidArgumentError(absl::StrCat("hyena_long: workspace of ", workspace_bytes,
                                                   " bytes, need ", need));
  const int64_t chunk = HyenaLongChunk(seq);
  const int64_t chunks = (seq + chunk - 1) / chunk;
  if (batch * chunks > INT32_MAX) return absl::InvalidArgumentError("hyena_long: too many chunks");
  float* state = static_cast<float*>(workspace);
  const dim3 grid(static_cast<unsigned>(batch * chunks),
                  static_cast<unsigned>((hidden + kThreads - 1) / kThreads));
  ChunkEndStateKernel<T><<<grid, kThreads, 0, stream>>>(a, log_poles, state, static_cast<int>(seq),
                                                        static_cast<int>(hidden),
                                                        static_cast<int>(chunk),
                                                        static_cast<int>(chunks));
  RETURN_IF_LAUNCH_FAILED("hyena_long chunk states");
  const int64_t total = batch * kModes * hidden;
  ChunkCarryKernel<<<static_cast<unsigned>((total + 255) / 256), 256, 0, stream>>>(
      state, log_poles, initial_state, static_cast<int>(hidden), static_cast<int>(chunk),
      static_cast<int>(chunks), total);
  RETURN_IF_LAUNCH_FAILED("hyena_long carry");
  ChunkOutputKernel<T><<<grid, kThreads, 0, stream>>>(
      q, a, log_poles, residues, skip_d, state, o, static_cast<int>(seq), static_cast<int>(hidden),
      static_cast<int>(chunk), static_cast<int>(chunks));
  RETURN_IF_LAUNCH_FAILED("hyena_long output");
  return absl::OkStatus();
}

template absl::Status LaunchHyenaLongGate<float>(const float*, const float*, const float*,
                                                 const float*, const float*, float*, void*, size_t,
                                                 int64_t, int64_t, int64_t, cudaStream_t,
                                                 const float*);
template absl::Status LaunchHyenaLongGate<__nv_bfloat16>(const __nv_bfloat16*, const __nv_bfloat16*,
                                                         const float*, const float*, const float*,
                                                         __nv_bfloat16*, void*, size_t, int64_t,
                                                         int64_t, int64_t, cudaStream_t,
                                                         const float*);

}  // namespace evo2::kernels
