// Cached-state decoding of the HuggingFace families on the cuda backend (evo2/decoder.h;
// cuda/llama/llama_cuda_decoder.h) against the HF golden cases (golden/HF_FAMILIES.md): prefill
// of tokens 0..299 of the 500-token record, then tokens 300..499 fed one at a time (teacher
// forcing), against the fp32 parallel golden (len00500.logits.npy rows 299..499; these cases
// ship no decode_from300 file), this backend's own parallel forward and the CPU backend's greedy
// generation. Cases l_eden_a/b (Llama, cuda/llama/llama_cuda_decoder.h) and m_hybrid_a/b
// (NemotronH, cuda/nemotron_h/nemotron_h_cuda_decoder.h); the _b cases come from
// $EVO2_GOLDEN_DIR or the shared set and are skipped where absent.
//
// Tolerances, and why:
//   bf16 vs the fp32 golden: logits rel-L2 ≤ 2e-2, the bound of the bf16 parallel forward of
//     these families (cuda_llama_golden_test.cc; HF's own bf16 run lands at 0.6–1.1 %): a decode
//     step rounds the same intermediates to bf16 as the forward, so it carries the same error.
//   bf16 decode vs the bf16 parallel forward: rel-L2 ≤ 1e-2. Both round the same values to bf16;
//     they differ where a different accumulation order (a 1-row GEMM, the decode attention's
//     split softmax) moves a value across a bf16 rounding boundary (2^-9 relative), which then
//     propagates — the Evo 2 decoder's bound (cuda_decode_golden_test.cc).
//   fp32: max |Δ logit| ≤ 1e-3 against the golden and the fp32 forward (the fp32 forward's own
//     bound; the decode differs from it by GEMM and softmax summation order, ~1e-5).
//   Batch vs single runs: fp32 max-abs ≤ 1e-4 (only the GEMMs' row count differs), bf16 rel-L2
//     ≤ 1e-2 (as decode vs forward, above).
//   Graph replay vs eager launches: bit-identical (the same kernels on the same buffers).
// Each check prints one line with its numbers so one GPU run shows every error.
#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cuda/cuda_step_decoder.h"
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

constexpr int64_t kV = 512;

// An HF case directory: under $EVO2_GOLDEN_DIR when set (the packed GPU run), else the shared
// set or the repository's subset.
std::optional<fs::path> CaseDir(const std::string& name) {
  if (const char* env = std::getenv("EVO2_GOLDEN_DIR"); env != nullptr) {
    const fs::path p = fs::path(env) / name;
    if (fs::exists(p / "config.json")) return p;
    return std::nullopt;
  }
  return testing::GoldenCaseDir(name);
}

std::vector<float> Rows(const std::vector<float>& m, int64_t r0, int64_t r1) {
  if (static_cast<int64_t>(m.size()) < r1 * kV) return {};
  return std::vector<float>(m.begin() + r0 * kV, m.begin() + r1 * kV);
}

// ‖got − want‖ / ‖want‖; inf on a size mismatch or a non-finite value (NaN never passes).
double RelL2(const std::vector<float>& got, const std::vector<float>& want) {
  if (got.size() != want.size() || want.empty()) return INFINITY;
  double num = 0, den = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    if (!std::isfinite(got[i])) return INFINITY;
    const double d = double(got[i]) - want[i];
    num += d * d;
    den += double(want[i]) * want[i];
  }
  return std::sqrt(num / den);
}

// MaxAbsDiff, but inf on a size mismatch or NaN.
double MaxAbs(const std::vector<float>& got, const std::vector<float>& want) {
  if (got.size() != want.size() || want.empty()) return INFINITY;
  for (float g : got)
    if (!std::isfinite(g)) return INFINITY;
  return MaxAbsDiff(got, want);
}

class CudaHfDecodeGoldenTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (!evo2::testing::HaveCudaDevice())
      GTEST_SKIP() << "no CUDA device (cudaGetDeviceCount reports none)";
    auto dir = CaseDir(GetParam());
    if (!dir) GTEST_SKIP() << "golden case " << GetParam() << " not present";
    dir_ = *dir;
    RegisterCudaBackend();
    tokens_ = ReadNpyTokens(dir_ / "len00500.tokens.npy");
    ASSERT_EQ(tokens_.size(), 500u);
    golden_ = ReadNpyFloats(dir_ / "len00500.logits.npy");
    ASSERT_EQ(golden_.size(), 500u * kV);
  }

  std::unique_ptr<Model> Load(Device device, Precision precision) {
    LoadOptions lo;
    lo.checkpoint = dir_;
    lo.device = device;
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

  std::vector<float> ForwardRows(Model& m, int64_t r0, int64_t r1) {
    ForwardOptions fo;
    fo.logits = true;
    auto fwd = m.Forward(tokens_, fo);
    EXPECT_TRUE(fwd.ok()) << fwd.status();
    return fwd.ok() ? Rows(fwd->logits, r0, r1) : std::vector<float>{};
  }

  fs::path dir_;
  std::vector<int32_t> tokens_;
  std::vector<float> golden_;  // [500, V] fp32 parallel logits
};

TEST_P(CudaHfDecodeGoldenTest, Bf16PrefillThenStepsMatchGoldenAndForward) {
  auto model = Load(Device::kCuda, Precision::kBf16);
  ASSERT_NE(model, nullptr);
  auto d = model->NewDecoder(DecoderOptions{});
  ASSERT_TRUE(d.ok()) << d.status();
  const std::vector<float> got = TeacherForced(**d, 300, 500);
  ASSERT_EQ(got.size(), 201u * kV);
  EXPECT_EQ((*d)->position(0), 500);
  auto& cd = dynamic_cast<cuda::CudaStepDecoder&>(**d);
  EXPECT_GT(cd.graph_steps(), 150) << "steps after the first of a shape replay a captured graph; "
                                   << "capture error: " << cd.graph_error();
  // A second prefill of the same shape starts from the new prompt's state only.
  const std::vector<float> again = TeacherForced(**d, 300, 320);
  EXPECT_EQ(MaxAbs(again, Rows(got, 0, 21)), 0.0) << "second prefill differs from the first";

  const auto forward_rows = ForwardRows(*model, 299, 500);
  const double vs_golden = RelL2(got, Rows(golden_, 299, 500));
  const double vs_forward = RelL2(got, forward_rows);
  double worst_row = 0;
  for (int64_t r = 0; r < 201; ++r)
    worst_row = std::max(worst_row, RelL2(Rows(got, r, r + 1), Rows(forward_rows, r, r + 1)));
  std::printf(
      "[bf16] %s decode 300->500 logits error: rel-L2 vs parallel golden %.4f, vs cuda "
      "bf16 forward %.4f (worst row %.4f)\n",
      GetParam().c_str(), vs_golden, vs_forward, worst_row);
  EXPECT_LE(vs_golden, 2e-2);
  EXPECT_LE(vs_forward, 1e-2);
}

TEST_P(CudaHfDecodeGoldenTest, Fp32PrefillThenStepsMatchGoldenAndForward) {
  auto model = Load(Device::kCuda, Precision::kFp32);
  ASSERT_NE(model, nullptr);
  auto d = model->NewDecoder(DecoderOptions{});
  ASSERT_TRUE(d.ok()) << d.status();
  const std::vector<float> got = TeacherForced(**d, 300, 500);
  const double vs_golden = MaxAbs(got, Rows(golden_, 299, 500));
  const double vs_forward = MaxAbs(got, ForwardRows(*model, 299, 500));
  std::printf(
      "[fp32] %s decode 300->500 logits error: max|Δ| vs parallel golden %.2e, vs cuda "
      "fp32 forward %.2e\n",
      GetParam().c_str(), vs_golden, vs_forward);
  EXPECT_LE(vs_golden, 1e-3);
  EXPECT_LE(vs_forward, 1e-3);
}

// Three prompts of different lengths (1 token; 37; 250: its KV cache grows past the 256-row
// bucket during the steps) decoded together equal each decoded alone and the golden.
TEST_P(CudaHfDecodeGoldenTest, BatchOfUnequalPromptsEqualsSingleRuns) {
  for (Precision precision : {Precision::kFp32, Precision::kBf16}) {
    const bool fp32 = precision == Precision::kFp32;
    auto model = Load(Device::kCuda, precision);
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
    double worst_single = 0, worst_golden = 0;
    for (int i = 0; i < 3; ++i) {
      const int n = lengths[static_cast<size_t>(i)];
      auto single = model->NewDecoder(DecoderOptions{});
      ASSERT_TRUE(single.ok());
      const std::vector<float> alone = TeacherForced(**single, n, n + kSteps);
      const auto golden = Rows(golden_, n - 1, n + kSteps);
      const double vs_single = fp32 ? MaxAbs(batched[i], alone) : RelL2(batched[i], alone);
      const double vs_golden = fp32 ? MaxAbs(batched[i], golden) : RelL2(batched[i], golden);
      EXPECT_LE(vs_single, fp32 ? 1e-4 : 1e-2) << "sequence " << i << " (prompt " << n << ")";
      EXPECT_LE(vs_golden, fp32 ? 1e-3 : 2e-2) << "sequence " << i << " (prompt " << n << ")";
      worst_single = std::max(worst_single, vs_single);
      worst_golden = std::max(worst_golden, vs_golden);
    }
    std::printf(
        "[%s] %s batch of prompts 1/37/250 logits error: %s vs single runs %.2e, vs "
        "parallel golden %.2e\n",
        fp32 ? "fp32" : "bf16", GetParam().c_str(), fp32 ? "max|Δ|" : "rel-L2", worst_single,
        worst_golden);
  }
}

TEST_P(CudaHfDecodeGoldenTest, GraphReplayEqualsEagerSteps) {
  auto model = Load(Device::kCuda, Precision::kBf16);
  ASSERT_NE(model, nullptr);
  ASSERT_EQ(setenv("EVO2_CUDA_DECODE_GRAPHS", "0", 1), 0);
  auto eager = model->NewDecoder(DecoderOptions{});
  ASSERT_EQ(unsetenv("EVO2_CUDA_DECODE_GRAPHS"), 0);
  auto graphed = model->NewDecoder(DecoderOptions{});
  ASSERT_TRUE(eager.ok() && graphed.ok());
  const auto a = TeacherForced(**eager, 300, 340);
  const auto b = TeacherForced(**graphed, 300, 340);
  ASSERT_EQ(a.size(), 41u * kV);
  EXPECT_EQ(dynamic_cast<cuda::CudaStepDecoder&>(**eager).graph_steps(), 0);
  EXPECT_GT(dynamic_cast<cuda::CudaStepDecoder&>(**graphed).graph_steps(), 0);
  EXPECT_EQ(MaxAbs(a, b), 0.0);
}

// Select copies sequences: two copies of one prefill stepped with different tokens; copy 0
// follows the record, copy 1 must differ after its other token; then a swap in place.
TEST_P(CudaHfDecodeGoldenTest, SelectCopiesStateIndependently) {
  auto model = Load(Device::kCuda, Precision::kFp32);
  ASSERT_NE(model, nullptr);
  auto d = model->NewDecoder(DecoderOptions{});
  ASSERT_TRUE(d.ok());
  const std::vector<std::vector<int32_t>> prompt = {{tokens_.begin(), tokens_.begin() + 50}};
  ASSERT_TRUE((*d)->Prefill(prompt).ok());
  ASSERT_TRUE((*d)->Select(std::vector<int64_t>{0, 0}).ok());
  ASSERT_EQ((*d)->batch_size(), 2);
  const int32_t other = tokens_[50] == 'A' ? 'C' : 'A';
  auto s0 = (*d)->Step(std::vector<int32_t>{tokens_[50], other});
  ASSERT_TRUE(s0.ok()) << s0.status();
  EXPECT_LE(MaxAbs(Rows(*s0, 0, 1), Rows(golden_, 50, 51)), 1e-3);
  auto s1 = (*d)->Step(std::vector<int32_t>{tokens_[51], tokens_[51]});
  ASSERT_TRUE(s1.ok()) << s1.status();
  EXPECT_LE(MaxAbs(Rows(*s1, 0, 1), Rows(golden_, 51, 52)), 1e-3);
  EXPECT_GT(MaxAbs(Rows(*s1, 1, 2), Rows(golden_, 51, 52)), 1e-3)
      << "copy 1 saw a different token, its logits must differ";
  ASSERT_TRUE((*d)->Select(std::vector<int64_t>{1, 0}).ok());
  EXPECT_EQ((*d)->position(1), 52);
  auto s2 = (*d)->Step(std::vector<int32_t>{tokens_[52], tokens_[52]});
  ASSERT_TRUE(s2.ok()) << s2.status();
  EXPECT_LE(MaxAbs(Rows(*s2, 1, 2), Rows(golden_, 52, 53)), 1e-3);
  EXPECT_EQ((*d)->Select(std::vector<int64_t>{2}).code(), absl::StatusCode::kOutOfRange);
}

TEST_P(CudaHfDecodeGoldenTest, BadInputIsRefusedAndCancelStops) {
  auto model = Load(Device::kCuda, Precision::kBf16);
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
// generation of 2 prompts × 2 samples in one batch (Prefill, Select and batched steps) equals
// the CPU backend's tokens. The two backends' fp32 logits agree to ~1e-5, so only two bases
// within ~1e-5 of each other could flip an argmax; the log-probs agree to 1e-3 as above.
TEST_P(CudaHfDecodeGoldenTest, GreedyGenerateEqualsCpuBackend) {
  auto cuda = Load(Device::kCuda, Precision::kFp32);
  ASSERT_NE(cuda, nullptr);
  auto cpu = Load(Device::kCpu, Precision::kFp32);
  ASSERT_NE(cpu, nullptr);
  const std::vector<std::vector<int32_t>> prompts = {
      {tokens_.begin(), tokens_.begin() + 40}, {tokens_.begin() + 100, tokens_.begin() + 103}};
  GenerateOptions go;
  go.max_new_tokens = 60;
  go.num_samples = 2;
  go.batch_size = 4;
  go.sampling.temperature = 0;
  auto on_cuda = Generate(*cuda, prompts, go);
  ASSERT_TRUE(on_cuda.ok()) << on_cuda.status();
  auto on_cpu = Generate(*cpu, prompts, go);
  ASSERT_TRUE(on_cpu.ok()) << on_cpu.status();
  ASSERT_EQ(on_cuda->size(), 4u);
  ASSERT_EQ(on_cpu->size(), 4u);
  double worst_lp = 0;
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ((*on_cuda)[i].tokens, (*on_cpu)[i].tokens) << "sequence " << i;
    worst_lp = std::max(worst_lp, MaxAbs((*on_cuda)[i].log_probs, (*on_cpu)[i].log_probs));
  }
  std::printf("[fp32] %s greedy generate cuda vs cpu: log-prob error max|Δ| %.2e\n",
              GetParam().c_str(), worst_lp);
  EXPECT_LE(worst_lp, 1e-3);
}

INSTANTIATE_TEST_SUITE_P(Cases, CudaHfDecodeGoldenTest,
                         ::testing::Values("l_eden_a", "l_eden_b", "m_hybrid_a", "m_hybrid_b"),
                         [](const auto& p) { return p.param; });

}  // namespace
}  // namespace evo2
