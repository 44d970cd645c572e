// The FP8 copies of the linear layers (docs/spec/fp8.md), made once at load.
#include "cpu/cpu_weights.h"

namespace evo2::cpu {

void QuantizeLinearsE4M3(Fp8Mode mode, Weights& weights) {
  if (mode == Fp8Mode::kOff) return;
  const bool all = mode == Fp8Mode::kAllLinears;
  auto quantize = [](const std::vector<float>& w, int64_t in) {
    const int64_t out = static_cast<int64_t>(w.size()) / in;
    return ops::QuantizeMatrixE4M3(w.data(), out, in);
  };
  for (BlockWeights& b : weights.blocks) {
    const int64_t H = static_cast<int64_t>(b.pre_norm.size());
    if (b.kind == BlockKind::kAttn) {
      if (all) {
        b.attention.wqkv_fp8 = quantize(b.attention.wqkv, H);
        b.attention.out_fp8 = quantize(b.attention.out_weight, H);
      }
    } else {
      // The Hyena input projections: FP8 in both modes.
      b.hyena.projections_fp8 = quantize(b.hyena.projections, H);
      if (all) b.hyena.out_fp8 = quantize(b.hyena.out_weight, H);
    }
    if (all) {
      // l1 and l2 are one linear (NeMo's linear_fc1), so they share one scale.
      b.mlp.w12_fp8 = quantize(b.mlp.w12, H);
      b.mlp.w3_fp8 = quantize(b.mlp.w3, b.mlp.inner);
    }
  }
}

}  // namespace evo2::cpu
