// Cached-state decoding of the HuggingFace families (evo2/decoder.h; Llama/"Eden" and the
// NemotronH Mamba-2 hybrid) against their golden parallel logits (docs/spec/golden.md §1): the
// 500-token record is prefilled with K = 1, 3 and 300 tokens (1 and 3 are shorter than the
// Mamba conv window), the three sequences are stepped together with the record's next tokens
// (teacher forcing), and every step's logits must equal the golden row of that position. No
// reference decode files exist for these families; the parallel golden is the reference.
//
// Tolerance 1e-4 max-abs, the project's fp32 golden bound: the engine's parallel forward is
// within ~2e-5 of these files (llama_golden_test, nemotron_h_golden_test); a step repeats the
// forward's arithmetic per position (the Mamba step is the parallel mixer run for one position
// from its state), differing only by GEMM rounding.
#include <algorithm>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "evo2/config.h"
#include "evo2/decoder.h"
#include "evo2/model.h"
#include "gtest/gtest.h"
#include "support/golden_compare.h"
#include "support/golden_paths.h"

namespace evo2 {
namespace {

using evo2::testing::GoldenCaseDir;
using evo2::testing::MaxAbsDiff;
using evo2::testing::ReadNpyFloats;
using evo2::testing::ReadNpyTokens;

constexpr double kTol = 1e-4;

class HfDecodeGoldenTest : public ::testing::TestWithParam<std::string> {};

TEST_P(HfDecodeGoldenTest, PrefillKThenStepsEqualParallelLogits) {
  const auto dir = GoldenCaseDir(GetParam());
  if (!dir) GTEST_SKIP() << "golden case " << GetParam() << " not present";
  LoadOptions opts;
  opts.checkpoint = *dir;
  auto model = LoadModel(opts);
  ASSERT_TRUE(model.ok()) << model.status();
  const int64_t V = (*model)->config().vocab_size;
  const auto tokens = ReadNpyTokens(*dir / "len00500.tokens.npy");
  const auto golden = ReadNpyFloats(*dir / "len00500.logits.npy");
  ASSERT_EQ(tokens.size(), 500u);
  ASSERT_EQ(golden.size(), 500u * static_cast<size_t>(V));
  auto row = [&](const std::vector<float>& m, int64_t r) {
    return std::vector<float>(m.begin() + r * V, m.begin() + (r + 1) * V);
  };
  auto decoder = (*model)->NewDecoder(DecoderOptions{});
  ASSERT_TRUE(decoder.ok()) << decoder.status();
  Decoder& dec = **decoder;
  const std::vector<int64_t> K = {1, 3, 300};
  std::vector<std::vector<int32_t>> prompts;
  for (int64_t k : K) prompts.emplace_back(tokens.begin(), tokens.begin() + k);
  auto first = dec.Prefill(prompts);
  ASSERT_TRUE(first.ok()) << first.status();
  std::vector<double> worst(K.size(), 0.0);
  for (size_t i = 0; i < K.size(); ++i) {
    worst[i] = MaxAbsDiff(row(*first, static_cast<int64_t>(i)), row(golden, K[i] - 1));
  }
  for (int64_t s = 0; s < 199; ++s) {  // the K = 300 sequence reaches position 498
    std::vector<int32_t> next;
    for (int64_t k : K) next.push_back(tokens[static_cast<size_t>(k + s)]);
    auto logits = dec.Step(next);
    ASSERT_TRUE(logits.ok()) << logits.status();
    for (size_t i = 0; i < K.size(); ++i) {
      worst[i] = std::max(worst[i],
                          MaxAbsDiff(row(*logits, static_cast<int64_t>(i)), row(golden, K[i] + s)));
    }
  }
  for (size_t i = 0; i < K.size(); ++i) {
    std::cerr << GetParam() << ": prefill " << K[i] << " + 199 steps, max |decode - parallel "
              << "golden| = " << worst[i] << "\n";
    EXPECT_LE(worst[i], kTol) << "prefill of " << K[i] << " tokens";
  }
  EXPECT_EQ(dec.position(2), 499);
  // Select copies sequences' state: a copy continues exactly as its original.
  ASSERT_TRUE(dec.Select(std::vector<int64_t>{2, 2}).ok());
  auto last = dec.Step(std::vector<int32_t>{tokens[499], tokens[499]});
  ASSERT_TRUE(last.ok());
  EXPECT_LE(MaxAbsDiff(row(*last, 0), row(golden, 499)), kTol);
  EXPECT_LE(MaxAbsDiff(row(*last, 1), row(golden, 499)), kTol);
  EXPECT_EQ(dec.Step(std::vector<int32_t>{65}).status().code(), absl::StatusCode::kInvalidArgument);
}

INSTANTIATE_TEST_SUITE_P(Cases, HfDecodeGoldenTest,
                         ::testing::Values("l_eden_a", "l_eden_b", "m_hybrid_a", "m_hybrid_b"));

}  // namespace
}  // namespace evo2
