// The few-row GEMM's load depths and gated-MLP epilogue (kernels/skinny_gemm.cuh), on fresh
// random inputs and odd sizes:
//   * every unroll (4, 8, 16, by K) gives the bit-identical result, since each lane sums its
//     chunks in one order whatever the depth: K from 1 chunk per lane to more than 16 (the
//     main loop, its tail and the one-chunk loop all run), outputs that are no multiple of the
//     block's 8 rows;
//   * the gated output equals the plain product followed by LaunchMlpGate bit for bit (same
//     sums, same rounding, same φ expression), for both φ, a plain and an RMSNorm input, 1, 3
//     and 8 rows, and is within Tolerance<T>() of a float64 reference;
//   * the kernel refuses a gated output it cannot form, and an unroll it does not have.
#include <cmath>
#include <cstring>
#include <random>
#include <type_traits>
#include <vector>

#include "gtest/gtest.h"
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
  for (SkinnyInput input : {SkinnyInput::kPlain, SkinnyInput::kRmsNorm}) {
    for (int64_t rows : {1, 3, 8}) {
      for (int64_t inner : {1, 77, 257}) {
        for (bool gelu : {false, true}) {
          const int64_t in = 40 * n, ldx = in + 2 * n;
          const bool norm = input == SkinnyInput::kRmsNorm;
          auto x = norm ? RandomValues<float>(static_cast<size_t>(rows * ldx), 1.f, rng)
                        : RandomValues<T>(static_cast<size_t>(rows * ldx), 1.f, rng);
          auto scale = RandomValues<T>(static_cast<size_t>(in), 1.f, rng);
          auto w = RandomValues<T>(static_cast<size_t>(2 * inner * in), 0.1f, rng);
          DeviceBuffer dx = norm ? Upload<float>(x) : Upload<T>(x);
          DeviceBuffer dw = Upload<T>(w), dscale = Upload<T>(scale);
          // [rows, 2I] with ld 2I, as the decoder's mlp buffer: the gate's half is compared.
          const auto size = static_cast<size_t>(rows * 2 * inner);
          DeviceBuffer gated = Poisoned<T>(size), apart = Poisoned<T>(size);
          SkinnyGemmArgs a{.input = input,
                           .x = dx.get(),
                           .ldx = ldx,
                           .norm_scale = dscale.get(),
                           .eps = 1e-5f,
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
          EXPECT_EQ(std::memcmp(got_half.data(), sep_half.data(), got_half.size() * sizeof(float)),
                    0)
              << "input " << static_cast<int>(input) << " rows " << rows << " inner " << inner
              << " gelu " << gelu;
          // Against float64 from the rounded inputs the kernel multiplies (the RMSNorm row is
          // formed in float64 and rounded to T: it can land one T step away, as
          // decode_step_test's fused-input case explains, hence the bf16 tolerance only).
          std::vector<double> want;
          for (int64_t r = 0; r < rows; ++r) {
            std::vector<double> xr(static_cast<size_t>(in));
            double inv = 1;
            if (norm) {
              double ss = 0;
              for (int64_t k = 0; k < in; ++k)
                ss += double(x[static_cast<size_t>(r * ldx + k)]) *
                      x[static_cast<size_t>(r * ldx + k)];
              inv = 1.0 / (std::sqrt(ss / in) + 1e-5);
            }
            for (int64_t k = 0; k < in; ++k) {
              const double v = x[static_cast<size_t>(r * ldx + k)];
              xr[static_cast<size_t>(k)] =
                  norm ? RoundTo<T>(static_cast<float>(scale[static_cast<size_t>(k)] * (v * inv)))
                       : v;
            }
            for (int64_t o = 0; o < inner; ++o) {
              double l1 = 0, l2 = 0;
              for (int64_t k = 0; k < in; ++k) {
                l1 += xr[static_cast<size_t>(k)] * w[static_cast<size_t>(o * in + k)];
                l2 += xr[static_cast<size_t>(k)] * w[static_cast<size_t>((inner + o) * in + k)];
              }
              want.push_back(GateReference<T>(l1, l2, gelu));
            }
          }
          const double rel = RelL2(got_half, want);
          worst = std::max(worst, rel);
          // Tolerance<T>(): fp32 differs in the sums' order only; bf16 rounds both products
          // and φ's output, as the reference does, a few 2^-9 steps at worst.
          EXPECT_LE(rel, Tolerance<T>()) << "input " << static_cast<int>(input) << " rows " << rows
                                         << " inner " << inner << " gelu " << gelu;
        }
      }
    }
  }
  std::printf("gated few-row GEMM %s: worst rel-L2 error %.2e\n",
              std::is_same_v<T, float> ? "fp32" : "bf16", worst);
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
  EXPECT_EQ((LaunchSkinnyGemm<T, float>(a, nullptr).code()), absl::StatusCode::kInvalidArgument)
      << "gated output into fp32";
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
