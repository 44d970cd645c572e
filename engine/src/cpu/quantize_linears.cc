// The FP8 copies of the linear layers (docs/spec/fp8.md), made once at load.
#include "absl/status/status.h"
#include "cpu/cpu_weights.h"
#include "evo2/status_macros.h"
#include "io/fp8_linear_names.h"

namespace evo2::cpu {

absl::Status QuantizeLinearsE4M3(Fp8Mode mode, const std::map<std::string, StoredFp8Scales>& stored,
                                 Weights& weights) {
  if (mode == Fp8Mode::kOff) return absl::OkStatus();
  const bool all = mode == Fp8Mode::kAllLinears;
  // The stored scales where the checkpoint has them, else the weight's current amax (fp8.md).
  auto quantize = [](const std::vector<float>& w, int64_t in, const StoredFp8Scales* s) {
    const int64_t out = static_cast<int64_t>(w.size()) / in;
    ops::Fp8Matrix m = ops::QuantizeMatrixE4M3(w.data(), out, in, s != nullptr ? s->weight : 0.0f);
    if (s != nullptr) m.input_scale = s->input;
    return m;
  };
  for (size_t i = 0; i < weights.blocks.size(); ++i) {
    BlockWeights& b = weights.blocks[i];
    const int64_t H = static_cast<int64_t>(b.pre_norm.size());
    if (b.kind == BlockKind::kAttn) {
      if (all) {
        b.attention.wqkv_fp8 =
            quantize(b.attention.wqkv, H, io::FindStoredFp8Scales(stored, i, "inner_mha_cls.Wqkv"));
        b.attention.out_fp8 =
            quantize(b.attention.out_weight, H,
                     io::FindStoredFp8Scales(stored, i, "inner_mha_cls.out_proj"));
      }
    } else {
      // The Hyena input projections: FP8 in both modes.
      b.hyena.projections_fp8 =
          quantize(b.hyena.projections, H, io::FindStoredFp8Scales(stored, i, "projections"));
      if (all)
        b.hyena.out_fp8 =
            quantize(b.hyena.out_weight, H, io::FindStoredFp8Scales(stored, i, "out_filter_dense"));
    }
    if (all) {
      // l1 and l2 are one linear (NeMo's linear_fc1), so they share one scale.
      ASSIGN_OR_RETURN(const StoredFp8Scales* l12, io::StoredFp8ScalesOfMlpL12(stored, i));
      b.mlp.w12_fp8 = quantize(b.mlp.w12, H, l12);
      b.mlp.w3_fp8 = quantize(b.mlp.w3, b.mlp.inner, io::FindStoredFp8Scales(stored, i, "mlp.l3"));
    }
  }
  return absl::OkStatus();
}

}  // namespace evo2::cpu
