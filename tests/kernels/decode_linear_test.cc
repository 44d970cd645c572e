// The few-row GEMM's load depths and gated-MLP epilogue (kernels/skinny_gemm.cuh), on fresh
// random inputs and odd sizes:
//   * every unroll (4, 8, 16, by K) gives the bit-identical result, since each lane sums its
//     chunks in one order whatever the depth: K from 1 chunk per lane to more than 16 (the
//     main loop, its tail and the one-chunk loop all run), outputs that are no multiple of the
//     block's 8 rows;
//   * the gated output equals the plain product followed by LaunchMlpGate bit for bit (same
//     sums, same rounding, same φ expression), for both φ, 1, 3 and 8 rows, and is within
//     Tolerance<T>() of a float64 reference;
//   * E4M3 weights (an FP8 copy made by LaunchQuantizeRowsE4M3, one scale per output row) against
//     a float64 product with the decoded codes times each row's 1/s, plain and gated outputs,
//     every unroll;
//   * the kernel refuses a gated output it cannot form, and an unroll it does not have.
#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include <cmath>
#include <cstring>
#include <random>
#include <type_traits>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/fp8_quantize.cuh"
#include "kernels/mlp_gate.cuh"
#include "kernels/skinny_gemm.cuh"
#include "tests/kernels/gpu_test_util.h"

namespace evo2::kernels::testing {
namespace {

template <typename T>
class DecodeLinearTest : public ::testing::Test {};
using ElementTypes = ::testing::Types<float, __nv_bfloat16>;
TYPED_TEST_SUITE(DecodeLinearTest, ElementTypes);

// The raw bytes of n elements of T (a bit-for-bit comparison, NaN included).
template <typename T>
std::vector<unsigned char> Bytes(const DeviceBuffer& buf, size_t n) {
  std::vector<unsigned char> out(n * sizeof(T));
  EXPECT_EQ(cudaMemcpy(out.data(), buf.get(), out.size(), cudaMemcpyDeviceToHost), cudaSuccess);
  return out;
}

TYPED_TEST(DecodeLinearTest, EveryUnrollGivesTheSameBits) {
  SKIP_WITHOUT_GPU();
  using T = TypeParam;
  constexpr int64_t n = 16 / sizeof(T);  // elements per 16-byte chunk
  std::mt19937 rng(21);
  for (int64_t rows : {1, 3, 8}) {
    // 1, 7, 131 and 701 chunks per row: under one per lane, 5 per lane (unroll 4's tail loop),
    // and over 16 per lane (unroll 16's main loop more than once, then its tail).
    for (int64_t chunks : {1, 7, 131, 701}) {
      const int64_t in = chunks * n, out = 77, ldx = in + n;
      auto x = RandomValues<T>(static_cast<size_t>(rows * ldx), 1.f, rng);
      auto w = RandomValues<T>(static_cast<size_t>(out * in), 0.05f, rng);
      DeviceBuffer dx = Upload<T>(x), dw = Upload<T>(w);
      std::vector<unsigned char> first;
      for (int unroll : {4, 8, 16, 0}) {
        DeviceBuffer dy = Poisoned<float>(static_cast<size_t>(rows * out));
        const SkinnyGemmArgs a{.x = dx.get(),
                               .ldx = ldx,
                               .w = dw.get(),
                               .y = dy.get(),
                               .ldy = out,
                               .rows = rows,
                               .in = in,
                               .out = out,
                               .unroll = unroll};
        ASSERT_TRUE((LaunchSkinnyGemm<T, float>(a, nullptr).ok()));
        ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
        const auto got = Bytes<float>(dy, static_cast<size_t>(rows * out));
        if (first.empty()) {
          first = got;
          // Written and right, not only equal: against float64 (fp32 sums of rounded inputs).
          std::vector<double> want(static_cast<size_t>(rows * out));
          for (int64_t r = 0; r < rows; ++r)
            for (int64_t o = 0; o < out; ++o) {
              double acc = 0;
              for (int64_t k = 0; k < in; ++k)
                acc += double(x[static_cast<size_t>(r * ldx + k)]) *
                       w[static_cast<size_t>(o * in + k)];
              want[static_cast<size_t>(r * out + o)] = acc;
            }
          EXPECT_LE(RelL2(Download<float>(dy, want.size()), want), 2e-5)
              << "rows " << rows << " in " << in;
        } else {
          EXPECT_TRUE(got == first) << "unroll " << unroll << " rows " << rows << " in " << in;
        }
      }
    }
  }
}

// Float64 gate of one output: φ(round_T(l1)) · round_T(l2), φ rounded to T as the kernels do.
template <typename T>
double GateReference(double l1, double l2, bool gelu) {
  double a = RoundTo<T>(static_cast<float>(l1));
  if (gelu) a = RoundTo<T>(static_cast<float>(0.5 * a * (1 + std::erf(a / std::sqrt(2.0)))));
  return a * RoundTo<T>(static_cast<float>(l2));
}

TYPED_TEST(DecodeLinearTest, GatedOutputEqualsProductThenGate) {
  SKIP_WITHOUT_GPU();
  using T = TypeParam;
  constexpr int64_t n = 16 / sizeof(T);
  std::mt19937 rng(22);
  double worst = 0;
  for (int64_t rows : {1, 3, 8}) {
    for (int64_t inner : {1, 77, 257}) {
      for (bool gelu : {false, true}) {
        const int64_t in = 40 * n, ldx = in + 2 * n;
        auto x = RandomValues<T>(static_cast<size_t>(rows * ldx), 1.f, rng);
        auto w = RandomValues<T>(static_cast<size_t>(2 * inner * in), 0.1f, rng);
        DeviceBuffer dx = Upload<T>(x), dw = Upload<T>(w);
        // [rows, 2I] with ld 2I, as the decoder's mlp buffer: the gate's half is compared.
        const auto size = static_cast<size_t>(rows * 2 * inner);
        DeviceBuffer gated = Poisoned<T>(size), apart = Poisoned<T>(size);
        SkinnyGemmArgs a{.x = dx.get(),
                         .ldx = ldx,
                         .gelu = gelu,
                         .w = dw.get(),
                         .y = gated.get(),
                         .ldy = 2 * inner,
                         .rows = rows,
                         .in = in,
                         .out = inner,
                         .output = SkinnyOutput::kGatedMlp};
        ASSERT_TRUE((LaunchSkinnyGemm<T, T>(a, nullptr).ok()));
        a.output = SkinnyOutput::kPlain;
        a.out = 2 * inner;
        a.y = apart.get();
        ASSERT_TRUE((LaunchSkinnyGemm<T, T>(a, nullptr).ok()));
        ASSERT_TRUE(LaunchMlpGate<T>(apart.as<T>(), rows, inner, gelu, nullptr).ok());
        ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
        const auto got = Download<T>(gated, size), sep = Download<T>(apart, size);
        std::vector<float> got_half, sep_half;
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t o = 0; o < inner; ++o) {
            got_half.push_back(got[static_cast<size_t>(r * 2 * inner + o)]);
            sep_half.push_back(sep[static_cast<size_t>(r * 2 * inner + o)]);
          }
        EXPECT_EQ(std::memcmp(got_half.data(), sep_half.data(), got_half.size() * sizeof(float)), 0)
            << "rows " << rows << " inner " << inner << " gelu " << gelu;
        // Against float64 from the rounded inputs the kernel multiplies.
        std::vector<double> want;
        for (int64_t r = 0; r < rows; ++r) {
          for (int64_t o = 0; o < inner; ++o) {
            double l1 = 0, l2 = 0;
            for (int64_t k = 0; k < in; ++k) {
              const double v = x[static_cast<size_t>(r * ldx + k)];
              l1 += v * w[static_cast<size_t>(o * in + k)];
              l2 += v * w[static_cast<size_t>((inner + o) * in + k)];
            }
            want.push_back(GateReference<T>(l1, l2, gelu));
          }
        }
        const double rel = RelL2(got_half, want);
        worst = std::max(worst, rel);
        // Tolerance<T>(): fp32 differs in the sums' order only; bf16 rounds both products
        // and φ's output, as the reference does, a few 2^-9 steps at worst.
        EXPECT_LE(rel, Tolerance<T>()) << "rows " << rows << " inner " << inner << " gelu " << gelu;
      }
    }
  }
  std::printf("gated few-row GEMM %s: worst rel-L2 error %.2e\n",
              std::is_same_v<T, float> ? "fp32" : "bf16", worst);
}

// The value of an E4M3 code (cuda_fp8.h's host conversion; exact through fp16).
float DecodeE4M3(uint8_t code) {
  return __half2float(__half(__nv_cvt_fp8_to_halfraw(code, __NV_E4M3)));
}

TYPED_TEST(DecodeLinearTest, E4M3WeightsMatchReference) {
  SKIP_WITHOUT_GPU();
  using T = TypeParam;
  std::mt19937 rng(23);
  double worst = 0;
  for (int64_t rows : {1, 3, 8}) {
    // 1, 48 and 701 16-byte chunks (16 codes each) per weight row.
    for (int64_t in : {16, 48 * 16, 701 * 16}) {
      for (bool gated : {false, true}) {
        const int64_t out = 77, w_rows = gated ? 2 * out : out, ldx = in + 16;
        auto x = RandomValues<T>(static_cast<size_t>(rows * ldx), 1.f, rng);
        auto w = RandomValues<T>(static_cast<size_t>(w_rows * in), 0.05f, rng);
        DeviceBuffer dx = Upload<T>(x), dw = Upload<T>(w);
        DeviceBuffer codes = Poisoned<uint8_t>(static_cast<size_t>(w_rows * in)),
                     inv = Poisoned<float>(static_cast<size_t>(w_rows));
        ASSERT_TRUE(LaunchQuantizeRowsE4M3<T>(dw.as<T>(), w_rows, in, in, codes.as<uint8_t>(), in,
                                              inv.as<float>(), nullptr)
                        .ok());
        ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
        std::vector<uint8_t> q(static_cast<size_t>(w_rows * in));
        ASSERT_EQ(cudaMemcpy(q.data(), codes.get(), q.size(), cudaMemcpyDeviceToHost), cudaSuccess);
        const auto inv_host = Download<float>(inv, static_cast<size_t>(w_rows));
        // Float64 sums of x · decoded code, times the row's 1/s.
        std::vector<double> sums(static_cast<size_t>(rows * w_rows));
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t o = 0; o < w_rows; ++o) {
            double acc = 0;
            for (int64_t k = 0; k < in; ++k)
              acc += double(x[static_cast<size_t>(r * ldx + k)]) *
                     DecodeE4M3(q[static_cast<size_t>(o * in + k)]);
            sums[static_cast<size_t>(r * w_rows + o)] = acc * inv_host[static_cast<size_t>(o)];
          }
        std::vector<unsigned char> first;
        for (int unroll : {4, 16, 0}) {
          DeviceBuffer dy = Poisoned<T>(static_cast<size_t>(rows * out));
          const SkinnyGemmArgs a{.x = dx.get(),
                                 .ldx = ldx,
                                 .gelu = gated,
                                 .w = codes.get(),
                                 .w_inv_scale = inv.as<float>(),
                                 .y = dy.get(),
                                 .ldy = out,
                                 .rows = rows,
                                 .in = in,
                                 .out = out,
                                 .output = gated ? SkinnyOutput::kGatedMlp : SkinnyOutput::kPlain,
                                 .unroll = unroll};
          const absl::Status launched = LaunchSkinnyGemm<T, T>(a, nullptr);
          ASSERT_TRUE(launched.ok()) << launched;
          ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
          const auto got_bits = Bytes<T>(dy, static_cast<size_t>(rows * out));
          if (first.empty()) first = got_bits;
          EXPECT_TRUE(got_bits == first) << "unroll " << unroll << " changed the result";
          std::vector<double> want(static_cast<size_t>(rows * out));
          for (int64_t r = 0; r < rows; ++r)
            for (int64_t o = 0; o < out; ++o) {
              const double l1 = sums[static_cast<size_t>(r * w_rows + o)];
              want[static_cast<size_t>(r * out + o)] =
                  gated
                      ? GateReference<T>(l1, sums[static_cast<size_t>(r * w_rows + out + o)], true)
                      : l1;
            }
          const double rel = RelL2(Download<T>(dy, want.size()), want);
          worst = std::max(worst, rel);
          // Tolerance<T>(): fp32 sums of exactly representable products; bf16 output rounding
          // (and the gate's roundings, as the reference makes them).
          EXPECT_LE(rel, Tolerance<T>())
              << "rows " << rows << " in " << in << " gated " << gated << " unroll " << unroll;
        }
      }
    }
  }
  std::printf("few-row GEMM with E4M3 weights %s: worst rel-L2 error %.2e\n",
              std::is_same_v<T, float> ? "fp32" : "bf16", worst);
  DeviceBuffer any = Poisoned<float>(4096);
  SkinnyGemmArgs bad{.x = any.get(),
                     .ldx = 24,
                     .w = any.get(),
                     .w_inv_scale = any.as<float>(),
                     .y = any.get(),
                     .ldy = 8,
                     .rows = 1,
                     .in = 24,
                     .out = 8};
  EXPECT_EQ((LaunchSkinnyGemm<T, T>(bad, nullptr).code()), absl::StatusCode::kUnimplemented)
      << "E4M3 rows of 24 codes (16-byte rows of x, but not whole 16-code chunks)";
}

TYPED_TEST(DecodeLinearTest, RefusesWhatItCannotForm) {
  SKIP_WITHOUT_GPU();
  using T = TypeParam;
  DeviceBuffer any = Poisoned<T>(4096);
  SkinnyGemmArgs a{.x = any.get(),
                   .ldx = 64,
                   .w = any.get(),
                   .y = any.get(),
                   .ldy = 64,
                   .rows = 1,
                   .in = 64,
                   .out = 8,
                   .output = SkinnyOutput::kGatedMlp};
  if constexpr (!std::is_same_v<T, float>) {  // for T = float, fp32 is T
    EXPECT_EQ((LaunchSkinnyGemm<T, float>(a, nullptr).code()), absl::StatusCode::kInvalidArgument)
        << "gated output into fp32";
  }
  a.bias = any.get();
  EXPECT_EQ((LaunchSkinnyGemm<T, T>(a, nullptr).code()), absl::StatusCode::kInvalidArgument)
      << "gated output with a bias";
  a.bias = nullptr;
  a.accumulate = true;
  EXPECT_EQ((LaunchSkinnyGemm<T, T>(a, nullptr).code()), absl::StatusCode::kInvalidArgument)
      << "gated output accumulated";
  a.accumulate = false;
  a.output = SkinnyOutput::kPlain;
  a.unroll = 5;
  EXPECT_EQ((LaunchSkinnyGemm<T, T>(a, nullptr).code()), absl::StatusCode::kInvalidArgument)
      << "unroll 5";
}

}  // namespace
}  // namespace evo2::kernels::testing
