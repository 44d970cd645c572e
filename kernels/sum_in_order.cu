#include <algorithm>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "kernels/cuda_status.cuh"
#include "kernels/sum_in_order.cuh"

namespace evo2::kernels {
namespace {

// Inputs travel as a kernel parameter (no device-side pointer array to upload); more inputs than
// this are summed in several launches, the running sum being in[0] of the next one.
constexpr int kMaxInputsPerLaunch = 8;

struct Inputs {
  const float* ptr[kMaxInputsPerLaunch];
  int n;
};

// float4 loads when every pointer is 16-byte aligned (the common case: cudaMalloc'd buffers at
// chunk offsets that are multiples of 4 elements); the fp32 additions are the same either way.
__global__ void SumInOrderVec4Kernel(Inputs in, float* out, int64_t count4) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < count4;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float4 acc = reinterpret_cast<const float4*>(in.ptr[0])[i];
    for (int k = 1; k < in.n; ++k) {
      const float4 v = reinterpret_cast<const float4*>(in.ptr[k])[i];
      acc.x = __fadd_rn(acc.x, v.x);
      acc.y = __fadd_rn(acc.y, v.y);
      acc.z = __fadd_rn(acc.z, v.z);
      acc.w = __fadd_rn(acc.w, v.w);
    }
    reinterpret_cast<float4*>(out)[i] = acc;
  }
}

__global__ void SumInOrderKernel(Inputs in, float* out, int64_t begin, int64_t count) {
  for (int64_t i = begin + blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < count;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float acc = in.ptr[0][i];
    for (int k = 1; k < in.n; ++k) acc = __fadd_rn(acc, in.ptr[k][i]);
    out[i] = acc;
  }
}

unsigned Blocks(int64_t n) {
  // Grid-stride: a few waves of 256-thread blocks cover any size.
  return static_cast<unsigned>(std::clamp<int64_t>((n + 255) / 256, 1, 132 * 16));
}

bool Aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

}  // namespace

absl::Status LaunchSumInOrder(const float* const* inputs, int n, float* out, int64_t count,
                              cudaStream_t stream) {
  if (inputs == nullptr || n < 1 || count < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("sum_in_order: ", n, " inputs of ", count, " elements"));
  }
  if (count == 0) return absl::OkStatus();
  if (out == nullptr) return absl::InvalidArgumentError("sum_in_order: null output");
  for (int k = 0; k < n; ++k) {
    if (inputs[k] == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("sum_in_order: input ", k, " is null"));
    }
  }
  int done = 0;  // inputs already folded into `out`
  while (done < n) {
    Inputs in{};
    in.n = 0;
    if (done > 0) in.ptr[in.n++] = out;  // the running sum comes first: order is kept
    while (in.n < kMaxInputsPerLaunch && done < n) in.ptr[in.n++] = inputs[done++];
    bool vec = Aligned16(out);
    for (int k = 0; k < in.n; ++k) vec = vec && Aligned16(in.ptr[k]);
    int64_t scalar_begin = 0;
    if (vec && count >= 4) {
      const int64_t count4 = count / 4;
      SumInOrderVec4Kernel<<<Blocks(count4), 256, 0, stream>>>(in, out, count4);
      RETURN_IF_LAUNCH_FAILED("sum_in_order");
      scalar_begin = count4 * 4;
    }
    if (scalar_begin < count) {
      SumInOrderKernel<<<Blocks(count - scalar_begin), 256, 0, stream>>>(in, out, scalar_begin,
                                                                         count);
      RETURN_IF_LAUNCH_FAILED("sum_in_order");
    }
  }
  return absl::OkStatus();
}

}  // namespace evo2::kernels
