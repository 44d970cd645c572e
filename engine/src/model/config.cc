// ModelConfig helpers: names, pattern, support checks and config-vs-config agreement.
#include "evo2/config.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace evo2 {

std::string_view BlockKindName(BlockKind kind) {
  switch (kind) {
    case BlockKind::kHcs:
      return "hcs";
    case BlockKind::kHcm:
      return "hcm";
    case BlockKind::kHcl:
      return "hcl";
    case BlockKind::kAttn:
      return "attn";
  }
  return "?";
}

char BlockKindLetter(BlockKind kind) {
  switch (kind) {
    case BlockKind::kHcs:
      return 'S';
    case BlockKind::kHcm:
      return 'D';
    case BlockKind::kHcl:
      return 'H';
    case BlockKind::kAttn:
      return '*';
  }
  return '?';
}

std::string ModelConfig::Pattern() const {
  std::string s;
  for (BlockKind k : block_kinds) s.push_back(BlockKindLetter(k));
  return s;
}

std::vector<int> ModelConfig::LayersOfKind(BlockKind kind) const {
  std::vector<int> out;
  for (size_t i = 0; i < block_kinds.size(); ++i) {
    if (block_kinds[i] == kind) out.push_back(static_cast<int>(i));
  }
  return out;
}

absl::Status CheckSupported(const ModelConfig& c) {
  if (c.mlp_activation == MlpActivation::kNv || c.hcs_conv_bias || !c.attn_out_proj_bias) {
    return absl::UnimplementedError(absl::StrCat(
        "model '", c.name,
        "' uses the NVIDIA-trained (`_nv`) conventions (tanh GELU in every MLP, no attention "
        "output bias, hcs conv bias); this engine implements the Arc/vortex conventions only "
        "(use the matching non-_nv model size for Arc checkpoints)"));
  }
  return absl::OkStatus();
}

namespace {

template <typename T>
absl::Status Agree(std::string_view field, const T& a, const T& b, std::string_view sa,
                   std::string_view sb) {
  if (a == b) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("config mismatch on ", std::string(field), ": ",
                                                 std::string(sa), " says ", a, " but ",
                                                 std::string(sb), " says ", b));
}

}  // namespace

absl::Status CheckConfigsAgree(const ModelConfig& e, std::string_view es, const ModelConfig& a,
                               std::string_view as) {
  auto chain = [&](absl::Status s, absl::Status& acc) {
    if (acc.ok() && !s.ok()) acc = s;
  };
  absl::Status st;
  chain(Agree("num_layers", e.num_layers, a.num_layers, es, as), st);
  chain(Agree("hidden_size", e.hidden_size, a.hidden_size, es, as), st);
  chain(Agree("attention heads", e.num_heads, a.num_heads, es, as), st);
  chain(Agree("head dim", e.head_dim, a.head_dim, es, as), st);
  chain(Agree("layer pattern", e.Pattern(), a.Pattern(), es, as), st);
  chain(Agree("hcs filter groups", e.hcs_filter_groups, a.hcs_filter_groups, es, as), st);
  chain(Agree("hcm filter groups", e.hcm_filter_groups, a.hcm_filter_groups, es, as), st);
  chain(Agree("rotary position scaling", e.rotary_position_scale, a.rotary_position_scale, es, as),
        st);
  chain(Agree("vocab size", e.vocab_size, a.vocab_size, es, as), st);
  // The MLP width is not compared: it is read from the tensors (docs/spec/model.md §2, padded MLP).
  return st;
}

}  // namespace evo2
