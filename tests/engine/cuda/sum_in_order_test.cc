// kernels/sum_in_order: bit-identical to the host's in-order fp32 sum for 1–19 inputs (more than
// one launch's worth, so the running sum is chained), odd counts, misaligned inputs (the scalar
// path) and an output aliasing the first input; refuses bad arguments. Compiled into the
// in-process communicator's test, whose all-reduce it is. Label gpu: skips without a device.
#include "kernels/sum_in_order.cuh"

#include <cstring>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "tests/kernels/gpu_test_util.h"

namespace evo2::kernels {
namespace {

using namespace testing;  // NOLINT: test utilities

TEST(SumInOrder, MatchesTheHostInOrderSumBitForBit) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(11);
  for (int n : {1, 2, 3, 8, 9, 19}) {
    for (int64_t count : {1, 3, 4, 7, 1001, 65539}) {
      for (int misalign : {0, 1}) {  // 1: every input starts one float past 16-byte alignment
        for (bool alias : {false, true}) {
          std::vector<std::vector<float>> in(static_cast<size_t>(n));
          std::vector<DeviceBuffer> bufs;
          std::vector<const float*> ptrs;
          for (auto& v : in) {
            // Magnitudes spread over 2^±8 so the order of additions matters for rounding.
            v = RandomValues<float>(static_cast<size_t>(count + misalign), 1.f, rng);
            for (size_t i = 0; i < v.size(); ++i) v[i] = std::ldexp(v[i], int(rng() % 17) - 8);
            bufs.push_back(Upload<float>(v));
            ptrs.push_back(bufs.back().as<float>() + misalign);
          }
          DeviceBuffer out_buf = Poisoned<float>(static_cast<size_t>(count + misalign));
          float* out = alias ? const_cast<float*>(ptrs[0]) : out_buf.as<float>() + misalign;
          ASSERT_TRUE(LaunchSumInOrder(ptrs.data(), n, out, count, nullptr).ok());
          ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
          std::vector<float> got(static_cast<size_t>(count));
          ASSERT_EQ(cudaMemcpy(got.data(), out, got.size() * sizeof(float), cudaMemcpyDeviceToHost),
                    cudaSuccess);
          int mismatches = 0;
          for (int64_t i = 0; i < count; ++i) {
            float want = in[0][static_cast<size_t>(i + misalign)];
            for (int k = 1; k < n; ++k) want += in[k][static_cast<size_t>(i + misalign)];
            mismatches += std::memcmp(&want, &got[static_cast<size_t>(i)], sizeof(float)) != 0;
          }
          EXPECT_EQ(mismatches, 0) << n << " inputs, count " << count << ", misalign " << misalign
                                   << ", alias " << alias;
        }
      }
    }
  }
}

TEST(SumInOrder, RefusesBadArguments) {
  SKIP_WITHOUT_GPU();
  DeviceBuffer b = Poisoned<float>(4);
  const float* ptrs[] = {b.as<float>(), nullptr};
  EXPECT_FALSE(LaunchSumInOrder(ptrs, 0, b.as<float>(), 4, nullptr).ok());
  EXPECT_FALSE(LaunchSumInOrder(ptrs, 1, b.as<float>(), -1, nullptr).ok());
  EXPECT_FALSE(LaunchSumInOrder(ptrs, 2, b.as<float>(), 4, nullptr).ok());  // a null input
  EXPECT_FALSE(LaunchSumInOrder(ptrs, 1, nullptr, 4, nullptr).ok());
  EXPECT_TRUE(LaunchSumInOrder(ptrs, 1, b.as<float>(), 0, nullptr).ok());  // nothing to do
}

}  // namespace
}  // namespace evo2::kernels
