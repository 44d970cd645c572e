// Token sampling for generation (evo2/generate.h).
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "evo2/generate.h"

namespace evo2 {

namespace {

// SplitMix64 (Steele, Lea, Flood 2014): decorrelates the seeds of neighbouring streams.
uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

TokenSampler::TokenSampler(const SamplingOptions& options, uint64_t prompt_index, uint64_t sample)
    : options_(options),
      rng_(SplitMix64(SplitMix64(SplitMix64(options.seed) ^ prompt_index) ^ sample)) {
  for (char c : options.alphabet) candidates_.push_back(static_cast<unsigned char>(c));
  std::sort(candidates_.begin(), candidates_.end());
}

int32_t TokenSampler::Sample(std::span<const float> logits) {
  // Candidates by logit, highest first, lowest id first on ties (stable over sorted ids).
  std::vector<int32_t> order = candidates_;
  std::stable_sort(order.begin(), order.end(),
                   [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
  if (options_.temperature == 0) return order.front();
  if (options_.top_k > 0 && static_cast<size_t>(options_.top_k) < order.size()) {
    order.resize(static_cast<size_t>(options_.top_k));
  }
  // Softmax of logits / T over the kept candidates, in double.
  std::vector<double> p(order.size());
  const double mx = logits[order.front()] / options_.temperature;
  double sum = 0;
  for (size_t i = 0; i < order.size(); ++i) {
    p[i] = std::exp(logits[order[i]] / options_.temperature - mx);
    sum += p[i];
  }
  for (double& v : p) v /= sum;
  size_t kept = order.size();
  if (options_.top_p < 1) {
    double cum = 0;
    for (size_t i = 0; i < order.size(); ++i) {
      cum += p[i];
      if (cum >= options_.top_p) {
        kept = i + 1;
        break;
      }
    }
  }
  const double total = std::accumulate(p.begin(), p.begin() + static_cast<int64_t>(kept), 0.0);
  const double u = static_cast<double>(rng_() >> 11) * 0x1.0p-53 * total;  // [0, total)
  double cum = 0;
  for (size_t i = 0; i < kept; ++i) {
    cum += p[i];
    if (u < cum) return order[i];
  }
  return order[kept - 1];  // u within rounding of total
}

float TokenLogProb(std::span<const float> logits, int32_t token) {
  float mx = -std::numeric_limits<float>::infinity();
  for (float v : logits) mx = std::max(mx, v);
  double sum = 0;
  for (float v : logits) sum += std::exp(static_cast<double>(v) - mx);
  return static_cast<float>((static_cast<double>(logits[static_cast<size_t>(token)]) - mx) -
                            std::log(sum));
}

}  // namespace evo2
