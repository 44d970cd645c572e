// How a DeviceGroup (cuda/device_communicator.h) is cut into sub-groups, shared by its
// implementations: global rank r = tp_rank + TP·cp_rank; the TP sub-group of cp_rank c holds
// global ranks c·TP + t (its rank t), the CP sub-group of tp_rank t holds t + TP·c (its rank c).
#pragma once

#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "cuda/device_communicator.h"
#include "evo2/status_macros.h"

namespace evo2::cuda {

using DeviceCommunicators = std::vector<std::unique_ptr<DeviceCommunicator>>;

// Makes the communicators of one sub-group whose ranks are `global_ranks` (element i becomes
// sub-group rank i).
using MakeSubGroup = std::function<absl::StatusOr<DeviceCommunicators>(std::span<const int>)>;

inline absl::StatusOr<DeviceGroup> AssembleDeviceGroup(int tp, int cp,
                                                       const MakeSubGroup& make_sub_group) {
  if (tp < 1 || cp < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("a device group needs TP ≥ 1 and CP ≥ 1, got TP=", tp, " CP=", cp));
  }
  DeviceGroup group;
  group.tp_size = tp;
  group.cp_size = cp;
  group.tp.resize(static_cast<size_t>(tp * cp));
  group.cp.resize(static_cast<size_t>(tp * cp));
  std::vector<int> ranks;
  for (int c = 0; c < cp; ++c) {
    ranks.clear();
    for (int t = 0; t < tp; ++t) ranks.push_back(t + tp * c);
    ASSIGN_OR_RETURN(DeviceCommunicators comms, make_sub_group(ranks));
    if (comms.size() != ranks.size()) return absl::InternalError("sub-group of the wrong size");
    for (int t = 0; t < tp; ++t) group.tp[static_cast<size_t>(ranks[t])] = std::move(comms[t]);
  }
  for (int t = 0; t < tp; ++t) {
    ranks.clear();
    for (int c = 0; c < cp; ++c) ranks.push_back(t + tp * c);
    ASSIGN_OR_RETURN(DeviceCommunicators comms, make_sub_group(ranks));
    if (comms.size() != ranks.size()) return absl::InternalError("sub-group of the wrong size");
    for (int c = 0; c < cp; ++c) group.cp[static_cast<size_t>(ranks[c])] = std::move(comms[c]);
  }
  return group;
}

}  // namespace evo2::cuda
