#include <cuda_bf16.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "kernels/cuda_status.cuh"
#include "kernels/element.cuh"
#include "kernels/hyena_long.cuh"
#include "kernels/hyena_long_cp.cuh"

namespace evo2::kernels {
namespace {

constexpr int kModes = kHyenaLongModes;
constexpr int kThreads = 128;  // channels per block
constexpr int kAhead = 4;      // time steps whose loads are in flight per thread
// At most this many sub-chunks per end state: enough blocks to fill the GPU at H ≥ 512 while the
// workspace stays small ([B, 256, 16, H] fp32 = 64 MB at B = 2, H = 4096).
constexpr int64_t kMaxSubChunks = 256;

int64_t EndStateSubChunk(int64_t len) {
  return std::max<int64_t>(64, (len + kMaxSubChunks - 1) / kMaxSubChunks);
}

absl::Status CheckShape(const char* op, int64_t batch, int64_t len, int64_t hidden) {
  if (batch < 0 || len < 0 || hidden <= 0 || len > (1 << 30) || hidden > (1 << 20) || batch > 65535)
    return absl::InvalidArgumentError(
        absl::StrCat(op, ": bad shape B=", batch, " L=", len, " H=", hidden));
  return absl::OkStatus();
}

// Sub-chunk j of batch row b from a zero state; writes state[b][j][n][c] (coalesced over c).
// The same loop as hyena_long.cu's chunk states, with its rolling prefetch.
template <typename T>
__global__ void __launch_bounds__(kThreads)
    SubChunkEndStateKernel(const T* __restrict__ a, const float* __restrict__ log_poles,
                           float* __restrict__ state, int len, int hidden, int chunk, int chunks) {
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
  const T* ab = a + static_cast<int64_t>(b) * len * hidden + c;
  const int t_begin = j * chunk, t_end = min(len, (j + 1) * chunk);
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

// One thread per (b, n, c): end = fold of the sub-chunk states, carry ← p^{len_j}·carry + e_j,
// in double. Reads coalesced over c; writes end_state[b][c][n].
__global__ void CombineSubChunksKernel(const float* __restrict__ state,
                                       const float* __restrict__ log_poles,
                                       float* __restrict__ end_state, int len, int hidden,
                                       int chunk, int chunks, int64_t total) {
  const int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (idx >= total) return;
  const int64_t per_batch = static_cast<int64_t>(kModes) * hidden;
  const int64_t b = idx / per_batch;
  const int64_t nc = idx - b * per_batch;  // n * hidden + c
  const int n = static_cast<int>(nc / hidden);
  const int c = static_cast<int>(nc - static_cast<int64_t>(n) * hidden);
  const double lambda = log_poles[c * kModes + n];
  const double p_chunk = exp(lambda * chunk);
  const float* s = state + b * chunks * per_batch + nc;
  double carry = 0.0;
  constexpr int kBatch = 8;  // independent loads in flight before the dependent fold
  for (int j0 = 0; j0 < chunks - 1; j0 += kBatch) {
    float e[kBatch];
#pragma unroll
    for (int u = 0; u < kBatch; ++u)
      e[u] = j0 + u < chunks - 1 ? s[static_cast<int64_t>(j0 + u) * per_batch] : 0.f;
#pragma unroll
    for (int u = 0; u < kBatch; ++u)
      if (j0 + u < chunks - 1) carry = fma(p_chunk, carry, static_cast<double>(e[u]));
  }
  const int last_len = len - (chunks - 1) * chunk;
  carry = fma(exp(lambda * last_len), carry,
              static_cast<double>(s[static_cast<int64_t>(chunks - 1) * per_batch]));
  end_state[(b * hidden + c) * kModes + n] = static_cast<float>(carry);
}

struct FoldPlan {
  int32_t slot[kHyenaLongMaxFoldChunks];     // chunk k's slot in end_states
  int32_t target[kHyenaLongMaxFoldTargets];  // chunk whose incoming state batch row b gets
};

// One thread per (b, c, n): S = Σ over chunks k < target of p^{Lc}-weighted e_k, in double.
__global__ void FoldIncomingKernel(const float* __restrict__ end_states, const FoldPlan plan,
                                   const float* __restrict__ log_poles, int64_t chunk_len,
                                   int hidden, float* __restrict__ incoming, int64_t total) {
  const int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (idx >= total) return;
  const int64_t per_batch = static_cast<int64_t>(hidden) * kModes;
  const int b = static_cast<int>(idx / per_batch);
  const int64_t cn = idx - b * per_batch;  // c * 16 + n, the layout of log_poles and e
  const double decay = exp(static_cast<double>(log_poles[cn]) * static_cast<double>(chunk_len));
  double s = 0.0;
  for (int k = 0; k < plan.target[b]; ++k)
    s = fma(decay, s, static_cast<double>(end_states[plan.slot[k] * per_batch + cn]));
  incoming[idx] = static_cast<float>(s);
}

// Thread per channel, block row per (b, time chunk): g = p^{t+1} ⊙ s0 carried as g ← p ⊙ g from
// g = exp(λ·(t_begin+1)) ⊙ s0 (so the pole is multiplied in at most `chunk` times).
template <typename T>
__global__ void __launch_bounds__(kThreads)
    StateCorrectionKernel(const T* __restrict__ q, const float* __restrict__ incoming,
                          const float* __restrict__ log_poles, const float* __restrict__ residues,
                          T* __restrict__ o, int len, int hidden, int chunk, int chunks) {
  const int c = blockIdx.y * kThreads + threadIdx.x;
  if (c >= hidden) return;
  const int b = blockIdx.x / chunks;
  const int j = blockIdx.x - b * chunks;
  const int t_begin = j * chunk, t_end = min(len, (j + 1) * chunk);
  float p[kModes], r[kModes], g[kModes];
  const float* s0 = incoming + (static_cast<int64_t>(b) * hidden + c) * kModes;
#pragma unroll
  for (int n = 0; n < kModes; ++n) {
    const float lambda = log_poles[c * kModes + n];
    p[n] = expf(lambda);
    r[n] = residues[c * kModes + n];
    g[n] = expf(lambda * static_cast<float>(t_begin + 1)) * s0[n];
  }
  const int64_t base = static_cast<int64_t>(b) * len * hidden + c;
#pragma unroll 4
  for (int t = t_begin; t < t_end; ++t) {
    const int64_t at = base + static_cast<int64_t>(t) * hidden;
    float corr = 0.f;
#pragma unroll
    for (int n = 0; n < kModes; ++n) {
      corr = fmaf(r[n], g[n], corr);
      g[n] *= p[n];
    }
    o[at] = FromFloat<T>(fmaf(ToFloat(q[at]), corr, ToFloat(o[at])));
  }
}

}  // namespace

size_t HyenaLongEndStateWorkspaceBytes(int64_t batch, int64_t len, int64_t hidden) {
  if (batch <= 0 || len <= 0 || hidden <= 0) return 0;
  const int64_t chunk = EndStateSubChunk(len);
  const int64_t chunks = (len + chunk - 1) / chunk;
  return static_cast<size_t>(batch) * chunks * kModes * hidden * sizeof(float);
}

template <typename T>
absl::Status LaunchHyenaLongEndState(const T* a, const float* log_poles, float* end_state,
                                     void* workspace, size_t workspace_bytes, int64_t batch,
                                     int64_t len, int64_t hidden, cudaStream_t stream) {
  if (a == nullptr || log_poles == nullptr || end_state == nullptr)
    return absl::InvalidArgumentError("hyena_long_end_state: null pointer");
  RETURN_IF_ERROR(CheckShape("hyena_long_end_state", batch, len, hidden));
  if (batch == 0) return absl::OkStatus();
  if (len == 0) {  // nothing seen: the state is zero
    CUDA_RETURN_IF_ERROR(cudaMemsetAsync(
        end_state, 0, static_cast<size_t>(batch) * hidden * kModes * sizeof(float), stream));
    return absl::OkStatus();
  }
  const size_t need = HyenaLongEndStateWorkspaceBytes(batch, len, hidden);
  if (workspace == nullptr || workspace_bytes < need)
    return absl::InvalidArgumentError(absl::StrCat("hyena_long_end_state: workspace of ",
                                                   workspace_bytes, " bytes, need ", need));
  const int64_t chunk = EndStateSubChunk(len);
  const int64_t chunks = (len + chunk - 1) / chunk;
  float* state = static_cast<float*>(workspace);  // [batch, chunks, 16, H] fp32
  const dim3 grid(static_cast<unsigned>(batch * chunks),
                  static_cast<unsigned>((hidden + kThreads - 1) / kThreads));
  SubChunkEndStateKernel<T><<<grid, kThreads, 0, stream>>>(
      a, log_poles, state, static_cast<int>(len), static_cast<int>(hidden), static_cast<int>(chunk),
      static_cast<int>(chunks));
  RETURN_IF_LAUNCH_FAILED("hyena_long_end_state sub-chunks");
  const int64_t total = batch * kModes * hidden;
  CombineSubChunksKernel<<<static_cast<unsigned>((total + 255) / 256), 256, 0, stream>>>(
      state, log_poles, end_state, static_cast<int>(len), static_cast<int>(hidden),
      static_cast<int>(chunk), static_cast<int>(chunks), total);
  RETURN_IF_LAUNCH_FAILED("hyena_long_end_state combine");
  return absl::OkStatus();
}

absl::Status LaunchHyenaLongIncomingState(const float* end_states, const int32_t* slot_of_chunk,
                                          int64_t num_chunks, const int32_t* targets, int64_t batch,
                                          const float* log_poles, int64_t chunk_len, int64_t hidden,
                                          float* incoming, cudaStream_t stream) {
  if (end_states == nullptr || targets == nullptr || log_poles == nullptr || incoming == nullptr)
    return absl::InvalidArgumentError("hyena_long_incoming_state: null pointer");
  if (num_chunks <= 0 || num_chunks > kHyenaLongMaxFoldChunks)
    return absl::InvalidArgumentError(absl::StrCat("hyena_long_incoming_state: ", num_chunks,
                                                   " chunks (1 … ", kHyenaLongMaxFoldChunks,
                                                   " supported)"));
  if (batch < 0 || batch > kHyenaLongMaxFoldTargets)
    return absl::InvalidArgumentError(absl::StrCat("hyena_long_incoming_state: ", batch,
                                                   " target chunks (at most ",
                                                   kHyenaLongMaxFoldTargets, ")"));
  if (chunk_len < 0 || hidden <= 0 || hidden > (1 << 20))
    return absl::InvalidArgumentError(
        absl::StrCat("hyena_long_incoming_state: bad shape Lc=", chunk_len, " H=", hidden));
  FoldPlan plan{};
  for (int64_t k = 0; k < num_chunks; ++k) {
    const int32_t slot = slot_of_chunk == nullptr ? static_cast<int32_t>(k) : slot_of_chunk[k];
    if (slot < 0)
      return absl::InvalidArgumentError(
          absl::StrCat("hyena_long_incoming_state: chunk ", k, " has slot ", slot));
    plan.slot[k] = slot;
  }
  for (int64_t b = 0; b < batch; ++b) {
    if (targets[b] < 0 || targets[b] >= num_chunks)
      return absl::InvalidArgumentError(absl::StrCat("hyena_long_incoming_state: target ",
                                                     targets[b], " of row ", b, " is not in [0, ",
                                                     num_chunks, ")"));
    plan.target[b] = targets[b];
  }
  if (batch == 0) return absl::OkStatus();
  const int64_t total = batch * hidden * kModes;
  FoldIncomingKernel<<<static_cast<unsigned>((total + 255) / 256), 256, 0, stream>>>(
      end_states, plan, log_poles, chunk_len, static_cast<int>(hidden), incoming, total);
  RETURN_IF_LAUNCH_FAILED("hyena_long_incoming_state");
  return absl::OkStatus();
}

template <typename T>
absl::Status LaunchHyenaLongStateCorrection(const T* q, const float* incoming,
                                            const float* log_poles, const float* residues, T* o,
                                            int64_t batch, int64_t len, int64_t hidden,
                                            cudaStream_t stream) {
  if (q == nullptr || incoming == nullptr || log_poles == nullptr || residues == nullptr ||
      o == nullptr)
    return absl::InvalidArgumentError("hyena_long_state_correction: null pointer");
  RETURN_IF_ERROR(CheckShape("hyena_long_state_correction", batch, len, hidden));
  if (batch == 0 || len == 0) return absl::OkStatus();
  const int64_t chunk = HyenaLongChunk(len);
  const int64_t chunks = (len + chunk - 1) / chunk;
  if (batch * chunks > INT32_MAX)
    return absl::InvalidArgumentError("hyena_long_state_correction: too many chunks");
  const dim3 grid(static_cast<unsigned>(batch * chunks),
                  static_cast<unsigned>((hidden + kThreads - 1) / kThreads));
  StateCorrectionKernel<T><<<grid, kThreads, 0, stream>>>(
      q, incoming, log_poles, residues, o, static_cast<int>(len), static_cast<int>(hidden),
      static_cast<int>(chunk), static_cast<int>(chunks));
  RETURN_IF_LAUNCH_FAILED("hyena_long_state_correction");
  return absl::OkStatus();
}

#define EVO2_INSTANTIATE(T)                                                                       \
  template absl::Status LaunchHyenaLongEndState<T>(const T*, const float*, float*, void*, size_t, \
                                                   int64_t, int64_t, int64_t, cudaStream_t);      \
  template absl::Status LaunchHyenaLongStateCorrection<T>(const T*, const float*, const float*,   \
                                                          const float*, T*, int64_t, int64_t,     \
                                                          int64_t, cudaStream_t);
EVO2_INSTANTIATE(float)
EVO2_INSTANTIATE(__nv_bfloat16)
#undef EVO2_INSTANTIATE

}  // namespace evo2::kernels
