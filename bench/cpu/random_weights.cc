#include "random_weights.h"

#include <cmath>
#include <vector>

#include "cpu/hyena_short_filter.h"
#include "ops/rotary.h"

namespace evo2::bench {

namespace {

// splitmix64: fast enough to fill a billion weights in a few seconds.
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed) {}
  float Uniform() {  // [-1, 1)
    uint64_t z = (s_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return static_cast<float>(z >> 40) * (2.0f / 16777216.0f) - 1.0f;
  }

 private:
  uint64_t s_;
};

std::vector<float> Fill(Rng& rng, size_t n, float std_dev, float mean = 0.0f) {
  std::vector<float> v(n);
  const float a = std_dev * std::sqrt(3.0f);  // uniform [-a, a] has this std
  for (auto& x : v) x = mean + a * rng.Uniform();
  return v;
}

}  // namespace

cpu::Weights RandomWeights(const ModelConfig& c, uint64_t seed) {
  Rng rng(seed);
  const size_t H = c.hidden_size, I = c.inner_mlp_size, V = c.vocab_size;
  const float inv_h = 1.0f / std::sqrt(float(H)), inv_i = 1.0f / std::sqrt(float(I));
  cpu::Weights w;
  w.embedding = Fill(rng, V * H, 1.0f);
  w.final_norm = Fill(rng, H, 0.1f, 1.0f);
  for (int i = 0; i < c.num_layers; ++i) {
    cpu::BlockWeights b;
    b.kind = c.block_kinds[i];
    b.pre_norm = Fill(rng, H, 0.1f, 1.0f);
    b.post_norm = Fill(rng, H, 0.1f, 1.0f);
    b.mlp.hidden = H;
    b.mlp.inner = I;
    b.mlp.w12 = Fill(rng, 2 * I * H, inv_h);
    b.mlp.w3 = Fill(rng, H * I, inv_i);
    if (b.kind == BlockKind::kAttn) {
      b.attention.wqkv = Fill(rng, 3 * H * H, inv_h);
      b.attention.out_weight = Fill(rng, H * H, inv_h);
      b.attention.out_bias = Fill(rng, H, 0.1f);
      b.attention.inv_freq = ops::DefaultInvFreq(c.rotary_base, c.head_dim);
    } else {
      auto& h = b.hyena;
      h.projections = Fill(rng, 3 * H * H, inv_h);
      h.short_filter = Fill(rng, 3 * H * 3, 1.0f / std::sqrt(3.0f));
      h.out_weight = Fill(rng, H * H, inv_h);
      h.out_bias = Fill(rng, H, 0.1f);
      if (b.kind == BlockKind::kHcs || b.kind == BlockKind::kHcm) {
        const bool hcs = b.kind == BlockKind::kHcs;
        const size_t G = hcs ? c.hcs_filter_groups : c.hcm_filter_groups;
        const size_t K = hcs ? c.hcs_filter_length : c.hcm_filter_length;
        auto taps = Fill(rng, G * K, hcs ? 0.38f : 0.25f);
        h.fir_taps = cpu::ExpandGroupedTaps(taps.data(), G, K, H);
        h.fir_length = K;
        if (!hcs) h.skip = Fill(rng, H, 0.17f);
      } else {
        const size_t M = c.hcl_modes;
        std::vector<float> log_poles(H * M), residues = Fill(rng, H * M, 0.1f);
        for (auto& l : log_poles) l = -std::exp(std::log(1e-4f) + (rng.Uniform() + 1.0f) * 4.0f);
        auto skip = Fill(rng, H, 0.17f);
        h.modal = cpu::MakeModalFilter(log_poles.data(), residues.data(), skip.data(), H, M);
      }
    }
    w.blocks.push_back(std::move(b));
  }
  return w;
}

}  // namespace evo2::bench
