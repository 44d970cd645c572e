// Token sampling (evo2/generate.h): greedy and its tie rule, the alphabet restriction, the
// distributions that temperature, top-k and top-p leave (by counting draws), reproducibility of
// the random streams, option validation, and the reported log-probability.
#include <array>
#include <cmath>
#include <map>
#include <vector>

#include "evo2/generate.h"
#include "evo2/sampling.h"
#include "gtest/gtest.h"

namespace evo2 {
namespace {

// Logits over the 512 ids with log p at A, C, G, T (p = 0.1, 0.2, 0.3, 0.4) and a large logit at
// 'N', which the default alphabet must never draw.
std::vector<float> Logits() {
  std::vector<float> l(512, -5.0f);
  l['A'] = std::log(0.1f);
  l['C'] = std::log(0.2f);
  l['G'] = std::log(0.3f);
  l['T'] = std::log(0.4f);
  l['N'] = 10.0f;
  return l;
}

// Frequencies of A, C, G, T over n draws.
std::array<double, 4> Frequencies(const SamplingOptions& o, int n) {
  TokenSampler s(o, 0, 0);
  const auto logits = Logits();
  std::map<int32_t, int> count;
  for (int i = 0; i < n; ++i) ++count[s.Sample(logits)];
  EXPECT_EQ(count.count('N'), 0u) << "a token outside the alphabet was drawn";
  return {count['A'] / double(n), count['C'] / double(n), count['G'] / double(n),
          count['T'] / double(n)};
}

// 20000 draws: the standard error of a frequency is ≤ sqrt(0.25/20000) = 0.0035, so 0.015 is
// over 4 standard errors: the check is not tuned to the (fixed, hence deterministic) seed, and
// a wrong distribution (e.g. temperature applied twice, 0.0667 vs 0.0333 for A) fails it.
constexpr int kDraws = 20000;
constexpr double kFreqTol = 0.015;

TEST(Sampler, TemperatureOneFollowsTheModel) {
  const auto f = Frequencies(SamplingOptions{}, kDraws);
  const double want[] = {0.1, 0.2, 0.3, 0.4};
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(f[i], want[i], kFreqTol) << "ACGT"[i];
}

TEST(Sampler, TemperatureSharpens) {
  SamplingOptions o;
  o.temperature = 0.5;  // p^2, normalised: 1, 4, 9, 16 over 30
  const auto f = Frequencies(o, kDraws);
  const double want[] = {1 / 30.0, 4 / 30.0, 9 / 30.0, 16 / 30.0};
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(f[i], want[i], kFreqTol) << "ACGT"[i];
}

TEST(Sampler, TopKAndTopPKeepTheMostLikely) {
  SamplingOptions k;
  k.top_k = 2;  // G, T renormalised: 3/7, 4/7
  auto f = Frequencies(k, kDraws);
  EXPECT_EQ(f[0] + f[1], 0.0);
  EXPECT_NEAR(f[2], 3 / 7.0, kFreqTol);
  SamplingOptions p;
  p.top_p = 0.65;  // T (0.4) + G (0.3) is the smallest set reaching 0.65
  f = Frequencies(p, kDraws);
  EXPECT_EQ(f[0] + f[1], 0.0);
  EXPECT_NEAR(f[3], 4 / 7.0, kFreqTol);
  SamplingOptions tiny;
  tiny.top_p = 0.01;  // the most likely alone
  f = Frequencies(tiny, 200);
  EXPECT_EQ(f[3], 1.0);
}

TEST(Sampler, GreedyTakesTheHighestAllowedLogitLowestIdOnTies) {
  SamplingOptions o;
  o.temperature = 0;
  TokenSampler s(o, 3, 1);
  auto l = Logits();
  EXPECT_EQ(s.Sample(l), 'T');
  l['C'] = l['T'];
  EXPECT_EQ(s.Sample(l), 'C');
  o.alphabet = "AG";
  TokenSampler ag(o, 0, 0);
  EXPECT_EQ(ag.Sample(Logits()), 'G');
}

TEST(Sampler, StreamsAreReproducibleAndIndependent) {
  SamplingOptions o;
  const auto l = Logits();
  auto draw = [&](uint64_t seed, uint64_t prompt, uint64_t sample) {
    SamplingOptions so = o;
    so.seed = seed;
    TokenSampler s(so, prompt, sample);
    std::string out;
    for (int i = 0; i < 64; ++i) out.push_back(static_cast<char>(s.Sample(l)));
    return out;
  };
  EXPECT_EQ(draw(1, 0, 0), draw(1, 0, 0));
  EXPECT_NE(draw(1, 0, 0), draw(2, 0, 0));
  EXPECT_NE(draw(1, 0, 0), draw(1, 1, 0));
  EXPECT_NE(draw(1, 0, 0), draw(1, 0, 1));
  EXPECT_NE(draw(1, 1, 0), draw(1, 0, 1));
}

TEST(Sampler, OptionsAreValidated) {
  auto check = [](SamplingOptions o, const char* part) {
    const absl::Status s = ValidateSamplingOptions(o);
    EXPECT_TRUE(absl::IsInvalidArgument(s)) << part;
    EXPECT_NE(s.message().find(part), std::string::npos) << s;
  };
  EXPECT_TRUE(ValidateSamplingOptions(SamplingOptions{}).ok());
  SamplingOptions o;
  o.temperature = -0.1;
  check(o, "temperature");
  o = {};
  o.temperature = NAN;
  check(o, "temperature");
  o = {};
  o.top_k = -1;
  check(o, "top-k");
  o = {};
  o.top_p = 0;
  check(o, "top-p");
  o = {};
  o.alphabet = "";
  check(o, "empty");
  o.alphabet = "A C";
  check(o, "character 2");
  o.alphabet = "ACA";
  check(o, "repeats 'A'");
}

TEST(Sampler, TokenLogProbIsTheFullVocabularyLogSoftmax) {
  const auto l = Logits();
  double sum = 0;
  for (float v : l) sum += std::exp(static_cast<double>(v));
  EXPECT_NEAR(TokenLogProb(l, 'T'), std::log(0.4) - std::log(sum), 1e-6);
}

}  // namespace
}  // namespace evo2
