#include <cuda_bf16.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "kernels/cuda_status.cuh"
#include "kernels/hyena_extend_state.cuh"
#include "kernels/hyena_long.cuh"

namespace evo2::kernels {
namespace {

constexpr int kModes = kHyenaLongModes;
constexpr int kThreads = 256;

// Non-negative τ mod n.
__device__ __forceinline__ int64_t Mod(int64_t tau, int64_t n) { return ((tau % n) + n) % n; }

template <typename T>
__global__ void RingToRowsKernel(const T* __restrict__ ring, int64_t n, int64_t width,
                                 int64_t position, T* __restrict__ rows, int64_t ld_rows) {
  const int64_t j = blockIdx.y;  // halo row j is position pos − n + j
  const T* src = ring + Mod(position - n + j, n) * width;
  T* dst = rows + j * ld_rows;
  for (int64_t c = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; c < width;
       c += static_cast<int64_t>(gridDim.x) * blockDim.x)
    dst[c] = src[c];
}

template <typename T>
__global__ void RingFromRowsAtKernel(const T* __restrict__ rows, int64_t ld_rows, int64_t width,
                                     int64_t n, int64_t first, T* __restrict__ ring) {
  const int64_t r = blockIdx.y;  // row r is at position first + r
  const T* src = rows + r * ld_rows;
  T* dst = ring + Mod(first + r, n) * width;
  for (int64_t c = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; c < width;
       c += static_cast<int64_t>(gridDim.x) * blockDim.x)
    dst[c] = src[c];
}

__global__ void ModalChannelMajorKernel(const float* __restrict__ state, int64_t hidden,
                                        float* __restrict__ out) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;  // c·16 + n
  if (i >= hidden * kModes) return;
  const int64_t c = i / kModes, m = i % kModes;
  out[i] = state[m * hidden + c];
}

__global__ void ModalAdvanceKernel(float* __restrict__ state, const float* __restrict__ end_state,
                                   const float* __restrict__ log_poles, int64_t len,
                                   int64_t hidden) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;  // m·H + c
  if (i >= hidden * kModes) return;
  const int64_t m = i / hidden, c = i % hidden;
  const double carry =
      exp(static_cast<double>(log_poles[c * kModes + m]) * static_cast<double>(len));
  state[i] = static_cast<float>(carry * state[i] + end_state[c * kModes + m]);
}

unsigned RowBlocks(int64_t width) {
  return static_cast<unsigned>(std::min<int64_t>((width + kThreads - 1) / kThreads, 1024));
}

}  // namespace

template <typename T>
absl::Status LaunchRingToRows(const T* ring, int64_t n, int64_t width, int64_t position, T* rows,
                              int64_t ld_rows, cudaStream_t stream) {
  if (ring == nullptr || rows == nullptr)
    return absl::InvalidArgumentError("ring_to_rows: null pointer");
  if (n <= 0 || n > 65535 || width <= 0 || ld_rows < width || position < 0)
    return absl::InvalidArgumentError(absl::StrCat("ring_to_rows: bad shape n=", n, " W=", width,
                                                   " ld=", ld_rows, " pos=", position));
  RingToRowsKernel<T><<<dim3(RowBlocks(width), static_cast<unsigned>(n)), kThreads, 0, stream>>>(
      ring, n, width, position, rows, ld_rows);
  RETURN_IF_LAUNCH_FAILED("ring_to_rows");
  return absl::OkStatus();
}

template <typename T>
absl::Status LaunchRingFromRowsAt(const T* rows, int64_t ld_rows, int64_t count, int64_t width,
                                  int64_t n, int64_t first, T* ring, cudaStream_t stream) {
  if (rows == nullptr || ring == nullptr)
    return absl::InvalidArgumentError("ring_from_rows_at: null pointer");
  if (count < 0 || n <= 0 || n > 65535 || width <= 0 || ld_rows < width)
    return absl::InvalidArgumentError(absl::StrCat("ring_from_rows_at: bad shape rows=", count,
                                                   " W=", width, " n=", n, " ld=", ld_rows));
  const int64_t written = std::min(n, count);
  if (written == 0) return absl::OkStatus();
  // Rows before the last `written` are not read: pass the run from its first written row.
  const int64_t skip = count - written;
  RingFromRowsAtKernel<T>
      <<<dim3(RowBlocks(width), static_cast<unsigned>(written)), kThreads, 0, stream>>>(
          rows + skip * ld_rows, ld_rows, width, n, first + skip, ring);
  RETURN_IF_LAUNCH_FAILED("ring_from_rows_at");
  return absl::OkStatus();
}

absl::Status LaunchModalStateChannelMajor(const float* state, int64_t hidden, float* channel_major,
                                          cudaStream_t stream) {
  if (state == nullptr || channel_major == nullptr)
    return absl::InvalidArgumentError("modal_state_channel_major: null pointer");
  if (hidden <= 0 || hidden > (1 << 20))
    return absl::InvalidArgumentError(absl::StrCat("modal_state_channel_major: bad H=", hidden));
  const int64_t n = hidden * kModes;
  ModalChannelMajorKernel<<<static_cast<unsigned>((n + kThreads - 1) / kThreads), kThreads, 0,
                            stream>>>(state, hidden, channel_major);
  RETURN_IF_LAUNCH_FAILED("modal_state_channel_major");
  return absl::OkStatus();
}

absl::Status LaunchModalStateAdvance(float* state, const float* end_state, const float* log_poles,
                                     int64_t len, int64_t hidden, cudaStream_t stream) {
  if (state == nullptr || end_state == nullptr || log_poles == nullptr)
    return absl::InvalidArgumentError("modal_state_advance: null pointer");
  if (hidden <= 0 || hidden > (1 << 20) || len < 0)
    return absl::InvalidArgumentError(
        absl::StrCat("modal_state_advance: bad shape H=", hidden, " len=", len));
  const int64_t n = hidden * kModes;
  ModalAdvanceKernel<<<static_cast<unsigned>((n + kThreads - 1) / kThreads), kThreads, 0, stream>>>(
      state, end_state, log_poles, len, hidden);
  RETURN_IF_LAUNCH_FAILED("modal_state_advance");
  return absl::OkStatus();
}

#define EVO2_INSTANTIATE(T)                                                                   \
  template absl::Status LaunchRingToRows<T>(const T*, int64_t, int64_t, int64_t, T*, int64_t, \
                                            cudaStream_t);                                    \
  template absl::Status LaunchRingFromRowsAt<T>(const T*, int64_t, int64_t, int64_t, int64_t, \
                                                int64_t, T*, cudaStream_t);
EVO2_INSTANTIATE(float)
EVO2_INSTANTIATE(__nv_bfloat16)
#undef EVO2_INSTANTIATE

}  // namespace evo2::kernels
