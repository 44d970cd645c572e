// FP8 quantisation of rows split by columns over tensor-parallel ranks
// (kernels/fp8_split_amax.cuh): each part's row amaxes (LaunchRowAmax), stacked [parts, rows], then
// each part quantised with the whole row's scale (LaunchQuantizeRowsE4M3WithAmax), must give the
// codes and inverse scales of quantising the whole row at once (LaunchQuantizeRowsE4M3) bit for
// bit; and LaunchTensorAmax the exact max |w|. Odd sizes (1 row, 0 rows, parts of unequal widths,
// codes padded to 16), all-zero rows, rows whose largest value sits in one part only, huge and tiny
// magnitudes. No tolerance: any differing byte fails. Label gpu: skips without a GPU.
#include "kernels/fp8_split_amax.cuh"

#include <cuda_bf16.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/fp8_quantize.cuh"
#include "tests/kernels/gpu_test_util.h"

namespace evo2::kernels {
namespace {

using namespace testing;  // NOLINT: tests/kernels/gpu_test_util.h

std::vector<uint8_t> Bytes(const DeviceBuffer& buf, size_t n) {
  std::vector<uint8_t> host(n);
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  if (n > 0) {
    EXPECT_EQ(cudaMemcpy(host.data(), buf.get(), n, cudaMemcpyDeviceToHost), cudaSuccess);
  }
  return host;
}

int64_t Mismatches(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  if (a.size() != b.size()) return -1;
  int64_t n = 0;
  for (size_t i = 0; i < a.size(); ++i) n += a[i] != b[i];
  return n;
}

int64_t Pad16(int64_t k) { return (k + 15) / 16 * 16; }

template <typename T>
void CheckSplit(int64_t rows, const std::vector<int64_t>& widths, float stddev, uint32_t seed) {
  SCOPED_TRACE(::testing::Message()
               << "rows " << rows << ", parts " << widths.size() << ", stddev " << stddev);
  std::mt19937 rng(seed);
  int64_t cols = 0;
  for (int64_t w : widths) cols += w;
  std::vector<float> x = RandomValues<T>(static_cast<size_t>(rows * cols), stddev, rng);
  if (rows > 1)  // an all-zero row: scale 1
    for (int64_t k = 0; k < cols; ++k) x[static_cast<size_t>(cols + k)] = 0.f;
  if (rows > 2)  // a row whose amax lies in the last part only
    x[static_cast<size_t>(2 * cols + cols - 1)] = RoundTo<T>(50.f * stddev);
  const DeviceBuffer xd = Upload<T>(x);
  const T* xp = xd.as<T>();
  const int parts = static_cast<int>(widths.size());
  auto amax = DeviceBuffer::Allocate(std::max<int64_t>(1, parts * rows) * sizeof(float));
  ASSERT_TRUE(amax.ok());
  // Each part's amaxes, as the ranks would compute them on their columns (row stride cols).
  int64_t c0 = 0;
  for (int p = 0; p < parts; ++p) {
    ASSERT_TRUE(LaunchRowAmax<T>(xp + c0, rows, widths[static_cast<size_t>(p)], cols,
                                 amax->as<float>() + p * rows, nullptr)
                    .ok());
    c0 += widths[static_cast<size_t>(p)];
  }
  int64_t code_mismatches = 0, scale_mismatches = 0;
  c0 = 0;
  for (int p = 0; p < parts; ++p) {
    const int64_t w = widths[static_cast<size_t>(p)], ldq = Pad16(w);
    DeviceBuffer q_whole = Poisoned<uint8_t>(static_cast<size_t>(rows * ldq));
    DeviceBuffer q_split = Poisoned<uint8_t>(static_cast<size_t>(rows * ldq));
    DeviceBuffer inv_whole = Poisoned<float>(static_cast<size_t>(rows));
    DeviceBuffer inv_split = Poisoned<float>(static_cast<size_t>(rows));
    // The reference: the whole row quantised at once; the part's codes are its columns. Quantise
    // the whole row into a full-width buffer, then compare the part's column block.
    const int64_t ldq_all = Pad16(cols);
    DeviceBuffer q_all = Poisoned<uint8_t>(static_cast<size_t>(rows * ldq_all));
    ASSERT_TRUE(LaunchQuantizeRowsE4M3<T>(xp, rows, cols, cols, q_all.as<uint8_t>(), ldq_all,
                                          inv_whole.as<float>(), nullptr)
                    .ok());
    ASSERT_TRUE(LaunchQuantizeRowsE4M3WithAmax<T>(xp + c0, rows, w, cols, amax->as<float>(), parts,
                                                  q_split.as<uint8_t>(), ldq, inv_split.as<float>(),
                                                  nullptr)
                    .ok());
    const std::vector<uint8_t> all = Bytes(q_all, static_cast<size_t>(rows * ldq_all));
    const std::vector<uint8_t> got = Bytes(q_split, static_cast<size_t>(rows * ldq));
    std::vector<uint8_t> want(static_cast<size_t>(rows * ldq), 0);
    for (int64_t t = 0; t < rows; ++t)
      for (int64_t k = 0; k < w; ++k)
        want[static_cast<size_t>(t * ldq + k)] = all[static_cast<size_t>(t * ldq_all + c0 + k)];
    code_mismatches += Mismatches(got, want);
    scale_mismatches += Mismatches(Bytes(inv_split, static_cast<size_t>(rows) * 4),
                                   Bytes(inv_whole, static_cast<size_t>(rows) * 4));
    c0 += w;
  }
  std::printf("split-amax %s rows=%lld cols=%lld parts=%d: %lld code, %lld scale mismatches\n",
              sizeof(T) == 4 ? "fp32" : "bf16", static_cast<long long>(rows),
              static_cast<long long>(cols), parts, static_cast<long long>(code_mismatches),
              static_cast<long long>(scale_mismatches));
  EXPECT_EQ(code_mismatches, 0);
  EXPECT_EQ(scale_mismatches, 0);
}

TEST(Fp8SplitAmax, SplitRowsQuantiseLikeTheWholeRow) {
  SKIP_WITHOUT_GPU();
  for (int64_t rows : {0, 1, 9, 81}) {
    CheckSplit<__nv_bfloat16>(rows, {64, 64}, 1.f, 1);
    CheckSplit<__nv_bfloat16>(rows, {88, 88}, 3e-3f, 2);  // 176 = the tiny model's I/2
    CheckSplit<__nv_bfloat16>(rows, {7, 30, 13}, 200.f, 3);
    CheckSplit<float>(rows, {33, 31, 17, 16}, 1.f, 4);
  }
}

TEST(Fp8SplitAmax, TensorAmaxIsTheExactMax) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(5);
  for (int64_t n : {0, 1, 255, 257, 100003}) {
    std::vector<float> w = RandomValues<__nv_bfloat16>(static_cast<size_t>(n), 0.02f, rng);
    float want = 0.f;
    for (float v : w) want = std::fmax(want, std::fabs(v));
    const DeviceBuffer wd = Upload<__nv_bfloat16>(w);
    DeviceBuffer amax = Poisoned<float>(1);
    ASSERT_TRUE(
        LaunchTensorAmax<__nv_bfloat16>(wd.as<__nv_bfloat16>(), n, amax.as<float>(), nullptr).ok());
    const std::vector<float> got = Download<float>(amax, 1);
    EXPECT_EQ(got[0], want) << "n " << n;
  }
  EXPECT_FALSE(LaunchRowAmax<float>(nullptr, 2, 4, 3, nullptr, nullptr).ok()) << "ldx < cols";
}

}  // namespace
}  // namespace evo2::kernels
