// Decoder::Extend on the cuda backend (evo2/decoder.h, cuda/cuda_decoder.h) on the golden Hyena
// cases: Prefill of a record's first k tokens, then Extend over the rest, against this backend's
// parallel forward of the whole record, the fp32 golden, and the CPU backend's Extend; Extend
// followed by Step, Select followed by Extend of several copies, ExtendLogProbs (gathered on the
// device) against the log-softmax of Extend's logits, and bad input.
//
// Split points k: 1 (a prompt shorter than every tail: the halos are mostly the zeros before
// position 0), 37 (odd), 127/128/129 (around the hcm FIR's 127-row halo and the hcl gate's
// 64-row chunks), 300; and a chained 128 + 1 + rest (Extend continuing an Extend).
//
// Tolerances, and why:
//   bf16 Extend vs the bf16 parallel forward: logits rel-L2 ≤ 1e-2, the bound
//     cuda_decode_golden_test.cc gives the bf16 decode against the forward: both round the same
//     values to bf16 and differ where another accumulation order (a GEMM over fewer rows, the
//     hcl gate started from the fp32 state instead of scanning the prefix, the own attention
//     kernel at an offset where the forward may run cuDNN) moves a value across a bf16 rounding
//     boundary. Against the fp32 golden: the bf16 forward's own bound (2e-2; 2.5e-2 for c).
//   fp32 Extend vs the CPU backend's Extend: rel-L2 ≤ 1e-4 over the rows (the two backends run
//     the same fp32 operations, differing by summation order, ~1e-6 relative); max|Δ| vs the fp32
//     golden ≤ 1e-3 (the fp32 forward's and the decode's bound).
//   Extend then Step vs Step only: fp32 max|Δ| ≤ 1e-3, the bound cuda_decode_golden_test.cc
//     holds the fp32 decode to (the step's few-row GEMM kernel and cuBLAS over L rows sum in
//     other orders, and so do the modal state's reduction and the step's recurrence), bf16
//     rel-L2 ≤ 1e-2 (as above).
//   Select + Extend of two copies vs two separate decoders: the Extend logits bit-identical
//     (sequences are extended one after another with the same kernels on the same shapes; only
//     the slot differs); the step after it as cuda_decode_golden_test.cc's batch vs single runs
//     (fp32 max|Δ| ≤ 1e-4, bf16 rel-L2 ≤ 1e-2: the step's GEMMs run over 2 rows instead of 1).
//   ExtendLogProbs vs the host log-softmax (double) of Extend's logits from a second decoder:
//     max|Δ| ≤ 1e-4. The logits are the same (same kernels on the same shapes); the device's
//     log-softmax sums 512 exponentials in fp32 (≲ 512 · 6e-8 relative on the sum, 3e-5 on its
//     log in the worst case).
#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

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
constexpr int kRecord = 500;

std::vector<float> Rows(const std::vector<float>& m, int64_t r0, int64_t r1) {
  if (r0 < 0 || static_cast<int64_t>(m.size()) < r1 * kV) return {};
  return std::vector<float>(m.begin() + r0 * kV, m.begin() + r1 * kV);
}

void Append(std::vector<float>& to, const std::vector<float>& rows) {
  to.insert(to.end(), rows.begin(), rows.end());
}

struct CaseParam {
  std::string name;
  double bf16_golden_tol;
};

class CudaExtendGoldenTest : public ::testing::TestWithParam<CaseParam> {
 protected:
  void SetUp() override {
    if (!testing::HaveCudaDevice())
      GTEST_SKIP() << "no CUDA device (cudaGetDeviceCount reports none)";
    auto dir = testing::GoldenCaseDirFromEnv(GetParam().name);
    if (!dir) GTEST_SKIP() << "golden case " << GetParam().name << " not present";
    dir_ = *dir;
    RegisterCudaBackend();
    tokens_ = ReadNpyTokens(dir_ / "len00500.tokens.npy");
    ASSERT_EQ(tokens_.size(), static_cast<size_t>(kRecord));
  }

  std::unique_ptr<Model> Load(Device device, Precision precision) {
    LoadOptions lo;
    lo.checkpoint = dir_ / "model.pt";
    lo.device = device;
    lo.precision = precision;
    auto m = LoadModel(lo);
    EXPECT_TRUE(m.ok()) << m.status();
    return m.ok() ? std::move(*m) : nullptr;
  }

  std::vector<int32_t> Tokens(int from, int to) const {
    return {tokens_.begin() + from, tokens_.begin() + to};
  }

  // Prefill of tokens [0, cuts[0]), then one Extend per following cut (the last cut is the
  // record's end): logits rows cuts[0] − 1 … end − 1, [end − cuts[0] + 1, V].
  std::vector<float> PrefillThenExtend(Decoder& d, const std::vector<int>& cuts) {
    const std::vector<std::vector<int32_t>> prompt = {Tokens(0, cuts[0])};
    auto first = d.Prefill(prompt);
    EXPECT_TRUE(first.ok()) << first.status();
    if (!first.ok()) return {};
    std::vector<float> got = *first;
    for (size_t c = 1; c < cuts.size(); ++c) {
      const std::vector<std::vector<int32_t>> suffix = {Tokens(cuts[c - 1], cuts[c])};
      auto more = d.Extend(suffix);
      EXPECT_TRUE(more.ok()) << "extend " << cuts[c - 1] << ".." << cuts[c] << ": "
                             << more.status();
      if (!more.ok()) return {};
      EXPECT_EQ(more->size(), static_cast<size_t>((cuts[c] - cuts[c - 1]) * kV));
      Append(got, *more);
      EXPECT_EQ(d.position(0), cuts[c]);
    }
    return got;
  }

  // Steps feeding tokens [from, to) to sequence 0: [to − from, V].
  std::vector<float> Steps(Decoder& d, int from, int to) {
    std::vector<float> got;
    for (int t = from; t < to; ++t) {
      const int32_t tok = tokens_[static_cast<size_t>(t)];
      auto step = d.Step({&tok, 1});
      EXPECT_TRUE(step.ok()) << "position " << t << ": " << step.status();
      if (!step.ok()) return {};
      Append(got, *step);
    }
    return got;
  }

  static std::vector<std::vector<int>> Splits() {
    return {{1, kRecord},   {37, kRecord},  {127, kRecord},     {128, kRecord},
            {129, kRecord}, {300, kRecord}, {128, 129, kRecord}};
  }

  static std::string Name(const std::vector<int>& cuts) {
    std::string s;
    for (size_t i = 0; i + 1 < cuts.size(); ++i) s += (i ? "+" : "") + std::to_string(cuts[i]);
    return s;
  }

  fs::path dir_;
  std::vector<int32_t> tokens_;
};

TEST_P(CudaExtendGoldenTest, Bf16PrefillThenExtendEqualsForward) {
  auto model = Load(Device::kCuda, Precision::kBf16);
  ASSERT_NE(model, nullptr);
  ForwardOptions fo;
  fo.logits = true;
  auto fwd = model->Forward(tokens_, fo);
  ASSERT_TRUE(fwd.ok()) << fwd.status();
  const auto golden = ReadNpyFloats(dir_ / "len00500.logits.npy");
  auto d = model->NewDecoder(DecoderOptions{});
  ASSERT_TRUE(d.ok()) << d.status();
  for (const auto& cuts : Splits()) {
    SCOPED_TRACE("split " + Name(cuts));
    // One decoder for every split: a Prefill after Extends must start from its prompt only.
    const std::vector<float> got = PrefillThenExtend(**d, cuts);
    const auto want = Rows(fwd->logits, cuts[0] - 1, kRecord);
    const double vs_forward = RelL2(got, want);
    const double vs_golden = RelL2(got, Rows(golden, cuts[0] - 1, kRecord));
    std::printf(
        "[bf16] %s prefill %s + extend: rel-L2 vs cuda forward %.4f, vs golden %.4f, "
        "max|Δ| vs forward %.3f\n",
        GetParam().name.c_str(), Name(cuts).c_str(), vs_forward, vs_golden, MaxAbsDiff(got, want));
    EXPECT_LE(vs_forward, 1e-2);
    EXPECT_LE(vs_golden, GetParam().bf16_golden_tol);
  }
}

TEST_P(CudaExtendGoldenTest, Fp32PrefillThenExtendEqualsCpuExtendAndGolden) {
  auto model = Load(Device::kCuda, Precision::kFp32);
  auto cpu = Load(Device::kCpu, Precision::kFp32);
  ASSERT_TRUE(model != nullptr && cpu != nullptr);
  const auto golden = ReadNpyFloats(dir_ / "len00500.logits.npy");
  auto d = model->NewDecoder(DecoderOptions{});
  auto c = cpu->NewDecoder(DecoderOptions{});
  ASSERT_TRUE(d.ok() && c.ok());
  for (const auto& cuts : Splits()) {
    SCOPED_TRACE("split " + Name(cuts));
    const std::vector<float> got = PrefillThenExtend(**d, cuts);
    const std::vector<float> on_cpu = PrefillThenExtend(**c, cuts);
    const double vs_cpu = RelL2(got, on_cpu);
    const double vs_golden = MaxAbsDiff(got, Rows(golden, cuts[0] - 1, kRecord));
    std::printf(
        "[fp32] %s prefill %s + extend: rel-L2 vs cpu extend %.2e (max|Δ| %.2e), "
        "max|Δ| vs golden %.2e\n",
        GetParam().name.c_str(), Name(cuts).c_str(), vs_cpu, MaxAbsDiff(got, on_cpu), vs_golden);
    EXPECT_LE(vs_cpu, 1e-4);
    EXPECT_LE(vs_golden, 1e-3);
  }
}

// Prefill 100, Extend 100..300 (the KV cache grows past its 256-row bucket), then 20 steps,
// against Prefill 100 and 220 steps.
TEST_P(CudaExtendGoldenTest, ExtendThenStepEqualsStepOnly) {
  for (Precision precision : {Precision::kFp32, Precision::kBf16}) {
    const bool fp32 = precision == Precision::kFp32;
    auto model = Load(Device::kCuda, precision);
    ASSERT_NE(model, nullptr);
    auto a = model->NewDecoder(DecoderOptions{});
    auto b = model->NewDecoder(DecoderOptions{});
    ASSERT_TRUE(a.ok() && b.ok());
    const std::vector<float> extended = PrefillThenExtend(**a, {100, 300});
    ASSERT_FALSE(extended.empty());
    const std::vector<float> after_extend = Steps(**a, 300, 320);
    const std::vector<std::vector<int32_t>> prompt = {Tokens(0, 100)};
    ASSERT_TRUE((*b)->Prefill(prompt).ok());
    const std::vector<float> stepped = Steps(**b, 100, 320);
    ASSERT_EQ(stepped.size(), 220u * kV);
    const auto want = Rows(stepped, 200, 220);
    const double err = fp32 ? MaxAbsDiff(after_extend, want) : RelL2(after_extend, want);
    // The Extend's own rows against the steps over the same positions.
    const double err_rows = fp32 ? MaxAbsDiff(Rows(extended, 1, 201), Rows(stepped, 0, 200))
                                 : RelL2(Rows(extended, 1, 201), Rows(stepped, 0, 200));
    std::printf(
        "[%s] %s extend 100->300 then 20 steps vs steps only: %s %.2e (extend rows vs "
        "step rows %.2e)\n",
        fp32 ? "fp32" : "bf16", GetParam().name.c_str(), fp32 ? "max|Δ|" : "rel-L2", err, err_rows);
    EXPECT_LE(err, fp32 ? 1e-3 : 1e-2);
    EXPECT_LE(err_rows, fp32 ? 1e-3 : 1e-2);
  }
}

// Prefill 60, Select two copies, Extend them with suffixes of different lengths (the second
// with another first token), then step both: equal, bit for bit, to two separate decoders.
TEST_P(CudaExtendGoldenTest, SelectThenExtendEqualsSeparateRuns) {
  for (Precision precision : {Precision::kFp32, Precision::kBf16}) {
    const bool fp32 = precision == Precision::kFp32;
    auto model = Load(Device::kCuda, precision);
    ASSERT_NE(model, nullptr);
    std::vector<int32_t> other = Tokens(60, 200);
    other[0] = other[0] == 'A' ? 'C' : 'A';
    const std::vector<std::vector<int32_t>> suffixes = {Tokens(60, 300), other};
    const std::vector<std::vector<int32_t>> prompt = {Tokens(0, 60)};
    auto both = model->NewDecoder(DecoderOptions{});
    ASSERT_TRUE(both.ok());
    ASSERT_TRUE((*both)->Prefill(prompt).ok());
    ASSERT_TRUE((*both)->Select(std::vector<int64_t>{0, 0}).ok());
    auto together = (*both)->Extend(suffixes);
    ASSERT_TRUE(together.ok()) << together.status();
    ASSERT_EQ(together->size(), (240u + 140u) * kV);
    EXPECT_EQ((*both)->position(0), 300);
    EXPECT_EQ((*both)->position(1), 200);
    const std::vector<int32_t> next = {tokens_[300], tokens_[200]};
    auto step = (*both)->Step(next);
    ASSERT_TRUE(step.ok()) << step.status();
    int64_t row = 0;
    for (size_t i = 0; i < 2; ++i) {
      auto alone = model->NewDecoder(DecoderOptions{});
      ASSERT_TRUE(alone.ok());
      ASSERT_TRUE((*alone)->Prefill(prompt).ok());
      const std::vector<std::vector<int32_t>> one = {suffixes[i]};
      auto l = (*alone)->Extend(one);
      ASSERT_TRUE(l.ok()) << l.status();
      const auto n = static_cast<int64_t>(suffixes[i].size());
      EXPECT_EQ(MaxAbsDiff(Rows(*together, row, row + n), *l), 0.0) << "copy " << i;
      auto s = (*alone)->Step({&next[i], 1});
      ASSERT_TRUE(s.ok()) << s.status();
      const auto step_row = Rows(*step, static_cast<int64_t>(i), static_cast<int64_t>(i) + 1);
      EXPECT_LE(fp32 ? MaxAbsDiff(step_row, *s) : RelL2(step_row, *s), fp32 ? 1e-4 : 1e-2)
          << "copy " << i << " step";
      row += n;
    }
    // The copies saw different tokens at position 60: their logits there differ.
    EXPECT_GT(MaxAbsDiff(Rows(*together, 0, 1), Rows(*together, 240, 241)), 1e-3);
  }
}

TEST_P(CudaExtendGoldenTest, ExtendLogProbsEqualLogSoftmaxOfExtendLogits) {
  for (Precision precision : {Precision::kFp32, Precision::kBf16}) {
    auto model = Load(Device::kCuda, precision);
    ASSERT_NE(model, nullptr);
    auto a = model->NewDecoder(DecoderOptions{});
    auto b = model->NewDecoder(DecoderOptions{});
    ASSERT_TRUE(a.ok() && b.ok());
    const std::vector<std::vector<int32_t>> prompt = {Tokens(0, 100)};
    ASSERT_TRUE((*a)->Prefill(prompt).ok());
    ASSERT_TRUE((*b)->Prefill(prompt).ok());
    const std::vector<std::vector<int32_t>> suffix = {Tokens(100, 300)};
    std::vector<std::vector<int32_t>> targets = {Tokens(101, 300)};
    targets[0].push_back(-1);  // the last row predicts nothing here
    auto logits = (*a)->Extend(suffix);
    ASSERT_TRUE(logits.ok()) << logits.status();
    std::vector<std::vector<int32_t>> bad = targets;
    bad[0][5] = static_cast<int32_t>(kV);
    EXPECT_EQ((*b)->ExtendLogProbs(suffix, bad).status().code(),
              absl::StatusCode::kInvalidArgument);
    EXPECT_EQ((*b)->position(0), 100) << "refused targets leave the batch as it was";
    auto lp = (*b)->ExtendLogProbs(suffix, targets);
    ASSERT_TRUE(lp.ok()) << lp.status();
    ASSERT_EQ(lp->size(), 200u);
    EXPECT_EQ((*b)->position(0), 300);
    double worst = 0;
    for (size_t j = 0; j < 199; ++j) {
      const std::vector<float> row =
          Rows(*logits, static_cast<int64_t>(j), static_cast<int64_t>(j) + 1);
      const float want = TokenLogProb(row, targets[0][j]);
      ASSERT_TRUE(std::isfinite((*lp)[j])) << "row " << j;
      worst = std::max(worst, static_cast<double>(std::abs((*lp)[j] - want)));
    }
    EXPECT_EQ((*lp)[199], 0.f);
    std::printf(
        "[%s] %s extend log-probs on the device vs host log-softmax of the logits: "
        "max|Δ| %.2e\n",
        precision == Precision::kFp32 ? "fp32" : "bf16", GetParam().name.c_str(), worst);
    EXPECT_LE(worst, 1e-4);
    // The state advanced as Extend's: the next step agrees with the other decoder's.
    const int32_t next = tokens_[300];
    auto sa = (*a)->Step({&next, 1});
    auto sb = (*b)->Step({&next, 1});
    ASSERT_TRUE(sa.ok() && sb.ok());
    EXPECT_EQ(MaxAbsDiff(*sa, *sb), 0.0);
  }
}

TEST_P(CudaExtendGoldenTest, BadInputIsRefusedAndCancelStops) {
  auto model = Load(Device::kCuda, Precision::kBf16);
  ASSERT_NE(model, nullptr);
  std::atomic<bool> cancelled{false};
  DecoderOptions o;
  o.cancelled = &cancelled;
  auto d = model->NewDecoder(o);
  ASSERT_TRUE(d.ok());
  const std::vector<std::vector<int32_t>> one = {Tokens(0, 3)};
  EXPECT_EQ((*d)->Extend(one).status().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE((*d)->Prefill(one).ok());
  const std::vector<std::vector<int32_t>> two = {Tokens(3, 5), Tokens(3, 5)};
  const std::vector<std::vector<int32_t>> empty = {{}};
  const std::vector<std::vector<int32_t>> bad = {{65, 512}};
  const std::vector<std::vector<int32_t>> negative = {{-1}};
  for (const auto* s : {&two, &empty, &bad, &negative}) {
    const auto st = (*d)->Extend(*s).status();
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
    EXPECT_NE(st.message().find("Extend"), std::string::npos) << st;
  }
  // Refused input leaves the batch as it was.
  EXPECT_EQ((*d)->batch_size(), 1);
  EXPECT_EQ((*d)->position(0), 3);
  const std::vector<std::vector<int32_t>> next = {Tokens(3, 10)};
  ASSERT_TRUE((*d)->Extend(next).ok());
  EXPECT_EQ((*d)->position(0), 10);
  cancelled = true;
  EXPECT_EQ((*d)->Extend(next).status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ((*d)->batch_size(), 0) << "a cancelled Extend leaves no usable batch";
}

INSTANTIATE_TEST_SUITE_P(Cases, CudaExtendGoldenTest,
                         ::testing::Values(CaseParam{"a_tiny6", 2e-2}, CaseParam{"b_small10", 2e-2},
                                           CaseParam{"c_7blike32", 2.5e-2}),
                         [](const auto& p) { return p.param.name; });

}  // namespace
}  // namespace evo2
