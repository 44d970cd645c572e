#include "cpu/cpu_weights.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "cpu/hyena_short_filter.h"
#include "evo2/status_macros.h"
#include "ops/rotary.h"

namespace evo2::cpu {

namespace {

class Reader {
 public:
  explicit Reader(const TensorMap& t) : tensors_(t) {}
  // fp32 values of `name`, or an error naming it (checked numel).
  absl::StatusOr<std::vector<float>> Get(const std::string& name, int64_t numel) {
    auto it = tensors_.find(name);
    if (it == tensors_.end()) {
      return absl::InvalidArgumentError(absl::StrCat("checkpoint has no tensor '", name, "'"));
    }
    if (it->second.numel() != numel) {
      return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "' has ", it->second.numel(),
                                                     " elements, expected ", numel));
    }
    auto v = it->second.ToFloat32();
    if (!v.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("tensor '", name, "': ", v.status().message()));
    }
    return v;
  }
  bool Has(const std::string& name) const { return tensors_.count(name) > 0; }

 private:
  const TensorMap& tensors_;
};

}  // namespace

absl::StatusOr<Weights> LoadWeights(const ModelConfig& c, const TensorMap& tensors) {
  Reader r(tensors);
  const int64_t H = c.hidden_size, I = c.inner_mlp_size, V = c.vocab_size;
  Weights w;
  ASSIGN_OR_RETURN(w.embedding, r.Get("embedding_layer.weight", V * H));
  ASSIGN_OR_RETURN(w.final_norm, r.Get("norm.scale", H));
  w.blocks.resize(static_cast<size_t>(c.num_layers));
  for (int i = 0; i < c.num_layers; ++i) {
    BlockWeights& b = w.blocks[static_cast<size_t>(i)];
    const std::string p = absl::StrCat("blocks.", i, ".");
    b.kind = c.block_kinds[static_cast<size_t>(i)];
    ASSIGN_OR_RETURN(b.pre_norm, r.Get(p + "pre_norm.scale", H));
    ASSIGN_OR_RETURN(b.post_norm, r.Get(p + "post_norm.scale", H));
    b.mlp.hidden = H;
    b.mlp.inner = I;
    std::vector<float> l1, l2;
    ASSIGN_OR_RETURN(l1, r.Get(p + "mlp.l1.weight", I * H));
    ASSIGN_OR_RETURN(l2, r.Get(p + "mlp.l2.weight", I * H));
    b.mlp.w12 = std::move(l1);
    b.mlp.w12.insert(b.mlp.w12.end(), l2.begin(), l2.end());
    ASSIGN_OR_RETURN(b.mlp.w3, r.Get(p + "mlp.l3.weight", H * I));
    if (b.kind == BlockKind::kAttn) {
      AttentionWeights& a = b.attention;
      const std::string m = p + "inner_mha_cls.";
      ASSIGN_OR_RETURN(a.wqkv, r.Get(m + "Wqkv.weight", 3 * H * H));
      ASSIGN_OR_RETURN(a.out_weight, r.Get(m + "out_proj.weight", H * H));
      if (c.attn_out_proj_bias) {
        ASSIGN_OR_RETURN(a.out_bias, r.Get(m + "out_proj.bias", H));
      } else {
        a.out_bias.assign(static_cast<size_t>(H), 0.0f);
      }
      if (r.Has(m + "rotary_emb.inv_freq")) {
        ASSIGN_OR_RETURN(a.inv_freq, r.Get(m + "rotary_emb.inv_freq", c.head_dim / 2));
      } else {
        a.inv_freq = ops::DefaultInvFreq(c.rotary_base, c.head_dim);
      }
      continue;
    }
    HyenaWeights& h = b.hyena;
    ASSIGN_OR_RETURN(h.projections, r.Get(p + "projections.weight", 3 * H * H));
    ASSIGN_OR_RETURN(h.short_filter, r.Get(p + "filter.short_filter_weight", 3 * H * 3));
    ASSIGN_OR_RETURN(h.out_weight, r.Get(p + "out_filter_dense.weight", H * H));
    ASSIGN_OR_RETURN(h.out_bias, r.Get(p + "out_filter_dense.bias", H));
    if (b.kind == BlockKind::kHcs || b.kind == BlockKind::kHcm) {
      const int64_t G = b.kind == BlockKind::kHcs ? c.hcs_filter_groups : c.hcm_filter_groups;
      const int64_t K = b.kind == BlockKind::kHcs ? c.hcs_filter_length : c.hcm_filter_length;
      std::vector<float> taps;
      ASSIGN_OR_RETURN(taps, r.Get(p + "filter.h", G * K));
      h.fir_taps = ExpandGroupedTaps(taps.data(), G, K, H);
      h.fir_length = K;
    }
    if (b.kind == BlockKind::kHcm) {
      ASSIGN_OR_RETURN(h.skip, r.Get(p + "filter.D", H));
    }
    if (b.kind == BlockKind::kHcl) {
      const int64_t M = c.hcl_modes;
      std::vector<float> log_poles, residues, skip;
      ASSIGN_OR_RETURN(log_poles, r.Get(p + "filter.log_poles", H * M));
      ASSIGN_OR_RETURN(residues, r.Get(p + "filter.residues", H * M));
      ASSIGN_OR_RETURN(skip, r.Get(p + "filter.D", H));
      h.modal = MakeModalFilter(log_poles.data(), residues.data(), skip.data(), H, M);
    }
  }
  return w;
}

}  // namespace evo2::cpu
