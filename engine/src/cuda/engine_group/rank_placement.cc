#include "cuda/engine_group/rank_placement.h"

#include "absl/strings/str_cat.h"

namespace evo2::cuda {

std::string GroupPlacement::ToString() const {
  const size_t n = device.size();
  if (one_gpu) return absl::StrCat(n, n == 1 ? " rank" : " ranks", " on GPU 0 (in-process)");
  return absl::StrCat(n, n == 1 ? " rank on GPU 0" : absl::StrCat(" ranks on GPUs 0-", n - 1),
                      " (NCCL)");
}

absl::StatusOr<GroupPlacement> PlaceGroup(const parallel::GroupLayout& layout, int gpus,
                                          std::optional<std::string_view> group_env) {
  const int ranks = layout.devices();
  if (group_env.has_value() && !group_env->empty() && *group_env != "one-gpu")
    return absl::InvalidArgumentError(
        absl::StrCat("EVO2_CUDA_GROUP=", std::string(*group_env), ": the only value is one-gpu"));
  if (gpus < 1)
    return absl::FailedPreconditionError("device 'cuda' requested but no CUDA GPU is present");
  GroupPlacement p;
  p.one_gpu = group_env.has_value() && *group_env == "one-gpu";
  if (!p.one_gpu && gpus < ranks)
    return absl::FailedPreconditionError(
        absl::StrCat("TP×CP×DP = ", ranks, " ranks need ", ranks, " GPUs, found ", gpus,
                     "; EVO2_CUDA_GROUP=one-gpu runs them all on GPU 0 for checking"));
  for (int i = 0; i < ranks; ++i) p.device.push_back(p.one_gpu ? 0 : i);
  return p;
}

}  // namespace evo2::cuda
