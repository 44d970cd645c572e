#include "parallel/shard_weights.h"

#include <algorithm>
#include <vector>

namespace evo2::parallel {
namespace {

// Rows [r0, r1) of a row-major [*, cols] matrix.
std::vector<float> Rows(const std::vector<float>& m, int64_t cols, int64_t r0, int64_t r1) {
  return {m.begin() + r0 * cols, m.begin() + r1 * cols};
}

// Columns [c0, c1) of a row-major [rows, cols] matrix.
template <typename T>
std::vector<T> Cols(const std::vector<T>& m, int64_t cols, int64_t c0, int64_t c1) {
  const int64_t rows = static_cast<int64_t>(m.size()) / cols;
  std::vector<T> out(static_cast<size_t>(rows * (c1 - c0)));
  for (int64_t r = 0; r < rows; ++r) {
    std::copy(m.begin() + r * cols + c0, m.begin() + r * cols + c1, out.begin() + r * (c1 - c0));
  }
  return out;
}

cpu::ModalFilter ShardModal(const cpu::ModalFilter& f, int64_t c0, int64_t c1) {
  cpu::ModalFilter s;
  s.channels = c1 - c0;
  s.modes = f.modes;
  auto slice = [&](const auto& v) {
    using V = std::decay_t<decltype(v)>;
    return V(v.begin() + c0 * f.modes, v.begin() + c1 * f.modes);
  };
  s.pole = slice(f.pole);
  s.residue = slice(f.residue);
  s.log_pole = slice(f.log_pole);
  s.residue_f32 = slice(f.residue_f32);
  s.skip.assign(f.skip.begin() + c0, f.skip.begin() + c1);
  return s;
}

}  // namespace

cpu::Weights ShardWeights(const ModelConfig& c, const cpu::Weights& full, int tp, int rank) {
  const int64_t H = c.hidden_size, V = c.vocab_size, d = c.head_dim;
  const int64_t I = c.inner_mlp_size;
  const int64_t Hl = H / tp, Il = I / tp, Vl = V / tp, heads_l = c.num_heads / tp;
  const int64_t c0 = rank * Hl, c1 = c0 + Hl;  // channels
  const int64_t i0 = rank * Il;                // MLP rows
  cpu::Weights w;
  w.embedding = Rows(full.embedding, H, rank * Vl, (rank + 1) * Vl);
  w.final_norm = full.final_norm;
  for (const cpu::BlockWeights& fb : full.blocks) {
    cpu::BlockWeights b;
    b.kind = fb.kind;
    b.pre_norm = fb.pre_norm;
    b.post_norm = fb.post_norm;
    b.mlp.hidden = H;
    b.mlp.inner = Il;
    b.mlp.w12 = Rows(fb.mlp.w12, H, i0, i0 + Il);  // l1 rows, then l2 rows (w12 = [l1; l2])
    const auto l2 = Rows(fb.mlp.w12, H, I + i0, I + i0 + Il);
    b.mlp.w12.insert(b.mlp.w12.end(), l2.begin(), l2.end());
    b.mlp.w3 = Cols(fb.mlp.w3, I, i0, i0 + Il);
    if (fb.kind == BlockKind::kAttn) {
      const int64_t r0 = rank * heads_l * 3 * d;
      b.attention.wqkv = Rows(fb.attention.wqkv, H, r0, r0 + heads_l * 3 * d);
      b.attention.out_weight =
          Cols(fb.attention.out_weight, H, rank * heads_l * d, (rank + 1) * heads_l * d);
      b.attention.out_bias = fb.attention.out_bias;
      b.attention.inv_freq = fb.attention.inv_freq;
    } else {
      const cpu::HyenaWeights& fh = fb.hyena;
      cpu::HyenaWeights& h = b.hyena;
      h.projections = Rows(fh.projections, H, 3 * c0, 3 * c1);
      h.short_filter = Rows(fh.short_filter, 3, 3 * c0, 3 * c1);
      h.out_weight = Cols(fh.out_weight, H, c0, c1);
      h.out_bias = fh.out_bias;
      h.fir_length = fh.fir_length;
      if (!fh.fir_taps.empty()) h.fir_taps = Cols(fh.fir_taps, H, c0, c1);  // [K, H] per channel
      if (!fh.skip.empty()) h.skip.assign(fh.skip.begin() + c0, fh.skip.begin() + c1);
      if (fb.kind == BlockKind::kHcl) h.modal = ShardModal(fh.modal, c0, c1);
    }
    w.blocks.push_back(std::move(b));
  }
  return w;
}

}  // namespace evo2::parallel
