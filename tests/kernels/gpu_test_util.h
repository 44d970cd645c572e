// Helpers for the kernel tests: device detection (tests skip without a GPU), host<->device
// copies with element-type conversion, random inputs and the comparison metric.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <type_traits>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/device_buffer.h"

namespace evo2::kernels::testing {

inline bool HaveGpu() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

#define SKIP_WITHOUT_GPU()                                                                  \
  do {                                                                                     \
    if (!::evo2::kernels::testing::HaveGpu())                                              \
      GTEST_SKIP() << "no CUDA device (cudaGetDeviceCount reports none); GPU test skipped"; \
  } while (0)

template <typename T>
inline T FromHost(float v) {
  if constexpr (std::is_same_v<T, float>) {
    return v;
  } else {
    return __float2bfloat16_rn(v);
  }
}
template <typename T>
inline float ToHost(T v) {
  if constexpr (std::is_same_v<T, float>) {
    return v;
  } else {
    return __bfloat162float(v);
  }
}
// Rounds to T's precision (what the device sees as input).
template <typename T>
inline float RoundTo(float v) { return ToHost<T>(FromHost<T>(v)); }

// Fresh random values (N(0, stddev)), already rounded to T so the reference sees the same input.
template <typename T>
inline std::vector<float> RandomValues(size_t n, float stddev, std::mt19937& rng) {
  std::normal_distribution<float> dist(0.f, stddev);
  std::vector<float> v(n);
  for (float& x : v) x = RoundTo<T>(dist(rng));
  return v;
}

// Device copy of `values` as T (or float for fp32 parameters).
template <typename T>
inline DeviceBuffer Upload(const std::vector<float>& values) {
  std::vector<T> host(values.size());
  for (size_t i = 0; i < values.size(); ++i) host[i] = FromHost<T>(values[i]);
  auto buf = DeviceBuffer::Allocate(std::max<size_t>(1, host.size()) * sizeof(T));
  EXPECT_TRUE(buf.ok()) << buf.status();
  if (!host.empty()) {
    EXPECT_EQ(cudaMemcpy(buf->get(), host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice),
              cudaSuccess);
  }
  return std::move(*buf);
}

// Allocates n elements filled with NaN bytes (0xFF…), so any element a kernel fails to write
// shows up as NaN in the comparison ("poison the output").
template <typename T>
inline DeviceBuffer Poisoned(size_t n) {
  auto buf = DeviceBuffer::Allocate(std::max<size_t>(1, n) * sizeof(T));
  EXPECT_TRUE(buf.ok()) << buf.status();
  EXPECT_EQ(cudaMemset(buf->get(), 0xFF, std::max<size_t>(1, n) * sizeof(T)), cudaSuccess);
  return std::move(*buf);
}

template <typename T>
inline std::vector<float> Download(const DeviceBuffer& buf, size_t n) {
  std::vector<T> host(n);
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  if (n > 0) {
    EXPECT_EQ(cudaMemcpy(host.data(), buf.get(), n * sizeof(T), cudaMemcpyDeviceToHost),
              cudaSuccess);
  }
  std::vector<float> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = ToHost<T>(host[i]);
  return out;
}

// ‖got − want‖ / ‖want‖; +inf if any value is NaN/inf (NaN never passes).
inline double RelL2(const std::vector<float>& got, const std::vector<double>& want) {
  double num = 0, den = 0;
  if (got.size() != want.size()) return INFINITY;
  for (size_t i = 0; i < got.size(); ++i) {
    if (!std::isfinite(got[i])) return INFINITY;
    const double d = got[i] - want[i];
    num += d * d;
    den += want[i] * want[i];
  }
  return den == 0 ? std::sqrt(num) : std::sqrt(num / den);
}

// Tolerances on rel-L2 against a float64 reference computed from the same (rounded) inputs.
// fp32: only accumulation order differs, ~1e-7 per op over ≤ a few hundred terms.
// bf16: the output is rounded to bf16 (relative 2^-9 ≈ 2e-3 per element) and the kernels round
// one or two intermediates as the reference model does (§10), which the float64 reference does
// not: a few 2^-9 steps in the worst case, so 1e-2.
template <typename T>
inline double Tolerance() {
  return std::is_same_v<T, float> ? 2e-5 : 1e-2;
}

}  // namespace evo2::kernels::testing
