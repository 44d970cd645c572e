#include "model/expected_tensors.h"

#include "absl/strings/str_cat.h"

namespace evo2::internal {

std::vector<ExpectedTensor> ExpectedTensors(const ModelConfig& c) {
  const int64_t H = c.hidden_size, I = c.inner_mlp_size;
  std::vector<ExpectedTensor> out;
  out.push_back({"embedding_layer.weight", {c.vocab_size, H}});
  out.push_back({"norm.scale", {H}});
  for (int i = 0; i < c.num_layers; ++i) {
    const std::string b = absl::StrCat("blocks.", i, ".");
    out.push_back({b + "pre_norm.scale", {H}});
    out.push_back({b + "post_norm.scale", {H}});
    out.push_back({b + "mlp.l1.weight", {I, H}});
    out.push_back({b + "mlp.l2.weight", {I, H}});
    out.push_back({b + "mlp.l3.weight", {H, I}});
    const BlockKind kind = c.block_kinds[i];
    if (kind == BlockKind::kAttn) {
      out.push_back({b + "inner_mha_cls.Wqkv.weight", {3 * H, H}});
      out.push_back({b + "inner_mha_cls.out_proj.weight", {H, H}});
      if (c.attn_out_proj_bias) out.push_back({b + "inner_mha_cls.out_proj.bias", {H}});
      out.push_back({b + "inner_mha_cls.rotary_emb.inv_freq", {c.head_dim / 2}, true});
      continue;
    }
    out.push_back({b + "projections.weight", {3 * H, H}});
    out.push_back({b + "filter.short_filter_weight", {3 * H, 1, c.short_filter_length}});
    out.push_back({b + "out_filter_dense.weight", {H, H}});
    out.push_back({b + "out_filter_dense.bias", {H}});
    switch (kind) {
      case BlockKind::kHcs:
        out.push_back({b + "filter.h", {c.hcs_filter_groups, 1, c.hcs_filter_length}});
        break;
      case BlockKind::kHcm:
        out.push_back({b + "filter.h", {c.hcm_filter_groups, 1, c.hcm_filter_length}});
        out.push_back({b + "filter.D", {H}});
        break;
      case BlockKind::kHcl:
        out.push_back({b + "filter.D", {H}});
        out.push_back({b + "filter.log_poles", {H, c.hcl_modes, 1}});
        out.push_back({b + "filter.residues", {H, c.hcl_modes}});
        break;
      case BlockKind::kAttn:
        break;
    }
  }
  return out;
}

}  // namespace evo2::internal
