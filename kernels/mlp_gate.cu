#include <cuda_bf16.h>

#include <cstdint>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "kernels/cuda_status.cuh"
#include "kernels/dependent_launch.cuh"
#include "kernels/e4m3.cuh"
#include "kernels/element.cuh"
#include "kernels/gate_activation.cuh"
#include "kernels/mlp_gate.cuh"

namespace evo2::kernels {
namespace {

constexpr int kThreads = 256;

// One block per row: no index division, coalesced along the row.
template <typename T, bool kGelu>
__global__ void MlpGateKernel(T* __restrict__ g, int inner) {
  AllowDependents();  // dependent_launch.cuh: the decoder's next GEMM may start early
  T* row = g + static_cast<int64_t>(blockIdx.x) * 2 * inner;
  for (int i = threadIdx.x; i < inner; i += blockDim.x) {
    row[i] = FromFloat<T>(GateActivation<T>(ToFloat(row[i]), kGelu) * ToFloat(row[inner + i]));
  }
}

// bf16 with even I: two elements per thread through 32-bit loads (v1 was scalar, ~45 % of the
// copy bandwidth; kernels/NOTES.md).
template <bool kGelu>
__global__ void MlpGateBf16x2Kernel(__nv_bfloat16* __restrict__ g, int inner) {
  AllowDependents();  // dependent_launch.cuh: the decoder's next GEMM may start early
  __nv_bfloat162* row =
      reinterpret_cast<__nv_bfloat162*>(g + static_cast<int64_t>(blockIdx.x) * 2 * inner);
  const int pairs = inner / 2;
  for (int i = threadIdx.x; i < pairs; i += blockDim.x) {
    const float2 a = __bfloat1622float2(row[i]);
    const float2 l = __bfloat1622float2(row[pairs + i]);
    row[i] = __floats2bfloat162_rn(GateActivation<__nv_bfloat16>(a.x, kGelu) * l.x,
                                   GateActivation<__nv_bfloat16>(a.y, kGelu) * l.y);
  }
}

// The gate with its output quantised for l3 (E4M3RowsOut): G's first half is not written; the
// T-rounded products go to shared memory (`gated`, [I] T) for the row's amax, then out as codes.
// With a fixed scale there is no amax and the codes go out in the same pass. bf16 with even I
// and even ldq runs on element pairs (32-bit loads, 16-bit code stores), as MlpGateBf16x2Kernel;
// with I and ldq multiples of 4 on quads (64-bit loads, 32-bit code stores): kVec = 1, 2 or 4.
template <typename T, bool kGelu, int kVec>
__global__ void __launch_bounds__(kThreads)
    MlpGateE4M3Kernel(const T* __restrict__ g, int inner, E4M3RowsOut e4m3) {
  AllowDependents();  // dependent_launch.cuh: the decoder's next GEMM may start early
  extern __shared__ __align__(16) unsigned char gated_raw[];
  T* gated = reinterpret_cast<T*>(gated_raw);  // [I] T, only with current scaling
  const T* row = g + static_cast<int64_t>(blockIdx.x) * 2 * inner;
  uint8_t* qr = e4m3.codes + static_cast<int64_t>(blockIdx.x) * e4m3.ldq;
  const bool fixed = e4m3.fixed_scale > 0.0f;  // uniform over the block
  float s = e4m3.fixed_scale, amax = 0.f;
  if constexpr (kVec == 4) {
    static_assert(std::is_same_v<T, __nv_bfloat16>);
    const uint2* row4 = reinterpret_cast<const uint2*>(row);  // 4 bf16 per uint2
    const int quads = inner / 4;
    auto gate = [&](int i) {  // the 4 gated values, rounded to bf16, packed
      const uint2 a = row4[i], l = row4[quads + i];
      const float2 a0 = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&a.x));
      const float2 a1 = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&a.y));
      const float2 l0 = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&l.x));
      const float2 l1 = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&l.y));
      const __nv_bfloat162 lo = __floats2bfloat162_rn(GateActivation<T>(a0.x, kGelu) * l0.x,
                                                      GateActivation<T>(a0.y, kGelu) * l0.y);
      const __nv_bfloat162 hi = __floats2bfloat162_rn(GateActivation<T>(a1.x, kGelu) * l1.x,
                                                      GateActivation<T>(a1.y, kGelu) * l1.y);
      uint2 packed;
      packed.x = *reinterpret_cast<const uint32_t*>(&lo);
      packed.y = *reinterpret_cast<const uint32_t*>(&hi);
      return packed;
    };
    auto unpack = [](uint2 v) {
      const float2 lo = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&v.x));
      const float2 hi = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&v.y));
      return make_float4(lo.x, lo.y, hi.x, hi.y);
    };
    uint32_t* q4 = reinterpret_cast<uint32_t*>(qr);
    uint2* gated4 = reinterpret_cast<uint2*>(gated);
    if (fixed) {
      for (int i = threadIdx.x; i < quads; i += kThreads) q4[i] = ToE4M3x4(unpack(gate(i)), s);
    } else {
      for (int i = threadIdx.x; i < quads; i += kThreads) {
        const uint2 v = gate(i);
        gated4[i] = v;
        const float4 f = unpack(v);
        amax = AbsMax(AbsMax(AbsMax(AbsMax(amax, f.x), f.y), f.z), f.w);
      }
      s = E4M3ScaleForAmax(BlockMaxNonNegative<kThreads>(amax));  // its barrier publishes `gated`
      for (int i = threadIdx.x; i < quads; i += kThreads) q4[i] = ToE4M3x4(unpack(gated4[i]), s);
    }
  } else if constexpr (kVec == 2) {
    static_assert(std::is_same_v<T, __nv_bfloat16>);
    const __nv_bfloat162* row2 = reinterpret_cast<const __nv_bfloat162*>(row);
    const int pairs = inner / 2;
    auto gate = [&](int i) {
      const float2 a = __bfloat1622float2(row2[i]);
      const float2 l = __bfloat1622float2(row2[pairs + i]);
      return __floats2bfloat162_rn(GateActivation<T>(a.x, kGelu) * l.x,
                                   GateActivation<T>(a.y, kGelu) * l.y);
    };
    auto store = [&](int i, float2 v) {
      *reinterpret_cast<uint16_t*>(qr + 2 * i) =
          static_cast<uint16_t>(ToE4M3(v.x * s) | (static_cast<uint16_t>(ToE4M3(v.y * s)) << 8));
    };
    __nv_bfloat162* gated2 = reinterpret_cast<__nv_bfloat162*>(gated);
    if (fixed) {
      for (int i = threadIdx.x; i < pairs; i += kThreads) store(i, __bfloat1622float2(gate(i)));
    } else {
      for (int i = threadIdx.x; i < pairs; i += kThreads) {
        const __nv_bfloat162 v = gate(i);
        gated2[i] = v;
        const float2 f = __bfloat1622float2(v);
        amax = AbsMax(AbsMax(amax, f.x), f.y);
      }
      s = E4M3ScaleForAmax(BlockMaxNonNegative<kThreads>(amax));  // its barrier publishes `gated`
      for (int i = threadIdx.x; i < pairs; i += kThreads) store(i, __bfloat1622float2(gated2[i]));
    }
  } else {
    auto gate = [&](int i) {
      return Round<T>(GateActivation<T>(ToFloat(row[i]), kGelu) * ToFloat(row[inner + i]));
    };
    if (fixed) {
      for (int i = threadIdx.x; i < inner; i += kThreads) qr[i] = ToE4M3(gate(i) * s);
    } else {
      for (int i = threadIdx.x; i < inner; i += kThreads) {
        const float v = gate(i);
        gated[i] = FromFloat<T>(v);  // exact: v is already rounded to T
        amax = AbsMax(amax, v);
      }
      s = E4M3ScaleForAmax(BlockMaxNonNegative<kThreads>(amax));  // its barrier publishes `gated`
      for (int i = threadIdx.x; i < inner; i += kThreads) qr[i] = ToE4M3(ToFloat(gated[i]) * s);
    }
  }
  for (int64_t k = inner + threadIdx.x; k < e4m3.ldq; k += kThreads) qr[k] = 0;
  if (threadIdx.x == 0) e4m3.inv_scale[blockIdx.x] = 1.0f / s;
}

template <typename T, bool kGelu, int kVec>
absl::Status LaunchE4M3(const T* g, unsigned rows, int inner, const E4M3RowsOut& e4m3,
                        size_t smem_bytes, cudaStream_t stream) {
  auto* kernel = MlpGateE4M3Kernel<T, kGelu, kVec>;
  // Above 48 KiB of dynamic shared memory a kernel must opt in (I > 24 576 in bf16).
  if (smem_bytes > 48 * 1024)
    CUDA_RETURN_IF_ERROR(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                              static_cast<int>(smem_bytes)));
  kernel<<<rows, kThreads, smem_bytes, stream>>>(g, inner, e4m3);
  RETURN_IF_LAUNCH_FAILED("mlp_gate_e4m3");
  return absl::OkStatus();
}

}  // namespace

template <typename T>
absl::Status LaunchMlpGateE4M3(const T* gate_linear, int64_t rows, int64_t inner, bool gelu,
                               const E4M3RowsOut& e4m3, cudaStream_t stream) {
  if (gate_linear == nullptr || e4m3.codes == nullptr || e4m3.inv_scale == nullptr)
    return absl::InvalidArgumentError("mlp_gate_e4m3: null pointer");
  if (rows < 0 || inner <= 0 || e4m3.ldq < inner)
    return absl::InvalidArgumentError(absl::StrCat("mlp_gate_e4m3: bad shape rows=", rows,
                                                   " I=", inner, " code row width=", e4m3.ldq));
  if (rows == 0) return absl::OkStatus();
  if (rows > INT32_MAX || inner > INT32_MAX)
    return absl::InvalidArgumentError(
        absl::StrCat("mlp_gate_e4m3: too large rows=", rows, " I=", inner));
  const size_t smem_bytes = e4m3.fixed_scale > 0.0f ? 0 : static_cast<size_t>(inner) * sizeof(T);
  int device = 0, smem_limit = 0;
  CUDA_RETURN_IF_ERROR(cudaGetDevice(&device));
  CUDA_RETURN_IF_ERROR(
      cudaDeviceGetAttribute(&smem_limit, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  if (smem_bytes > static_cast<size_t>(smem_limit))
    return absl::InvalidArgumentError(
        absl::StrCat("mlp_gate_e4m3: the row's ", inner, " gated values (", smem_bytes,
                     " bytes) exceed the block's ", smem_limit, " bytes of shared memory"));
  const unsigned blocks = static_cast<unsigned>(rows);
  const int i = static_cast<int>(inner);
  auto aligned = [](const void* p, uintptr_t bytes) {
    return reinterpret_cast<uintptr_t>(p) % bytes == 0;
  };
  if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    if (inner % 4 == 0 && e4m3.ldq % 4 == 0 && aligned(e4m3.codes, 4) && aligned(gate_linear, 8)) {
      return gelu ? LaunchE4M3<T, true, 4>(gate_linear, blocks, i, e4m3, smem_bytes, stream)
                  : LaunchE4M3<T, false, 4>(gate_linear, blocks, i, e4m3, smem_bytes, stream);
    }
    if (inner % 2 == 0 && e4m3.ldq % 2 == 0 && aligned(e4m3.codes, 2) && aligned(gate_linear, 4)) {
      return gelu ? LaunchE4M3<T, true, 2>(gate_linear, blocks, i, e4m3, smem_bytes, stream)
                  : LaunchE4M3<T, false, 2>(gate_linear, blocks, i, e4m3, smem_bytes, stream);
    }
  }
  return gelu ? LaunchE4M3<T, true, 1>(gate_linear, blocks, i, e4m3, smem_bytes, stream)
              : LaunchE4M3<T, false, 1>(gate_linear, blocks, i, e4m3, smem_bytes, stream);
}

template <typename T>
absl::Status LaunchMlpGate(T* gate_linear, int64_t rows, int64_t inner, bool gelu,
                           cudaStream_t stream) {
  if (gate_linear == nullptr) return absl::InvalidArgumentError("mlp_gate: null pointer");
  if (rows < 0 || inner <= 0)
    return absl::InvalidArgumentError(absl::StrCat("mlp_gate: bad shape rows=", rows, " I=", inner));
  if (rows == 0) return absl::OkStatus();
  if (rows > INT32_MAX || inner > INT32_MAX)
    return absl::InvalidArgumentError(absl::StrCat("mlp_gate: too large rows=", rows, " I=", inner));
  const unsigned blocks = static_cast<unsigned>(rows);
  if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    if (inner % 2 == 0) {
      if (gelu) {
        MlpGateBf16x2Kernel<true><<<blocks, 256, 0, stream>>>(gate_linear, static_cast<int>(inner));
      } else {
        MlpGateBf16x2Kernel<false><<<blocks, 256, 0, stream>>>(gate_linear, static_cast<int>(inner));
      }
      RETURN_IF_LAUNCH_FAILED("mlp_gate bf16x2");
      return absl::OkStatus();
    }
  }
  if (gelu) {
    MlpGateKernel<T, true><<<blocks, 256, 0, stream>>>(gate_linear, static_cast<int>(inner));
  } else {
    MlpGateKernel<T, false><<<blocks, 256, 0, stream>>>(gate_linear, static_cast<int>(inner));
  }
  RETURN_IF_LAUNCH_FAILED("mlp_gate");
  return absl::OkStatus();
}

template absl::Status LaunchMlpGate<float>(float*, int64_t, int64_t, bool, cudaStream_t);
template absl::Status LaunchMlpGate<__nv_bfloat16>(__nv_bfloat16*, int64_t, int64_t, bool,
                                                   cudaStream_t);
template absl::Status LaunchMlpGateE4M3<float>(const float*, int64_t, int64_t, bool,
                                               const E4M3RowsOut&, cudaStream_t);
template absl::Status LaunchMlpGateE4M3<__nv_bfloat16>(const __nv_bfloat16*, int64_t, int64_t, bool,
                                                       const E4M3RowsOut&, cudaStream_t);

}  // namespace evo2::kernels
