// GemmRunner (engine/src/cuda/gemm.h) on the GPU: the untuned path (cublasGemmEx), the tuned path
// (whatever Tune picked, often a cuBLASLt algorithm) and the tuned algorithm reused for another
// row count of the same bucket, all against a float64 CPU product of the same bf16 inputs, for
// a bf16 result and for an fp32 result accumulated into (beta = 1, the residual stream).
#include <cuda_bf16.h>

#include <random>
#include <vector>

#include "cuda/gemm.h"
#include "gtest/gtest.h"
#include "tests/kernels/gpu_test_util.h"

namespace evo2::cuda {
namespace {

using kernels::DeviceBuffer;
using namespace kernels::testing;  // NOLINT: test helpers
using BF16 = __nv_bfloat16;

// want[r, o] = beta·y0[r, o] + Σ_i x[r, i]·w[o, i]
std::vector<double> Reference(const std::vector<float>& x, const std::vector<float>& w,
                              const std::vector<float>& y0, int64_t rows, int64_t in,
                              int64_t out, float beta) {
  std::vector<double> want(rows * out);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t o = 0; o < out; ++o) {
      double acc = beta != 0.f ? beta * double(y0[r * out + o]) : 0.0;
      for (int64_t i = 0; i < in; ++i) acc += double(x[r * in + i]) * w[o * in + i];
      want[r * out + o] = acc;
    }
  return want;
}

TEST(GemmRunnerTest, UntunedTunedAndSameBucketAgreeWithFloat64) {
  SKIP_WITHOUT_GPU();
  auto runner = GemmRunner::Create(nullptr);
  ASSERT_TRUE(runner.ok()) << runner.status();
  std::mt19937 rng(21);
  const int64_t in = 256, out = 384;
  // 1500 rows are tuned (bucket 2048); 1100 rows then reuse that choice with new layouts.
  for (bool fp32_result : {false, true}) {
    const float beta = fp32_result ? 1.f : 0.f;
    const DType result = fp32_result ? DType::kFloat32 : DType::kBFloat16;
    auto w = RandomValues<BF16>(out * in, 0.05f, rng);
    DeviceBuffer dw = Upload<BF16>(w);
    for (int phase = 0; phase < 3; ++phase) {
      const int64_t rows = phase == 2 ? 1100 : 1500;
      auto x = RandomValues<BF16>(rows * in, 1.f, rng);
      auto y0 = RandomValues<float>(rows * out, 1.f, rng);
      DeviceBuffer dx = Upload<BF16>(x);
      DeviceBuffer dy = fp32_result ? Upload<float>(y0) : Poisoned<BF16>(rows * out);
      const GemmArgs args{.x = dx.get(), .ldx = in, .w = dw.get(), .y = dy.get(), .ldy = out,
                          .rows = rows, .in = in, .out = out, .beta = beta};
      if (phase == 1) {
        // Tune on scratch (it overwrites y), then restore y before the checked run.
        DeviceBuffer scratch = fp32_result ? Upload<float>(y0) : Poisoned<BF16>(rows * out);
        GemmArgs tune_args = args;
        tune_args.y = scratch.get();
        ASSERT_TRUE((*runner)->Tune(DType::kBFloat16, result, tune_args).ok());
        EXPECT_TRUE((*runner)->Tuned(DType::kBFloat16, result, args));
      }
      ASSERT_TRUE((*runner)->Run(DType::kBFloat16, result, args).ok());
      const auto got = fp32_result ? Download<float>(dy, rows * out) : Download<BF16>(dy, rows * out);
      const auto want = Reference(x, w, y0, rows, in, out, beta);
      // bf16 operands are exact in the float64 product; the only error is fp32 accumulation
      // (~1e-6) and, for a bf16 result, its rounding (2^-9 relative): 1e-2 / 1e-5.
      EXPECT_LE(RelL2(got, want), fp32_result ? 1e-5 : 1e-2)
          << "phase " << phase << " rows " << rows << (fp32_result ? " fp32 result" : " bf16 result");
    }
  }
}

TEST(GemmRunnerTest, RefusesBadShapes) {
  SKIP_WITHOUT_GPU();
  auto runner = GemmRunner::Create(nullptr);
  ASSERT_TRUE(runner.ok()) << runner.status();
  int dummy = 0;
  const GemmArgs bad{.x = &dummy, .ldx = 4, .w = &dummy, .y = &dummy, .ldy = 2, .rows = 3,
                     .in = 8, .out = 2};
  EXPECT_EQ((*runner)->Run(DType::kBFloat16, DType::kBFloat16, bad).code(),
            absl::StatusCode::kInvalidArgument);  // ldx < in
}

}  // namespace
}  // namespace evo2::cuda
