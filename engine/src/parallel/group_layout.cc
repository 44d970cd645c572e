#include "parallel/group_layout.h"

#include <numeric>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace evo2::parallel {

std::string GroupLayout::ToString() const {
  return absl::StrCat("TP=", tp, " x CP=", cp, " x DP=", dp, " (", devices(), " rank",
                      devices() == 1 ? "" : "s", ")");
}

absl::StatusOr<GroupLayout> MakeGroupLayout(const ModelConfig& c, int tp, int cp, int devices,
                                            int max_devices) {
  if (tp < 1 || cp < 1 || devices < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor/context-parallel sizes must be >= 1 and devices >= 0 (got TP=", tp,
                     ", CP=", cp, ", devices=", devices, ")"));
  }
  GroupLayout g{.tp = tp, .cp = cp, .dp = 1};
  if (devices != 0) {
    if (devices % (tp * cp) != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("devices = ", devices, " is not a multiple of TP x CP = ", tp * cp));
    }
    g.dp = devices / (tp * cp);
  }
  if (g.devices() > max_devices) {
    return absl::InvalidArgumentError(absl::StrCat(
        g.ToString(), " needs ", g.devices(), " devices; at most ", max_devices, " are available"));
  }
  // Every dimension TP splits, with its name (predict-cli.md §3.4).
  std::vector<std::pair<const char*, int64_t>> dims = {
      {"hidden channels", c.hidden_size},
      {"MLP width", c.inner_mlp_size},
      {"vocabulary", c.vocab_size},
  };
  bool has_attention = false, has_hcs = false, has_hcm = false;
  for (BlockKind k : c.block_kinds) {
    has_attention |= k == BlockKind::kAttn;
    has_hcs |= k == BlockKind::kHcs;
    has_hcm |= k == BlockKind::kHcm;
  }
  if (has_attention) {
    dims.emplace_back("attention heads", c.num_heads);
    dims.emplace_back("KV heads", c.num_heads);  // no grouped-query attention in Evo 2 (§8)
  }
  if (has_hcs) dims.emplace_back("hcs filter groups", c.hcs_filter_groups);
  if (has_hcm) dims.emplace_back("hcm filter groups", c.hcm_filter_groups);
  int64_t all = 0;
  for (const auto& [name, n] : dims) all = std::gcd(all, n);
  for (const auto& [name, n] : dims) {
    if (n % tp == 0) continue;
    std::vector<int64_t> allowed;
    for (int64_t t = 1; t <= all && t <= max_devices; ++t) {
      if (all % t == 0) allowed.push_back(t);
    }
    return absl::InvalidArgumentError(absl::StrCat(
        "tensor-parallel size ", tp, " does not divide the ", n, " ", name, " of ", c.name,
        " (TP must divide the hidden channels, MLP width, vocabulary, heads, KV heads and filter "
        "groups; possible here: ",
        absl::StrJoin(allowed, ", "), ")"));
  }
  return g;
}

}  // namespace evo2::parallel
