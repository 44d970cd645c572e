#include "io/fp8_linear_names.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace evo2::io {
namespace {

// "<prefix><index>.<rest>" -> (index, rest), or index -1.
std::pair<int, absl::string_view> SplitIndex(absl::string_view name, absl::string_view prefix) {
  if (!absl::StartsWith(name, prefix)) return {-1, {}};
  name.remove_prefix(prefix.size());
  const size_t dot = name.find('.');
  int index = -1;
  if (dot == absl::string_view::npos || !absl::SimpleAtoi(name.substr(0, dot), &index) || index < 0)
    return {-1, {}};
  return {index, name.substr(dot + 1)};
}

}  // namespace

bool IsFp8LinearModule(absl::string_view vortex_module) {
  const auto [block, rest] = SplitIndex(vortex_module, "blocks.");
  if (block < 0) return false;
  for (absl::string_view linear : {"projections", "out_filter_dense", "inner_mha_cls.Wqkv",
                                   "inner_mha_cls.out_proj", "mlp.l1", "mlp.l2", "mlp.l3"}) {
    if (rest == linear) return true;
  }
  return false;
}

std::vector<std::string> VortexModulesOfNemoLinear(absl::string_view nemo_module) {
  const auto [layer, rest] = SplitIndex(nemo_module, "decoder.layers.");
  if (layer < 0) return {};
  const std::string b = absl::StrCat("blocks.", layer, ".");
  if (rest == "mixer.dense_projection") return {b + "projections"};
  if (rest == "mixer.dense") return {b + "out_filter_dense"};
  if (rest == "self_attention.linear_qkv") return {b + "inner_mha_cls.Wqkv"};
  if (rest == "self_attention.linear_proj") return {b + "inner_mha_cls.out_proj"};
  if (rest == "mlp.linear_fc1") return {b + "mlp.l1", b + "mlp.l2"};
  if (rest == "mlp.linear_fc2") return {b + "mlp.l3"};
  return {};
}

const StoredFp8Scales* FindStoredFp8Scales(const std::map<std::string, StoredFp8Scales>& stored,
                                           size_t block, absl::string_view linear) {
  auto it = stored.find(absl::StrCat("blocks.", block, ".", linear));
  return it == stored.end() ? nullptr : &it->second;
}

absl::StatusOr<const StoredFp8Scales*> StoredFp8ScalesOfMlpL12(
    const std::map<std::string, StoredFp8Scales>& stored, size_t block) {
  const StoredFp8Scales* l1 = FindStoredFp8Scales(stored, block, "mlp.l1");
  const StoredFp8Scales* l2 = FindStoredFp8Scales(stored, block, "mlp.l2");
  if ((l1 == nullptr) != (l2 == nullptr) || (l1 != nullptr && !(*l1 == *l2))) {
    auto describe = [](const StoredFp8Scales* s) {
      return s == nullptr ? std::string("none")
                          : absl::StrCat("input ", s->input, ", weight ", s->weight);
    };
    return absl::InvalidArgumentError(absl::StrCat(
        "blocks.", block, ".mlp.l1 and .mlp.l2 carry different stored FP8 scales (", describe(l1),
        " vs ", describe(l2),
        "); the engine runs them as one GEMM (NeMo's linear_fc1) with one input and one weight "
        "scale; load without stored FP8 scales to use current scaling"));
  }
  return l1;
}

}  // namespace evo2::io
