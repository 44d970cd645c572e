// Decoder::Extend on the CPU backend (evo2/decoder.h) against the same model's parallel forward
// over the whole sequence, on the golden checkpoints (docs/spec/golden.md): prefixes of 1, 5 and
// 300 tokens (shorter and longer than the 2/6/127-row FIR tails) extended by suffixes of 1, 2,
// 7, 127, 128 and 300 tokens (shorter than, equal to and longer than the hcm halo; suffixes that
// cross attention query blocks of 64); Extend twice against Extend once with the concatenation;
// Step after Extend; a batch of copies with different suffix lengths; ExtendLogProbs (the
// Decoder's default, Extend's logits reduced on the host) against the forward's log-softmax at
// its targets, 0 where the target is −1.
//
// Tolerances: 1e-5 max-abs on the bases' log-probs (what scoring sums), 1e-4 (the project's
// fp32 golden bound, docs/spec/golden.md §2) on whole log-softmax rows, whose far tail (ids
// never seen in training, log-probs near −30) carries larger rounding. Extend runs the forward's
// own ops on the same inputs (the hcl recurrence seeded with the cached state is the same
// double arithmetic), so it differs from the whole forward only by GEMM rounding of fp32 rows
// blocked differently (~5e-6 on the bases here), as much as two whole forwards of different
// lengths differ at the same positions.
#include <cmath>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "evo2/config.h"
#include "evo2/decoder.h"
#include "evo2/model.h"
#include "gtest/gtest.h"
#include "support/golden_paths.h"

namespace evo2 {
namespace {

constexpr double kTolDna = 1e-5;
constexpr double kTolRows = 1e-4;

std::vector<int32_t> RandomDna(uint32_t seed, int64_t n) {
  static const int32_t kBases[] = {'A', 'C', 'G', 'T'};
  std::mt19937 rng(seed);
  std::vector<int32_t> t(static_cast<size_t>(n));
  for (auto& x : t) x = kBases[rng() % 4];
  return t;
}

// log_softmax of each [V] row, in double.
std::vector<double> LogSoftmaxRows(const float* logits, int64_t rows, int64_t V) {
  std::vector<double> out(static_cast<size_t>(rows * V));
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = logits + r * V;
    double mx = row[0];
    for (int64_t j = 1; j < V; ++j) mx = std::max(mx, static_cast<double>(row[j]));
    double sum = 0;
    for (int64_t j = 0; j < V; ++j) sum += std::exp(row[j] - mx);
    const double lse = mx + std::log(sum);
    for (int64_t j = 0; j < V; ++j) out[static_cast<size_t>(r * V + j)] = row[j] - lse;
  }
  return out;
}

// Differences of two [rows, V] log-softmax matrices: over the four bases' columns (the
// next-token log-probs a DNA score sums) and over every column.
struct Diff {
  double dna = 0;
  double all = 0;
};

// NaN anywhere or a shape mismatch fails (+inf).
Diff MaxAbs(const std::vector<double>& a, const std::vector<double>& b, int64_t V) {
  if (a.size() != b.size() || a.empty()) return {INFINITY, INFINITY};
  Diff d;
  for (size_t i = 0; i < a.size(); ++i) {
    const double e = std::abs(a[i] - b[i]);
    if (!std::isfinite(e)) return {INFINITY, INFINITY};
    const auto col = static_cast<int64_t>(i) % V;
    if (col == 'A' || col == 'C' || col == 'G' || col == 'T') d.dna = std::max(d.dna, e);
    d.all = std::max(d.all, e);
  }
  return d;
}

class CpuDecodeExtendTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    const auto dir = testing::GoldenCaseDir(GetParam());
    if (!dir) GTEST_SKIP() << "golden case " << GetParam() << " not present";
    LoadOptions opts;
    opts.checkpoint = *dir / "model.pt";
    // One thread: OpenBLAS's split of a GEMM's rows over threads depends on the row count and
    // moves rounding (two whole forwards of different lengths then differ by up to 9e-6 at the
    // same positions instead of 5e-6).
    opts.threads = 1;
    auto m = LoadModel(opts);
    ASSERT_TRUE(m.ok()) << m.status();
    model_ = std::move(*m);
    V_ = model_->config().vocab_size;
    auto d = model_->NewDecoder(DecoderOptions{});
    ASSERT_TRUE(d.ok()) << d.status();
    decoder_ = std::move(*d);
  }

  // Log-softmax rows [r0, r1) of the parallel forward over `tokens`.
  std::vector<double> Parallel(const std::vector<int32_t>& tokens, int64_t r0, int64_t r1) {
    ForwardOptions o;
    o.logits = true;
    o.log_probs = false;
    auto r = model_->Forward(tokens, o);
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return {};
    return LogSoftmaxRows(r->logits.data() + r0 * V_, r1 - r0, V_);
  }

  // Both bounds; returns the bases' difference.
  double ExpectClose(const std::vector<double>& got, const std::vector<double>& want) {
    const Diff d = MaxAbs(got, want, V_);
    EXPECT_LE(d.dna, kTolDna);
    EXPECT_LE(d.all, kTolRows);
    return d.dna;
  }

  std::vector<double> Lsm(const std::vector<float>& logits) {
    return LogSoftmaxRows(logits.data(), static_cast<int64_t>(logits.size()) / V_, V_);
  }

  std::unique_ptr<Model> model_;
  std::unique_ptr<Decoder> decoder_;
  int64_t V_ = 0;
};

TEST_P(CpuDecodeExtendTest, ExtendAfterPrefillEqualsParallelForward) {
  const auto all = RandomDna(7, 600);
  double worst = 0;
  for (int64_t prefix : {1, 5, 300}) {
    for (int64_t suffix : {1, 2, 7, 127, 128, 300}) {
      SCOPED_TRACE(::testing::Message() << "prefix " << prefix << ", suffix " << suffix);
      const std::vector<int32_t> seq(all.begin(), all.begin() + prefix + suffix);
      const std::vector<std::vector<int32_t>> p = {{seq.begin(), seq.begin() + prefix}};
      const std::vector<std::vector<int32_t>> s = {{seq.begin() + prefix, seq.end()}};
      auto first = decoder_->Prefill(p);
      ASSERT_TRUE(first.ok()) << first.status();
      auto ext = decoder_->Extend(s);
      ASSERT_TRUE(ext.ok()) << ext.status();
      ASSERT_EQ(static_cast<int64_t>(ext->size()), suffix * V_);
      EXPECT_EQ(decoder_->position(0), prefix + suffix);
      const double d = ExpectClose(Lsm(*ext), Parallel(seq, prefix, prefix + suffix));
      worst = std::max(worst, d);
    }
  }
  std::cerr << GetParam() << ": max |Extend − parallel| bases' log-probs = " << worst << "\n";
}

TEST_P(CpuDecodeExtendTest, ExtendTwiceEqualsExtendOnceThenStepsContinue) {
  const auto seq = RandomDna(11, 420);
  const std::vector<std::vector<int32_t>> p = {{seq.begin(), seq.begin() + 40}};
  const std::vector<std::vector<int32_t>> s1 = {{seq.begin() + 40, seq.begin() + 173}};
  const std::vector<std::vector<int32_t>> s2 = {{seq.begin() + 173, seq.begin() + 400}};
  const std::vector<std::vector<int32_t>> s12 = {{seq.begin() + 40, seq.begin() + 400}};
  ASSERT_TRUE(decoder_->Prefill(p).ok());
  auto a = decoder_->Extend(s1);
  ASSERT_TRUE(a.ok()) << a.status();
  auto b = decoder_->Extend(s2);
  ASSERT_TRUE(b.ok()) << b.status();
  std::vector<float> twice = *a;
  twice.insert(twice.end(), b->begin(), b->end());
  // Step after Extend: tokens 400..419 one at a time.
  std::vector<float> steps;
  for (int64_t t = 400; t < 420; ++t) {
    const int32_t tok = seq[static_cast<size_t>(t)];
    auto st = decoder_->Step({&tok, 1});
    ASSERT_TRUE(st.ok()) << st.status();
    steps.insert(steps.end(), st->begin(), st->end());
  }
  EXPECT_EQ(decoder_->position(0), 420);
  ASSERT_TRUE(decoder_->Prefill(p).ok());
  auto once = decoder_->Extend(s12);
  ASSERT_TRUE(once.ok()) << once.status();
  ExpectClose(Lsm(twice), Lsm(*once));
  const auto par = Parallel(seq, 40, 420);
  const std::vector<double> par_ext(par.begin(), par.begin() + 360 * V_);
  const std::vector<double> par_step(par.begin() + 360 * V_, par.end());
  ExpectClose(Lsm(twice), par_ext);
  // Steps are the decode path of cpu_decode_golden_test (1e-4 there against the reference);
  // against this engine's own forward they also differ by GEMM rounding alone.
  ExpectClose(Lsm(steps), par_step);
}

// Shared-prefix scoring's pattern: one prefill, copies by Select, a suffix of its own length
// per copy in one call; each equals the parallel forward of its own whole sequence.
TEST_P(CpuDecodeExtendTest, SelectedCopiesExtendWithTheirOwnSuffixes) {
  const auto prefix = RandomDna(3, 130);
  const auto tail_a = RandomDna(4, 70), tail_b = RandomDna(5, 3), tail_c = RandomDna(6, 129);
  ASSERT_TRUE(decoder_->Prefill(std::vector<std::vector<int32_t>>{prefix}).ok());
  ASSERT_TRUE(decoder_->Select(std::vector<int64_t>{0, 0, 0}).ok());
  const std::vector<std::vector<int32_t>> suffixes = {tail_a, tail_b, tail_c};
  auto ext = decoder_->Extend(suffixes);
  ASSERT_TRUE(ext.ok()) << ext.status();
  ASSERT_EQ(static_cast<int64_t>(ext->size()), (70 + 3 + 129) * V_);
  int64_t row = 0;
  for (const auto& tail : suffixes) {
    std::vector<int32_t> whole = prefix;
    whole.insert(whole.end(), tail.begin(), tail.end());
    const int64_t L = static_cast<int64_t>(tail.size());
    const std::vector<float> got(ext->begin() + row * V_, ext->begin() + (row + L) * V_);
    SCOPED_TRACE(::testing::Message() << "suffix of " << L);
    ExpectClose(Lsm(got), Parallel(whole, 130, 130 + L));
    row += L;
  }
  EXPECT_EQ(decoder_->position(1), 133);
}

TEST_P(CpuDecodeExtendTest, ExtendLogProbsAreTheForwardsAtTheirTargets) {
  const auto prefix = RandomDna(7, 40);
  const auto tail_a = RandomDna(8, 30), tail_b = RandomDna(9, 2);
  ASSERT_TRUE(decoder_->Prefill(std::vector<std::vector<int32_t>>{prefix}).ok());
  ASSERT_TRUE(decoder_->Select(std::vector<int64_t>{0, 0}).ok());
  const std::vector<std::vector<int32_t>> suffixes = {tail_a, tail_b};
  // Target of row j: the suffix's next token; the last row of tail_a has none (−1).
  std::vector<std::vector<int32_t>> targets = {{tail_a.begin() + 1, tail_a.end()}, {67, 84}};
  targets[0].push_back(-1);
  // Refused targets leave the batch as it was.
  std::vector<std::vector<int32_t>> bad = targets;
  bad[1][1] = static_cast<int32_t>(V_);
  const auto st = decoder_->ExtendLogProbs(suffixes, bad).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("suffix 1 target 1"), std::string::npos) << st;
  const std::vector<std::vector<int32_t>> short_targets = {targets[0], {67}};
  EXPECT_EQ(decoder_->ExtendLogProbs(suffixes, short_targets).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(decoder_->position(0), 40);
  auto lp = decoder_->ExtendLogProbs(suffixes, targets);
  ASSERT_TRUE(lp.ok()) << lp.status();
  ASSERT_EQ(lp->size(), 32u);
  EXPECT_EQ(decoder_->position(0), 70);
  EXPECT_EQ(decoder_->position(1), 42);
  size_t row = 0;
  for (size_t i = 0; i < 2; ++i) {
    std::vector<int32_t> whole = prefix;
    whole.insert(whole.end(), suffixes[i].begin(), suffixes[i].end());
    const auto L = static_cast<int64_t>(suffixes[i].size());
    const std::vector<double> want = Parallel(whole, 40, 40 + L);  // [L, V] log-softmax
    for (int64_t j = 0; j < L; ++j, ++row) {
      const int32_t t = targets[i][static_cast<size_t>(j)];
      const double expect = t < 0 ? 0.0 : want[static_cast<size_t>(j * V_ + t)];
      EXPECT_NEAR((*lp)[row], expect, kTolDna) << "suffix " << i << " row " << j;
    }
  }
}

TEST_P(CpuDecodeExtendTest, BadInputIsRefused) {
  const std::vector<std::vector<int32_t>> one = {{65, 67}};
  EXPECT_EQ(decoder_->Extend(one).status().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(decoder_->Prefill(one).ok());
  const std::vector<std::vector<int32_t>> two = {{65}, {67}};
  EXPECT_EQ(decoder_->Extend(two).status().code(), absl::StatusCode::kInvalidArgument);
  const std::vector<std::vector<int32_t>> empty = {{}};
  EXPECT_EQ(decoder_->Extend(empty).status().code(), absl::StatusCode::kInvalidArgument);
  const std::vector<std::vector<int32_t>> bad = {{65, static_cast<int32_t>(V_)}};
  const auto st = decoder_->Extend(bad).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("suffix 0"), std::string::npos) << st;
  EXPECT_EQ(decoder_->position(0), 2) << "a refused Extend leaves the batch as it was";
}

// a_tiny6 has every block kind (hcs, hcm, hcl, attention); the larger cases would add seconds
// to every CI run (and a minute under ASan) without a block kind of their own.
INSTANTIATE_TEST_SUITE_P(Cases, CpuDecodeExtendTest, ::testing::Values("a_tiny6"));

}  // namespace
}  // namespace evo2
