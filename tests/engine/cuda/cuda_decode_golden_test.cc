// Cached-state decoding on the cuda backend (evo2/decoder.h, cuda/cuda_decoder.h) against the
// golden vectors (docs/spec/golden.md): prefill of tokens 0..299 of the 500-token record, then
// tokens 300..499 fed one at a time (teacher forcing), against the reference's own cached decode
// (len00500.decode_from300.logits.npy), the fp32 parallel golden (len00500.logits.npy rows
// 299..499) and this backend's own parallel forward.
//
// Tolerances, and why:
//   bf16 vs the fp32 goldens: logits rel-L2 ≤ 2e-2 (a, b) / 2.5e-2 (c), the bound of the bf16
//     parallel forward (cuda_golden_test.cc, docs/spec/golden.md §2): a decode step rounds the
//     same intermediates to bf16 as the forward, so it carries the same bf16 error.
//   bf16 decode vs the bf16 parallel forward: rel-L2 ≤ 1e-2 over the 201 rows. Both round the
//     same values to bf16; they differ where a different accumulation order (a 1-row GEMM, the
//     decode attention's fp32 softmax weights, the modal state's reduction order) moves a value
//     across a bf16 rounding boundary (2^-9 relative), which then propagates — measured well
//     under the bf16-vs-fp32 distance.
//   fp32: max |Δ logit| ≤ 1e-3 against both goldens (the fp32 forward's own bound is rel-L2 1e-3;
//     the decode differs from it by GEMM summation order and the fp32 modal state, ~1e-5).
//   Batch vs single runs: fp32 max-abs ≤ 1e-4 (only the GEMMs' row count differs), bf16 rel-L2
//     ≤ 1e-2 (as decode vs forward, above).
//   Graph replay vs eager launches: bit-identical (the same kernels on the same buffers).
//   FP8 weights (--full-fp8 model, weight-only E4M3 decode): against the bf16 forward, within
//     1.5× the distance of the model's own FP8 forward to it (or 3e-2 if that is smaller): the
//     decode quantises the weights as the FP8 forward does but not the activations, so it
//     should not land further from bf16 than that forward does.
#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "cuda/cuda_decoder.h"
#include "cuda_golden_support.h"
#include "evo2/cuda_backend.h"
#include "evo2/decoder.h"
#include "evo2/generate.h"
#include "evo2/model.h"
#include "gtest/gtest.h"
#include "support/golden_compare.h"
#include "support/golden_paths.h"

namespace evo2 {
namespace {

namespace fs = std::filesystem;
using evo2::testing::MaxAbsDiff;
using evo2::testing::ReadNpyFloats;
using evo2::testing::ReadNpyTokens;
using evo2::testing::RelL2;

constexpr int64_t kV = 512;

std::vector<float> Rows(const std::vector<float>& m, int64_t r0, int64_t r1) {
  if (static_cast<int64_t>(m.size()) < r1 * kV) return {};
  return std::vector<float>(m.begin() + r0 * kV, m.begin() + r1 * kV);
}

struct CaseParam {
  std::string name;
  double bf16_golden_tol;
};

class CudaDecodeGoldenTest : public ::testing::TestWithParam<CaseParam> {
 protected:
  void SetUp() override {
    if (!testing::HaveCudaDevice())
      GTEST_SKIP() << "no CUDA device (cudaGetDeviceCount reports none)";
    auto dir = testing::GoldenCaseDirFromEnv(GetParam().name);
    if (!dir) GTEST_SKIP() << "golden case " << GetParam().name << " not present";
    dir_ = *dir;
    RegisterCudaBackend();
    tokens_ = ReadNpyTokens(dir_ / "len00500.tokens.npy");
    ASSERT_EQ(tokens_.size(), 500u);
  }

  std::unique_ptr<Model> Load(Precision precision) {
    LoadOptions lo;
    lo.checkpoint = dir_ / "model.pt";
    lo.device = Device::kCuda;
    lo.precision = precision;
    auto m = LoadModel(lo);
    EXPECT_TRUE(m.ok()) << m.status();
    return m.ok() ? std::move(*m) : nullptr;
  }

  // Prefill tokens[0, from), then steps feeding tokens[from, to): [to − from + 1, V].
  std::vector<float> TeacherForced(Decoder& d, int from, int to) {
    const std::vector<std::vector<int32_t>> prompt = {{tokens_.begin(), tokens_.begin() + from}};
    auto first = d.Prefill(prompt);
    EXPECT_TRUE(first.ok()) << first.status();
    if (!first.ok()) return {};
    std::vector<float> got = *first;
    for (int t = from; t < to; ++t) {
      const int32_t tok = tokens_[static_cast<size_t>(t)];
      auto step = d.Step({&tok, 1});
      EXPECT_TRUE(step.ok()) << "position " << t << ": " << step.status();
      if (!step.ok()) return {};
      got.insert(got.end(), step->begin(), step->end());
    }
    return got;
  }

  fs::path dir_;
  std::vector<int32_t> tokens_;
};

TEST_P(CudaDecodeGoldenTest, Bf16PrefillThenStepsMatchGoldenAndForward) {
  auto model = Load(Precision::kBf16);
  ASSERT_NE(model, nullptr);
  auto d = model->NewDecoder(DecoderOptions{});
  ASSERT_TRUE(d.ok()) << d.status();
  const std::vector<float> got = TeacherForced(**d, 300, 500);
  ASSERT_EQ(got.size(), 201u * kV);
  EXPECT_EQ((*d)->position(0), 500);
  auto& cd = dynamic_cast<cuda::CudaDecoder&>(**d);
  EXPECT_GT(cd.graph_steps(), 150) << "steps after the first of a shape replay a captured graph; "
                                    << "capture error: " << cd.graph_error();
  // A second prefill of the same shape reuses the state buffers and the captured graph: it must
  // start from the new prompt's state only, bit for bit as the first time.
  const int64_t replayed = cd.graph_steps();
  const std::vector<float> again = TeacherForced(**d, 300, 320);
  EXPECT_EQ(cd.graph_steps(), replayed + 20) << "the second prefill's steps replay the graph";
  EXPECT_EQ(MaxAbsDiff(again, Rows(got, 0, 21)), 0.0);

  const auto want_decode = ReadNpyFloats(dir_ / "len00500.decode_from300.logits.npy");
  const auto parallel_golden = Rows(ReadNpyFloats(dir_ / "len00500.logits.npy"), 299, 500);
  ForwardOptions fo;
  fo.logits = true;
  auto fwd = model->Forward(tokens_, fo);
  ASSERT_TRUE(fwd.ok()) << fwd.status();
  const auto forward_rows = Rows(fwd->logits, 299, 500);

  const double vs_decode = RelL2(got, want_decode);
  const double vs_golden = RelL2(got, parallel_golden);
  const double vs_forward = RelL2(got, forward_rows);
  double worst_row = 0;
  for (int64_t r = 0; r < 201; ++r)
    worst_row = std::max(worst_row, RelL2(Rows(got, r, r + 1), Rows(forward_rows, r, r + 1)));
  std::printf(
      "[bf16] %s decode 300->500 logits error: rel-L2 vs reference decode %.4f, vs parallel golden "
      "%.4f, vs cuda bf16 forward %.4f (worst row %.4f), max|Δ| vs forward %.3f\n",
      GetParam().name.c_str(), vs_decode, vs_golden, vs_forward, worst_row,
      MaxAbsDiff(got, forward_rows));
  EXPECT_LE(vs_decode, GetParam().bf16_golden_tol);
  EXPECT_LE(vs_golden, GetParam().bf16_golden_tol);
  EXPECT_LE(vs_forward, 1e-2);
}

TEST_P(CudaDecodeGoldenTest, Fp32PrefillThenStepsMatchGolden) {
  auto model = Load(Precision::kFp32);
  ASSERT_NE(model, nullptr);
  auto d = model->NewDecoder(DecoderOptions{});
  ASSERT_TRUE(d.ok()) << d.status();
  const std::vector<float> got = TeacherForced(**d, 300, 500);
  const auto want_decode = ReadNpyFloats(dir_ / "len00500.decode_from300.logits.npy");
  const auto parallel_golden = Rows(ReadNpyFloats(dir_ / "len00500.logits.npy"), 299, 500);
  const double vs_decode = MaxAbsDiff(got, want_decode);
  const double vs_golden = MaxAbsDiff(got, parallel_golden);
  std::printf(
      "[fp32] %s decode 300->500 logits error: max|Δ| vs reference decode %.2e, vs parallel golden "
      "%.2e\n",
      GetParam().name.c_str(), vs_decode, vs_golden);
  EXPECT_LE(vs_decode, 1e-3);
  EXPECT_LE(vs_golden, 1e-3);
}

// Three prompts of different lengths (1 token: shorter than every tail; 37; 250: its KV cache
// grows past the 256-row bucket during the steps) decoded together equal each decoded alone.
TEST_P(CudaDecodeGoldenTest, BatchOfUnequalPromptsEqualsSingleRuns) {
  for (Precision precision : {Precision::kFp32, Precision::kBf16}) {
    const bool fp32 = precision == Precision::kFp32;
    auto model = Load(precision);
    ASSERT_NE(model, nullptr);
    const std::vector<int> lengths = {1, 37, 250};
    constexpr int kSteps = 20;
    std::vector<std::vector<int32_t>> prompts;
    for (int n : lengths) prompts.emplace_back(tokens_.begin(), tokens_.begin() + n);
    auto batch = model->NewDecoder(DecoderOptions{});
    ASSERT_TRUE(batch.ok());
    auto first = (*batch)->Prefill(prompts);
    ASSERT_TRUE(first.ok()) << first.status();
    std::vector<std::vector<float>> batched(3);  // per sequence [kSteps + 1, V]
    for (int i = 0; i < 3; ++i) batched[i] = Rows(*first, i, i + 1);
    for (int s = 0; s < kSteps; ++s) {
      std::vector<int32_t> next;
      for (int n : lengths) next.push_back(tokens_[static_cast<size_t>(n + s)]);
      auto l = (*batch)->Step(next);
      ASSERT_TRUE(l.ok()) << l.status();
      for (int i = 0; i < 3; ++i) {
        const auto row = Rows(*l, i, i + 1);
        batched[i].insert(batched[i].end(), row.begin(), row.end());
      }
    }
    const auto parallel_golden = ReadNpyFloats(dir_ / "len00500.logits.npy");
    double worst_single = 0, worst_golden = 0;
    for (int i = 0; i < 3; ++i) {
      const int n = lengths[static_cast<size_t>(i)];
      auto single = model->NewDecoder(DecoderOptions{});
      ASSERT_TRUE(single.ok());
      const std::vector<float> alone = TeacherForced(**single, n, n + kSteps);
      const auto golden = Rows(parallel_golden, n - 1, n + kSteps);
      const double vs_single = fp32 ? MaxAbsDiff(batched[i], alone) : RelL2(batched[i], alone);
      const double vs_golden = fp32 ? MaxAbsDiff(batched[i], golden) : RelL2(batched[i], golden);
      EXPECT_LE(vs_single, fp32 ? 1e-4 : 1e-2) << "sequence " << i << " (prompt " << n << ")";
      EXPECT_LE(vs_golden, fp32 ? 1e-3 : GetParam().bf16_golden_tol)
          << "sequence " << i << " (prompt " << n << ")";
      worst_single = std::max(worst_single, vs_single);
      worst_golden = std::max(worst_golden, vs_golden);
    }
    std::printf("[%s] %s batch of prompts 1/37/250 logits error: %s vs single runs %.2e, vs "
                "parallel golden %.2e\n",
                fp32 ? "fp32" : "bf16", GetParam().name.c_str(), fp32 ? "max|Δ|" : "rel-L2",
                worst_single, worst_golden);
  }
}

TEST_P(CudaDecodeGoldenTest, GraphReplayEqualsEagerSteps) {
  auto model = Load(Precision::kBf16);
  ASSERT_NE(model, nullptr);
  ASSERT_EQ(setenv("EVO2_CUDA_DECODE_GRAPHS", "0", 1), 0);
  auto eager = model->NewDecoder(DecoderOptions{});
  ASSERT_EQ(unsetenv("EVO2_CUDA_DECODE_GRAPHS"), 0);
  auto graphed = model->NewDecoder(DecoderOptions{});
  ASSERT_TRUE(eager.ok() && graphed.ok());
  const auto a = TeacherForced(**eager, 300, 340);
  const auto b = TeacherForced(**graphed, 300, 340);
  EXPECT_EQ(dynamic_cast<cuda::CudaDecoder&>(**eager).graph_steps(), 0);
  EXPECT_GT(dynamic_cast<cuda::CudaDecoder&>(**graphed).graph_steps(), 0);
  EXPECT_EQ(MaxAbsDiff(a, b), 0.0);
}

// The batch-1 bf16 step as persistent decode-program launches (EVO2_CUDA_DECODE_PERSISTENT=1,
// cuda/cuda_decoder_program.cc) against the per-op step (=0), where the GPU has the kernel. The
// golden shapes are narrow (H = 96..192 channels over a whole GPU's CTAs, most owning none or
// one), so this covers the kernel's thin end; cuda_decode_program_test.cc its real widths.
// Tolerance: rel-L2 ≤ 1e-2, as decode vs forward above (the same sums in another order).
TEST_P(CudaDecodeGoldenTest, PersistentStepEqualsPerOpStep) {
  auto model = Load(Precision::kBf16);
  ASSERT_NE(model, nullptr);
  ASSERT_EQ(setenv("EVO2_CUDA_DECODE_PERSISTENT", "1", 1), 0);
  auto program = model->NewDecoder(DecoderOptions{});
  ASSERT_EQ(setenv("EVO2_CUDA_DECODE_PERSISTENT", "0", 1), 0);
  auto per_op = model->NewDecoder(DecoderOptions{});
  ASSERT_EQ(unsetenv("EVO2_CUDA_DECODE_PERSISTENT"), 0);
  ASSERT_TRUE(program.ok() && per_op.ok());
  const auto& pd = dynamic_cast<const cuda::CudaDecoder&>(**program);
  if (!pd.uses_program(1)) GTEST_SKIP() << "no decode program here: " << pd.program_error();
  EXPECT_FALSE(dynamic_cast<const cuda::CudaDecoder&>(**per_op).uses_program(1));
  const auto a = TeacherForced(**program, 300, 400);
  const auto b = TeacherForced(**per_op, 300, 400);
  EXPECT_TRUE(pd.uses_program(1)) << "the program was dropped: " << pd.program_error();
  const double d = RelL2(a, b);
  std::printf("[program] %s: persistent vs per-op step logits rel-L2 %.2e\n",
              GetParam().name.c_str(), d);
  EXPECT_LE(d, 1e-2);
}

// An --full-fp8 model's steps stream the E4M3 weight copies (cuda_decoder_linear.h); with
// EVO2_CUDA_DECODE_FP8=0 they stream the bf16 weights. Both against the bf16 forward.
TEST_P(CudaDecodeGoldenTest, Fp8WeightStepsStayWithinTheFp8ForwardsDistance) {
  LoadOptions lo;
  lo.checkpoint = dir_ / "model.pt";
  lo.device = Device::kCuda;
  lo.precision = Precision::kBf16;
  lo.fp8 = Fp8Mode::kAllLinears;
  auto fp8_model = LoadModel(lo);
  ASSERT_TRUE(fp8_model.ok()) << fp8_model.status();
  auto bf16_model = Load(Precision::kBf16);
  ASSERT_NE(bf16_model, nullptr);
  ForwardOptions fo;
  fo.logits = true;
  auto bf16_fwd = bf16_model->Forward(tokens_, fo);
  auto fp8_fwd = (*fp8_model)->Forward(tokens_, fo);
  ASSERT_TRUE(bf16_fwd.ok() && fp8_fwd.ok());
  const auto bf16_rows = Rows(bf16_fwd->logits, 299, 500);
  const double fp8_forward = RelL2(Rows(fp8_fwd->logits, 299, 500), bf16_rows);

  auto fp8_steps = (*fp8_model)->NewDecoder(DecoderOptions{});
  ASSERT_EQ(setenv("EVO2_CUDA_DECODE_FP8", "0", 1), 0);
  auto bf16_steps = (*fp8_model)->NewDecoder(DecoderOptions{});
  ASSERT_EQ(unsetenv("EVO2_CUDA_DECODE_FP8"), 0);
  ASSERT_TRUE(fp8_steps.ok() && bf16_steps.ok());
  const auto with_fp8 = TeacherForced(**fp8_steps, 300, 500);
  const auto with_bf16 = TeacherForced(**bf16_steps, 300, 500);
  ASSERT_EQ(with_fp8.size(), 201u * kV);
  // The prefill (row 0) is the FP8 forward in both; the steps differ.
  const double fp8_decode = RelL2(with_fp8, bf16_rows);
  const double bf16_decode = RelL2(with_bf16, bf16_rows);
  std::printf(
      "[full-fp8] %s decode 300->500 logits rel-L2 vs the bf16 forward: E4M3 weight steps %.4f, "
      "bf16 weight steps %.4f; the FP8 forward %.4f\n",
      GetParam().name.c_str(), fp8_decode, bf16_decode, fp8_forward);
  EXPECT_GT(MaxAbsDiff(with_fp8, with_bf16), 0.0) << "the steps did not use the E4M3 copies";
  EXPECT_LE(fp8_decode, std::max(1.5 * fp8_forward, 3e-2));
}

// Select copies sequences: two copies of one prefill, stepped with different tokens; copy 0
// follows the record (equal to a single decode), copy 1 must differ after its other token.
TEST_P(CudaDecodeGoldenTest, SelectCopiesStateIndependently) {
  auto model = Load(Precision::kFp32);
  ASSERT_NE(model, nullptr);
  auto d = model->NewDecoder(DecoderOptions{});
  ASSERT_TRUE(d.ok());
  const std::vector<std::vector<int32_t>> prompt = {{tokens_.begin(), tokens_.begin() + 50}};
  ASSERT_TRUE((*d)->Prefill(prompt).ok());
  ASSERT_TRUE((*d)->Select(std::vector<int64_t>{0, 0}).ok());
  ASSERT_EQ((*d)->batch_size(), 2);
  const auto golden = ReadNpyFloats(dir_ / "len00500.logits.npy");
  const int32_t other = tokens_[50] == 'A' ? 'C' : 'A';
  auto s0 = (*d)->Step(std::vector<int32_t>{tokens_[50], other});
  ASSERT_TRUE(s0.ok()) << s0.status();
  EXPECT_LE(MaxAbsDiff(Rows(*s0, 0, 1), Rows(golden, 50, 51)), 1e-3);
  auto s1 = (*d)->Step(std::vector<int32_t>{tokens_[51], tokens_[51]});
  ASSERT_TRUE(s1.ok()) << s1.status();
  EXPECT_LE(MaxAbsDiff(Rows(*s1, 0, 1), Rows(golden, 51, 52)), 1e-3);
  EXPECT_GT(MaxAbsDiff(Rows(*s1, 1, 2), Rows(golden, 51, 52)), 1e-3)
      << "copy 1 saw a different token, its logits must differ";
  // Swap the two (in place: the buffers already hold two sequences); the copy that followed the
  // record is now row 1 and continues it.
  ASSERT_TRUE((*d)->Select(std::vector<int64_t>{1, 0}).ok());
  EXPECT_EQ((*d)->position(1), 52);
  auto s2 = (*d)->Step(std::vector<int32_t>{tokens_[52], tokens_[52]});
  ASSERT_TRUE(s2.ok()) << s2.status();
  EXPECT_LE(MaxAbsDiff(Rows(*s2, 1, 2), Rows(golden, 52, 53)), 1e-3);
  EXPECT_GT(MaxAbsDiff(Rows(*s2, 0, 1), Rows(golden, 52, 53)), 1e-3);
  EXPECT_EQ((*d)->Select(std::vector<int64_t>{2}).code(), absl::StatusCode::kOutOfRange);
}

TEST_P(CudaDecodeGoldenTest, BadInputIsRefusedAndCancelStops) {
  auto model = Load(Precision::kBf16);
  ASSERT_NE(model, nullptr);
  std::atomic<bool> cancelled{false};
  DecoderOptions o;
  o.cancelled = &cancelled;
  auto d = model->NewDecoder(o);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ((*d)->Step(std::vector<int32_t>{65}).status().code(),
            absl::StatusCode::kFailedPrecondition);
  const std::vector<std::vector<int32_t>> empty = {{}};
  EXPECT_EQ((*d)->Prefill(empty).status().code(), absl::StatusCode::kInvalidArgument);
  const std::vector<std::vector<int32_t>> bad = {{65, 600}};
  EXPECT_EQ((*d)->Prefill(bad).status().code(), absl::StatusCode::kInvalidArgument);
  const std::vector<std::vector<int32_t>> one = {{65, 67, 71}};
  ASSERT_TRUE((*d)->Prefill(one).ok());
  EXPECT_EQ((*d)->Step(std::vector<int32_t>{512}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*d)->Step(std::vector<int32_t>{65, 65}).status().code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE((*d)->Step(std::vector<int32_t>{84}).ok());
  cancelled = true;
  EXPECT_EQ((*d)->Step(std::vector<int32_t>{84}).status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ((*d)->Prefill(one).status().code(), absl::StatusCode::kCancelled);
}

// What `evo2 generate --device cuda` runs (evo2/generate.h over this decoder): greedy fp32
// generation of 2 prompts × 2 samples in one batch (so Prefill, Select and batched steps are all
// used) equals the CPU backend's. The two backends' fp32 logits agree to ~1e-5, so only two bases
// within ~1e-5 of each other could flip an argmax; the log-probs must agree to 1e-3 as above.
TEST_P(CudaDecodeGoldenTest, GreedyGenerateEqualsCpuBackend) {
  auto cuda = Load(Precision::kFp32);
  ASSERT_NE(cuda, nullptr);
  LoadOptions lo;
  lo.checkpoint = dir_ / "model.pt";
  lo.device = Device::kCpu;
  auto cpu = LoadModel(lo);
  ASSERT_TRUE(cpu.ok()) << cpu.status();
  const std::vector<std::vector<int32_t>> prompts = {{tokens_.begin(), tokens_.begin() + 40},
                                                     {tokens_.begin() + 100, tokens_.begin() + 103}};
  GenerateOptions go;
  go.max_new_tokens = 60;
  go.num_samples = 2;
  go.batch_size = 4;
  go.sampling.temperature = 0;
  auto on_cuda = Generate(*cuda, prompts, go);
  ASSERT_TRUE(on_cuda.ok()) << on_cuda.status();
  auto on_cpu = Generate(**cpu, prompts, go);
  ASSERT_TRUE(on_cpu.ok()) << on_cpu.status();
  ASSERT_EQ(on_cuda->size(), 4u);
  ASSERT_EQ(on_cpu->size(), 4u);
  double worst_lp = 0;
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ((*on_cuda)[i].tokens, (*on_cpu)[i].tokens) << "sequence " << i;
    worst_lp = std::max(worst_lp, MaxAbsDiff((*on_cuda)[i].log_probs, (*on_cpu)[i].log_probs));
  }
  std::printf("[fp32] %s greedy generate cuda vs cpu: log-prob error max|Δ| %.2e\n",
              GetParam().name.c_str(), worst_lp);
  EXPECT_LE(worst_lp, 1e-3);
}

INSTANTIATE_TEST_SUITE_P(Cases, CudaDecodeGoldenTest,
                         ::testing::Values(CaseParam{"a_tiny6", 2e-2}, CaseParam{"b_small10", 2e-2},
                                           CaseParam{"c_7blike32", 2.5e-2}),
                         [](const auto& p) { return p.param.name; });

}  // namespace
}  // namespace evo2
